"""Records for spool tests."""

from __future__ import annotations

import os

from agent.spool.record import SpoolRecord, frame_id_of
from longtail.v1 import frame_pb2


def make_record(priority: float = 1.0, size: int = 1000, seed: int | None = None) -> SpoolRecord:
    """A record with a random payload of ``size`` bytes (or a deterministic one from ``seed``)."""
    payload = os.urandom(size) if seed is None else seed.to_bytes(8, "little") * (size // 8)
    meta = frame_pb2.FrameMetadata(
        frame_id=frame_id_of(payload),
        vehicle_id="car-1",
        timestamp_ns=1_700_000_000_000_000_000,
        priority=priority,
        payload_size=len(payload),
        rules_fired=["hot"],
    )
    return SpoolRecord(meta, payload)
