"""The staging area: partial uploads on local disk, keyed by vehicle and frame id.

Why local disk and not the blob store: S3 has no append, and a multipart upload needs 5 MiB
parts, larger than many chunks; a frame is a few MB, so keeping its prefix in a local file and
putting the whole, verified payload into the blob store in one atomic put is simpler and makes
the blob store hold only verified frames. At scale an ingest replica keeps its own staging; a
client that resumes on another replica is told a smaller committed offset and re-sends more
bytes, which is correct, only slower (sticky load balancing by vehicle avoids it).

Layout: ``ROOT/<quoted vehicle>/<frame id>.part``. Data is fsynced when a stream ends and a new
file's directory entry when it is created, so the committed offset acknowledged to the client
survives a crash of the server and a power loss (tests/backend/storage/test_crash_points.py);
bytes written after it may come back as zeros after a power loss -- the SHA-256 check at the
end of the upload catches them, the staging file is discarded and the client sends again.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import time
from pathlib import Path
from types import TracebackType
from typing import BinaryIO
from urllib.parse import quote

from backend.errors import StorageError
from core.formats.atomic import ensure_directory, fsync_directory

log = logging.getLogger(__name__)

_FRAME_ID_RE = re.compile(r"^[0-9a-f]{64}$")


class StagingWriter:
    """Appends one stream's chunks to a staging file; fsyncs and closes on exit."""

    def __init__(self, handle: BinaryIO, path: Path, position: int) -> None:
        self._handle = handle
        self.path = path
        self.position = position

    def write(self, data: bytes) -> None:
        """Append ``data`` at the current position."""
        try:
            self._handle.write(data)
        except OSError as exc:
            raise StorageError(
                f"cannot stage {len(data)} bytes at offset {self.position} in {self.path}: {exc}",
                retryable=True,
            ) from exc
        self.position += len(data)

    def close(self) -> None:
        """Flush and fsync what was written, so the committed offset is honest after a crash."""
        try:
            self._handle.flush()
            os.fsync(self._handle.fileno())
        except OSError as exc:
            raise StorageError(
                f"cannot flush staging file {self.path}: {exc}", retryable=True
            ) from exc
        finally:
            # close() flushes again and raises the same error if the flush above failed (a full
            # disk); it releases the descriptor regardless, and the StorageError says it all
            with contextlib.suppress(OSError):
                self._handle.close()

    def __enter__(self) -> StagingWriter:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc is None:
            self.close()
            return
        # the block failed (a write, or the client went away): what arrived is still flushed,
        # and a failing flush must not hide the block's own error, which names the offset
        with contextlib.suppress(StorageError):
            self.close()


class StagingArea:
    """Partial payloads under ``root``; one file per (vehicle, frame id)."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        try:
            self.root.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StorageError(f"cannot create staging directory {self.root}: {exc}") from exc

    def path(self, vehicle: str, frame_id: str) -> Path:
        """The staging file of one upload (which may not exist)."""
        if not _FRAME_ID_RE.match(frame_id):
            raise StorageError(f"invalid frame id {frame_id!r} for staging: want 64 hex digits")
        if not vehicle:
            raise StorageError("staging needs a vehicle name, got an empty one")
        return self.root / quote(vehicle, safe="") / f"{frame_id}.part"

    def committed(self, vehicle: str, frame_id: str) -> int:
        """Bytes of this frame already staged for this vehicle (0 if none)."""
        try:
            return self.path(vehicle, frame_id).stat().st_size
        except FileNotFoundError:
            return 0
        except OSError as exc:
            raise StorageError(
                f"cannot stat staging for {frame_id}: {exc}", retryable=True
            ) from exc

    def open_writer(self, vehicle: str, frame_id: str, offset: int) -> StagingWriter:
        """A writer that continues the staged payload at ``offset``.

        ``offset`` may be below the committed size (the client re-sends bytes; the file is cut
        there) but not above it: a gap would leave bytes nobody sent.
        """
        path = self.path(vehicle, frame_id)
        committed = self.committed(vehicle, frame_id)
        if offset > committed:
            raise StorageError(
                f"offset {offset} for frame {frame_id} is past the {committed} staged bytes"
            )
        try:
            exists = path.exists()
            if not exists:
                ensure_directory(path.parent)
            handle = path.open("r+b" if exists else "wb")
            if not exists:
                # the new file's name must survive power loss like its data (fsynced on close),
                # or the committed offset acknowledged to the client could fall back to 0
                fsync_directory(path.parent)
            handle.truncate(offset)
            handle.seek(offset)
        except OSError as exc:
            raise StorageError(f"cannot open staging file {path}: {exc}", retryable=True) from exc
        return StagingWriter(handle, path, offset)

    def read(self, vehicle: str, frame_id: str) -> bytes:
        """The whole staged payload."""
        path = self.path(vehicle, frame_id)
        try:
            return path.read_bytes()
        except OSError as exc:
            raise StorageError(f"cannot read staging file {path}: {exc}", retryable=True) from exc

    def discard(self, vehicle: str, frame_id: str) -> None:
        """Forget a staged payload (after it is stored, or when it proved corrupt)."""
        path = self.path(vehicle, frame_id)
        try:
            path.unlink(missing_ok=True)
        except OSError as exc:
            log.warning("could not remove staging file %s: %s", path, exc)

    def sweep(self, max_age_s: float, now: float | None = None) -> int:
        """Remove staging files untouched for ``max_age_s`` seconds (abandoned uploads)."""
        cutoff = (time.time() if now is None else now) - max_age_s
        removed = 0
        for path in self.root.glob("*/*.part"):
            try:
                if path.stat().st_mtime < cutoff:
                    path.unlink()
                    removed += 1
            except FileNotFoundError:
                continue
        if removed:
            log.info("removed %d abandoned staging files older than %.0f s", removed, max_age_s)
        return removed
