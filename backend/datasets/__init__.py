"""The datasets stage: accepted labels out as immutable versions and exports, existing labels in.

=================  ==========================================================================
module             what it does
=================  ==========================================================================
``manifest``       the canonical manifest of a version and its SHA-256 (pure)
``snapshot``       the accepted tasks a build takes, with labels and provenance (one read)
``versions``       building a version (blobs first, row last) and reading it back, checked
``exports``        one module per format (KITTI, nuScenes, OpenLABEL, SemanticKITTI), zipped
``uploads``        label files in (zip or JSON): KITTI label_2 + calib, SUSTechPOINTS label
``imports``        imported boxes mapped to the ontology, as gold tasks or as pre-labels
=================  ==========================================================================

Errors are ``backend.errors``: InvalidInputError for bad filters and uploads (naming the field,
file or object), NotFoundError for an unknown version, StorageError for a missing or damaged
blob. Conventions of every format: ``docs/formats.md``.
"""
