"""The blob store interface: a flat namespace of ``/``-separated keys holding immutable bytes.

Every implementation gives the same guarantees, checked by one contract test suite:

* ``put`` is atomic: a reader sees no object or the whole object, never part of one;
* a put that returns has made the object durable (fsync for files, a 200 from S3);
* an outage raises :class:`~backend.errors.StorageError` with ``retryable=True``; a missing key
  raises :class:`BlobNotFoundError` (not retryable).
"""

from __future__ import annotations

import abc
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime

from backend.errors import StorageError

#: keys are relative paths of safe characters; no "..", no leading "/", no empty segments
_KEY_RE = re.compile(r"^[A-Za-z0-9._-]+(/[A-Za-z0-9._-]+)*$")


class BlobNotFoundError(StorageError):
    """The key names no object in the store."""


@dataclass(frozen=True)
class BlobInfo:
    """One listed object: its key, size in bytes and last modification time (UTC)."""

    key: str
    size: int
    modified: datetime


def check_key(key: str) -> str:
    """Return ``key`` if it is a valid blob key, else raise StorageError naming it."""
    if not _KEY_RE.match(key) or any(part in {".", ".."} for part in key.split("/")):
        raise StorageError(
            f"invalid blob key {key!r}: use [A-Za-z0-9._-] segments separated by '/'"
        )
    return key


class BlobStore(abc.ABC):
    """Immutable byte objects by key; see the module docstring for the guarantees."""

    @abc.abstractmethod
    def put(self, key: str, data: bytes) -> None:
        """Store ``data`` under ``key`` atomically and durably, replacing any previous object."""

    @abc.abstractmethod
    def get(self, key: str) -> bytes:
        """Return the bytes under ``key``; BlobNotFoundError if there are none."""

    @abc.abstractmethod
    def exists(self, key: str) -> bool:
        """Whether an object is stored under ``key``."""

    @abc.abstractmethod
    def delete(self, key: str) -> None:
        """Remove ``key``; removing a missing key is not an error (deletes are idempotent)."""

    @abc.abstractmethod
    def list(self, prefix: str = "") -> Iterator[BlobInfo]:
        """Every object whose key starts with ``prefix``, in no particular order."""

    def describe(self) -> str:
        """A one-line description for logs (never includes credentials)."""
        return type(self).__name__
