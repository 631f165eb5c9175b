"""The fleet's recent frames, summarised for the gate's drift check (``backend.evaluation.drift``).

The suite's drift is measured against what the vehicles see now. What they upload is chosen for
being unusual, so all uploads together are a biased picture of the road; the frames the
``random_sample`` rule kept (``agent.selection.rules.SAMPLE_RULE``: a fixed share of frames,
kept whatever else fired) are the unbiased part of it, and only those are read here: the newest
``limit`` of them, each decoded and summarised by ``frame_statistics``. A frame whose payload is
missing or does not decode is left out with a warning (the drift is then over fewer frames, and
the report says how many).
"""

from __future__ import annotations

import logging

from agent.selection.rules import SAMPLE_RULE
from backend.evaluation.drift import frame_statistics
from backend.metadata.unit_of_work import Database
from backend.storage.base import BlobNotFoundError, BlobStore
from core.errors import FormatError
from core.formats.codec import decode_frame

log = logging.getLogger(__name__)

#: monitoring-sample frames read per drift check (the KS distance's resolution is ~1/limit)
MONITORING_FRAMES = 200
#: stored frames scanned for them, newest first (columns only, no payloads)
SCAN_FRAMES = 50_000


def monitoring_statistics(
    db: Database, blobs: BlobStore, *, limit: int = MONITORING_FRAMES
) -> list[dict[str, float]]:
    """``frame_statistics`` of the newest ``limit`` frames of the random monitoring sample."""
    with db.transaction("find the fleet's monitoring sample") as uow:
        facts = uow.frames.capture_facts(SCAN_FRAMES)  # oldest first
        sampled = [f.id for f in reversed(facts) if SAMPLE_RULE in f.rules_fired][:limit]
        keys = {
            frame_id: record.blob_key
            for frame_id in sampled
            if (record := uow.frames.get(frame_id)) is not None
        }
    out = []
    for frame_id, key in keys.items():
        try:
            points = decode_frame(blobs.get(key), source=f"frame {frame_id}")
        except (BlobNotFoundError, FormatError) as exc:
            log.warning("drift: monitoring frame %s left out: %s", frame_id, exc)
            continue
        out.append(frame_statistics(points))
    return out
