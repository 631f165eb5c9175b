"""Annotation: pre-labelled tasks, routing, review and the quality control of labels (``qa``)."""
