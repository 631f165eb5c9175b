"""The durable, bounded, priority-ordered spool of selected frames.

Layout under ``root``::

    frames/<frame_id>.ltf        one record per frame (``agent.spool.record``)
    frames/.<name>.*.tmp         a write in progress (atomic_write_bytes); deleted on open
    quarantine/<name>            corrupt or permanently refused files, with a ``.reason`` text

Crash safety: a record appears under its final name only through rename after fsync, and the
directories, names and removals are fsynced too, so after kill -9 or power loss every ``.ltf``
file is complete, a ``put`` that returned is there and an acked frame is not;
``tests/agent/spool/test_spool_crash_points.py`` checks it at every call boundary. ``open``
deletes temp files, verifies every record and quarantines the bad ones. A frame leaves the spool
only through ``ack`` (the backend confirmed durable storage), ``quarantine``, or eviction by a
higher-priority frame when the spool is full — never while it is checked out for upload.

Thread-safe: the spool writer puts, the uploader checks out, acks and releases.
"""

from __future__ import annotations

import logging
import os
import threading
from dataclasses import dataclass, field
from pathlib import Path

from agent.errors import SpoolError
from agent.spool.record import (
    SUFFIX,
    CorruptRecordError,
    SpoolRecord,
    decode_record,
    encode_record,
)
from core.formats.atomic import atomic_write_bytes, ensure_directory, fsync_directory

log = logging.getLogger(__name__)

FRAMES_DIR = "frames"
QUARANTINE_DIR = "quarantine"


@dataclass
class _Entry:
    frame_id: str
    priority: float
    size: int  # bytes on disk
    seq: int  # insertion order: older first among equal priorities
    stored_at_s: float  # wall-clock seconds when spooled (upload lag)


@dataclass(frozen=True)
class PutResult:
    """Outcome of ``put``: ``stored`` or not (with ``reason``), and the frame ids evicted for it.

    ``reason`` is ``"duplicate"`` (already spooled: not an error), ``"full"`` (every frame left is
    more important or checked out) or ``"disk: ..."`` (the write failed, e.g. ENOSPC).
    """

    stored: bool
    evicted: tuple[str, ...] = ()
    reason: str = ""


@dataclass(frozen=True)
class RecoveryReport:
    """What ``Spool.open`` found: frames recovered, temp files removed, files quarantined."""

    recovered: int
    temp_files_removed: int
    quarantined: tuple[str, ...] = field(default_factory=tuple)


class Spool:
    """Use ``Spool.open``; ``max_bytes`` bounds the bytes of all records on disk."""

    def __init__(self, root: Path, max_bytes: int, *, durable: bool = True) -> None:
        if max_bytes <= 0:
            raise SpoolError(f"spool max_bytes must be > 0, got {max_bytes}")
        self.root = root
        self.max_bytes = max_bytes
        self.durable = durable
        self.frames_dir = root / FRAMES_DIR
        self.quarantine_dir = root / QUARANTINE_DIR
        self._lock = threading.Lock()
        self._entries: dict[str, _Entry] = {}
        self._in_flight: set[str] = set()
        self._seq = 0
        self._bytes = 0
        self.evicted_total = 0
        self.quarantined_total = 0
        self.recovery = RecoveryReport(0, 0)

    @classmethod
    def open(cls, root: Path, max_bytes: int, *, durable: bool = True) -> Spool:
        """Create or recover a spool at ``root`` (see the module docstring)."""
        spool = cls(root, max_bytes, durable=durable)
        try:
            for directory in (spool.frames_dir, spool.quarantine_dir):
                if durable:
                    ensure_directory(directory)  # else a power loss can take every frame with it
                else:
                    directory.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise SpoolError(f"spool.dir {root}: cannot create: {exc.strerror}") from exc
        spool.recovery = spool._recover()
        return spool

    def _recover(self) -> RecoveryReport:
        temps = 0
        quarantined: list[str] = []
        files = []
        for path in self.frames_dir.iterdir():
            if path.name.startswith(".") and path.name.endswith(".tmp"):
                # an interrupted write: the frame was never committed
                try:
                    path.unlink(missing_ok=True)
                    temps += 1
                except OSError as exc:  # read-only disk: harmless, it is never read
                    log.warning("spool cannot remove temp file %s: %s", path, exc)
            elif path.suffix == SUFFIX:
                files.append(path)
        files.sort(key=lambda p: (p.stat().st_mtime_ns, p.name))
        for path in files:
            try:
                record = decode_record(path.read_bytes(), str(path))
                if path.stem != record.frame_id:
                    raise CorruptRecordError(f"{path}: file name does not match frame id")
            except (CorruptRecordError, OSError) as exc:
                self._move_to_quarantine(path, str(exc))
                quarantined.append(path.name)
                continue
            self._add_entry(record.frame_id, record.priority, path.stat().st_size, path)
        if temps and self.durable:
            fsync_directory(self.frames_dir)
        report = RecoveryReport(len(self._entries), temps, tuple(quarantined))
        log.info(
            "spool recovered frames=%d bytes=%d temp_removed=%d quarantined=%d",
            report.recovered,
            self._bytes,
            temps,
            len(quarantined),
        )
        return report

    def _add_entry(self, frame_id: str, priority: float, size: int, path: Path) -> None:
        self._seq += 1
        stored_at = path.stat().st_mtime if path.exists() else 0.0
        self._entries[frame_id] = _Entry(frame_id, priority, size, self._seq, stored_at)
        self._bytes += size

    def _path(self, frame_id: str) -> Path:
        return self.frames_dir / f"{frame_id}{SUFFIX}"

    # --- writer side -------------------------------------------------------------------------

    def put(self, record: SpoolRecord) -> PutResult:
        """Store ``record`` durably, evicting lower-priority frames if the spool is full."""
        data = encode_record(record)
        size = len(data)
        with self._lock:
            if record.frame_id in self._entries:
                return PutResult(False, reason="duplicate")
            victims = self._choose_victims(size, record.priority)
            if victims is None:
                self.evicted_total += 1
                log.warning(
                    "spool full: dropped incoming frame_id=%s priority=%.3f size=%d",
                    record.frame_id,
                    record.priority,
                    size,
                )
                return PutResult(False, reason="full")
            for victim in victims:
                self._remove(victim)
                self.evicted_total += 1
                log.warning("spool full: evicted frame_id=%s", victim)
            try:
                atomic_write_bytes(self._path(record.frame_id), data, durable=self.durable)
            except OSError as exc:
                log.error("spool write failed frame_id=%s: %s", record.frame_id, exc)
                return PutResult(False, tuple(victims), reason=f"disk: {exc.strerror or exc}")
            self._add_entry(record.frame_id, record.priority, size, self._path(record.frame_id))
            return PutResult(True, tuple(victims))

    def _choose_victims(self, size: int, priority: float) -> list[str] | None:
        """Frames to evict so ``size`` more bytes fit; None if the incoming frame must go."""
        if size > self.max_bytes:
            return None
        need = self._bytes + size - self.max_bytes
        if need <= 0:
            return []
        candidates = sorted(
            (e for e in self._entries.values() if e.frame_id not in self._in_flight),
            key=lambda e: (e.priority, e.seq),
        )
        victims: list[str] = []
        for entry in candidates:
            if need <= 0:
                break
            if entry.priority >= priority:
                return None  # everything left outranks (or ties) the newcomer: keep them
            victims.append(entry.frame_id)
            need -= entry.size
        return victims if need <= 0 else None

    def _remove(self, frame_id: str) -> bool:
        """Drop the frame from the index and delete its file; False (logged) if the file could
        not be deleted (read-only or failing disk): it comes back on the next ``open``, which is
        safe -- uploads are idempotent -- and this process does not send it again."""
        entry = self._entries.pop(frame_id)
        self._bytes -= entry.size
        try:
            self._path(frame_id).unlink(missing_ok=True)
            if self.durable:
                fsync_directory(self.frames_dir)
        except OSError as exc:
            log.error("spool cannot delete frame_id=%s: %s", frame_id, exc)
            return False
        return True

    # --- uploader side -----------------------------------------------------------------------

    def checkout(self) -> SpoolRecord | None:
        """The highest-priority (then oldest) frame not already checked out, marked in flight;
        None when there is none. A file that fails verification is quarantined and skipped."""
        while True:
            with self._lock:
                free = [e for e in self._entries.values() if e.frame_id not in self._in_flight]
                if not free:
                    return None
                entry = min(free, key=lambda e: (-e.priority, e.seq))
                self._in_flight.add(entry.frame_id)
            path = self._path(entry.frame_id)
            try:
                return decode_record(path.read_bytes(), str(path))
            except (CorruptRecordError, OSError) as exc:
                self.quarantine(entry.frame_id, str(exc))

    def release(self, frame_id: str) -> None:
        """Return a checked-out frame (upload failed transiently; try again later)."""
        with self._lock:
            self._in_flight.discard(frame_id)

    def ack(self, frame_id: str) -> bool:
        """The backend stored the frame durably: delete it from the spool. False if its file
        could not be deleted (see ``_remove``); the frame leaves the spool's index either way."""
        with self._lock:
            self._in_flight.discard(frame_id)
            return frame_id not in self._entries or self._remove(frame_id)

    def quarantine(self, frame_id: str, reason: str) -> None:
        """Move a frame aside with its reason (corrupt, or refused permanently by the backend)."""
        with self._lock:
            self._in_flight.discard(frame_id)
            entry = self._entries.pop(frame_id, None)
            if entry is not None:
                self._bytes -= entry.size
            path = self._path(frame_id)
            if path.exists():
                self._move_to_quarantine(path, reason)

    def _move_to_quarantine(self, path: Path, reason: str) -> None:
        target = self.quarantine_dir / path.name
        try:
            # the reason first, so a quarantined file always has one; the destination directory
            # is synced before the source, so a power loss in between leaves the file in both
            # places (re-quarantined on open), never in neither
            reason_path = self.quarantine_dir / f"{path.name}.reason"
            atomic_write_bytes(reason_path, (reason + "\n").encode(), durable=self.durable)
            os.replace(path, target)
            if self.durable:
                fsync_directory(self.quarantine_dir)
                fsync_directory(self.frames_dir)
        except OSError as exc:
            # cannot move it aside: delete rather than retrying a poisoned file forever (it is
            # out of the index either way; on a read-only disk it stays until the next open)
            log.error("cannot quarantine %s (%s); deleting it", path, exc)
            try:
                path.unlink(missing_ok=True)
            except OSError as again:
                log.error("cannot delete %s either: %s", path, again)
        self.quarantined_total += 1
        log.error("spool quarantined file=%s reason=%s", path.name, reason)

    # --- introspection -----------------------------------------------------------------------

    def frame_ids(self) -> set[str]:
        with self._lock:
            return set(self._entries)

    @property
    def frames(self) -> int:
        with self._lock:
            return len(self._entries)

    @property
    def bytes(self) -> int:
        with self._lock:
            return self._bytes

    def oldest_stored_at(self) -> float | None:
        """Wall-clock seconds at which the oldest waiting frame was spooled (upload lag)."""
        with self._lock:
            return min((e.stored_at_s for e in self._entries.values()), default=None)
