"""Weak supervision: labels for the frames people never see, made by labelling functions and
combined by a label model, measured against gold, extending training sets (never the suite).

=================  ==========================================================================
module             what it does
=================  ==========================================================================
``functions``      the labelling functions: champion, track, geometry (pure numpy)
``observe``        the vehicle runtime and tracker over a drive's frames (no I/O)
``label_model``    the votes combined by Dawid-Skene (``backend.annotation.aggregation``)
``accuracy``       gold classes of candidates; precision, recall, coverage with intervals
``labeller``       a drive's weak labels, the boxes each frame gets, the report (pure)
``store``          weakly-labelled drives on disk, marked weak; their points digests
``source``         a weakly-labelled drive as a training source
``drive``          weak labels for drive directories (``longtail weak label``)
``pool``           weak labels for the unlabelled pool frames of a retraining turn
``cli``            ``longtail weak …``
=================  ==========================================================================

Errors are ``backend.errors.TrainingError`` (``EvaluationError`` for gold that cannot be
compared). Off by default in the loop: ``[training] weak_supervision``.
"""
