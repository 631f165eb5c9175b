"""An in-memory blob store: the fake used in unit tests; same contract as the real stores."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, datetime

from backend.storage.base import BlobInfo, BlobNotFoundError, BlobStore, check_key


class InMemoryBlobStore(BlobStore):
    """Objects in a dict guarded by a lock; nothing survives the process."""

    def __init__(self) -> None:
        self._objects: dict[str, tuple[bytes, datetime]] = {}
        self._lock = threading.Lock()

    def put(self, key: str, data: bytes) -> None:
        check_key(key)
        with self._lock:
            self._objects[key] = (bytes(data), datetime.now(UTC))

    def get(self, key: str) -> bytes:
        check_key(key)
        with self._lock:
            found = self._objects.get(key)
        if found is None:
            raise BlobNotFoundError(f"no blob under key {key!r} in memory store")
        return found[0]

    def exists(self, key: str) -> bool:
        check_key(key)
        with self._lock:
            return key in self._objects

    def delete(self, key: str) -> None:
        check_key(key)
        with self._lock:
            self._objects.pop(key, None)

    def list(self, prefix: str = "") -> Iterator[BlobInfo]:
        with self._lock:
            items = [(k, v) for k, v in self._objects.items() if k.startswith(prefix)]
        for key, (data, modified) in items:
            yield BlobInfo(key=key, size=len(data), modified=modified)

    def describe(self) -> str:
        return "memory"
