"""``/frames``: what the fleet uploaded, with the vehicle model's detections."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Query

from backend.api.deps import DbDep, require
from backend.api.schemas.frames import FrameDetail, FramePage, FrameSummary
from backend.auth.roles import Permission
from backend.metadata.records import FrameFilter
from backend.metadata.repositories.frames import MAX_PAGE

router = APIRouter(
    prefix="/frames", tags=["frames"], dependencies=[Depends(require(Permission.READ_FRAMES))]
)

#: timestamps are signed 64-bit nanoseconds in the database; larger values are refused as 422
NS_MAX = 2**63 - 1


@router.get("", response_model=FramePage)
def list_frames(
    db: DbDep,
    vehicle: str | None = None,
    captured_from_ns: Annotated[int | None, Query(ge=-NS_MAX, le=NS_MAX)] = None,
    captured_to_ns: Annotated[int | None, Query(ge=-NS_MAX, le=NS_MAX)] = None,
    min_priority: Annotated[float | None, Query(allow_inf_nan=False)] = None,
    sensor: str | None = None,
    model_version: str | None = None,
    rule: Annotated[str | None, Query(description="frames where this trigger rule fired")] = None,
    class_name: Annotated[
        str | None, Query(description="frames with a detection of this class")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 100,
    offset: Annotated[int, Query(ge=0, le=NS_MAX)] = 0,
) -> FramePage:
    """Frames matching every given filter, highest priority then newest first."""
    filters = FrameFilter(
        vehicle=vehicle,
        captured_from_ns=captured_from_ns,
        captured_to_ns=captured_to_ns,
        min_priority=min_priority,
        sensor_name=sensor,
        model_version=model_version,
        rule=rule,
        class_name=class_name,
    )
    with db.transaction("list frames") as uow:
        records, total = uow.frames.list(filters, limit=limit, offset=offset)
    return FramePage(
        items=[FrameSummary.of(r) for r in records], total=total, limit=limit, offset=offset
    )


@router.get("/{frame_id}", response_model=FrameDetail)
def get_frame(frame_id: str, db: DbDep) -> FrameDetail:
    """One frame with its detections; 404 if it is not stored."""
    with db.transaction(f"read frame {frame_id}") as uow:
        record = uow.frames.get(frame_id)
    if record is None:
        raise HTTPException(status_code=404, detail=f"no frame with id {frame_id!r}")
    return FrameDetail.of(record)
