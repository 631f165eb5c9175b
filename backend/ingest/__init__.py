"""The gRPC ingest service of ``proto/longtail/v1/ingest.proto``: authenticated, resumable,
idempotent frame uploads; see :mod:`backend.ingest.service` and :mod:`backend.ingest.server`."""
