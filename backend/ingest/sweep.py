"""Remove orphan blobs: payloads in the blob store that no frame row references.

They appear when the server dies between the durable blob put and the metadata commit (the
order that guarantees no row without its blob). The client was never acknowledged, so it
uploads again later; the orphan is only a waste of space. ``grace_s`` spares blobs younger than
an upload in flight might be, so a sweep can run beside a live server.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from backend.ingest.service import blob_key_for
from backend.metadata.unit_of_work import Database
from backend.storage.base import BlobStore

log = logging.getLogger(__name__)

FRAMES_PREFIX = blob_key_for("")  # "frames/"


@dataclass(frozen=True)
class SweepReport:
    """What a sweep looked at and removed."""

    checked: int
    removed: list[str]


def sweep_orphans(
    blobs: BlobStore,
    db: Database,
    *,
    grace_s: float,
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    batch: int = 500,
) -> SweepReport:
    """Delete frame blobs older than ``grace_s`` that no frame row references."""
    cutoff = clock() - timedelta(seconds=grace_s)
    checked = 0
    removed: list[str] = []
    pending: list[str] = []

    def flush() -> None:
        with db.transaction("check blob keys") as uow:
            known = uow.frames.known_blob_keys(pending)
        for key in pending:
            if key not in known:
                blobs.delete(key)
                removed.append(key)
                log.warning("removed orphan blob %s from %s (no frame row)", key, blobs.describe())
        pending.clear()

    for info in blobs.list(FRAMES_PREFIX):
        checked += 1
        if info.modified <= cutoff:
            pending.append(info.key)
            if len(pending) >= batch:
                flush()
    flush()
    log.info("sweep checked %d blobs, removed %d orphans", checked, len(removed))
    return SweepReport(checked=checked, removed=removed)
