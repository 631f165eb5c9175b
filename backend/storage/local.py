"""A blob store in a local directory: the embedded default.

Layout: ``ROOT/ab/cd/<quoted key>`` where ``abcd…`` is the SHA-256 of the key, so no directory
holds more than a few thousand files at fleet scale whatever the key shape, and the key is
recoverable from the file name for listing. Writes go through a temp file, fsync and rename
(:func:`core.formats.atomic.atomic_write_bytes`), so a crash leaves the old object or the new
one, never half of one; stray temp files (``.*.tmp``) are ignored by ``list``.
"""

from __future__ import annotations

import hashlib
import logging
import os
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import quote, unquote

from backend.errors import StorageError
from backend.storage.base import BlobInfo, BlobNotFoundError, BlobStore, check_key
from core.formats.atomic import atomic_write_bytes, fsync_directory

log = logging.getLogger(__name__)


class LocalBlobStore(BlobStore):
    """Objects as files under ``root`` (created if missing)."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        try:
            self.root.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StorageError(f"cannot create blob directory {self.root}: {exc}") from exc

    def _path(self, key: str) -> Path:
        digest = hashlib.sha256(check_key(key).encode()).hexdigest()
        return self.root / digest[:2] / digest[2:4] / quote(key, safe="")

    def put(self, key: str, data: bytes) -> None:
        path = self._path(key)
        try:
            atomic_write_bytes(path, data, durable=True)
        except OSError as exc:
            # Disk full, read-only mount, permissions, I/O error: the object was not written
            # (atomic_write_bytes removed its temp file); the caller may retry later.
            raise StorageError(
                f"cannot write blob {key!r} ({len(data)} bytes) to {path}: {exc}", retryable=True
            ) from exc

    def get(self, key: str) -> bytes:
        path = self._path(key)
        try:
            return path.read_bytes()
        except FileNotFoundError:
            raise BlobNotFoundError(f"no blob under key {key!r} in {self.root}") from None
        except OSError as exc:
            raise StorageError(
                f"cannot read blob {key!r} from {path}: {exc}", retryable=True
            ) from exc

    def exists(self, key: str) -> bool:
        return self._path(key).is_file()

    def delete(self, key: str) -> None:
        path = self._path(key)
        try:
            path.unlink(missing_ok=True)
            fsync_directory(path.parent)
        except FileNotFoundError:
            return  # the shard directory never existed: nothing to delete
        except OSError as exc:
            raise StorageError(
                f"cannot delete blob {key!r} at {path}: {exc}", retryable=True
            ) from exc

    def list(self, prefix: str = "") -> Iterator[BlobInfo]:
        for first in sorted(self.root.iterdir()) if self.root.is_dir() else []:
            if not first.is_dir():
                continue
            for second in sorted(first.iterdir()):
                if not second.is_dir():
                    continue
                for entry in os.scandir(second):
                    if entry.name.startswith(".") or not entry.is_file():
                        continue  # temp files of in-flight or crashed writes
                    key = unquote(entry.name)
                    if key.startswith(prefix):
                        stat = entry.stat()
                        yield BlobInfo(
                            key=key,
                            size=stat.st_size,
                            modified=datetime.fromtimestamp(stat.st_mtime, UTC),
                        )

    def describe(self) -> str:
        return f"local:{self.root}"
