"""Blob stores for frame payloads: a local directory (default), S3 or any S3-compatible store,
and an in-memory fake, all behind :class:`BlobStore`; plus the on-disk staging area for
partial uploads."""
