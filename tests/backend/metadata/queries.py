"""One-line reads of the metadata database for assertions in tests."""

from __future__ import annotations

from backend.metadata.records import FrameFilter, FrameRecord
from backend.metadata.unit_of_work import Database


def count_frames(db: Database) -> int:
    """How many frames are stored."""
    with db.transaction("count frames") as uow:
        return uow.frames.count()


def get_frame(db: Database, frame_id: str) -> FrameRecord | None:
    """The stored frame, or None."""
    with db.transaction("read frame") as uow:
        return uow.frames.get(frame_id)


def all_frames(db: Database) -> list[FrameRecord]:
    """Every stored frame (up to a page of 1000)."""
    with db.transaction("list frames") as uow:
        return uow.frames.list(FrameFilter(), limit=1000)[0]
