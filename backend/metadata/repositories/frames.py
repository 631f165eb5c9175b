"""Stored frames and the detections the vehicle's model reported for them."""

from __future__ import annotations

import builtins
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import exists, func, select
from sqlalchemy.orm import Session, selectinload

from backend.metadata.models import Detection, Frame
from backend.metadata.models.annotation import TaskFrame
from backend.metadata.records import DetectionRecord, FrameFilter, FrameRecord, utc

#: the most rows one list call returns, whatever the caller asks
MAX_PAGE = 1000


@dataclass(frozen=True)
class CaptureFact:
    """What the operations figures read of a stored frame: when it arrived, from which vehicle
    and model, the rules that fired on the vehicle, and its frame score in [0, 1] (None when the
    vehicle sent none)."""

    id: str
    received_at: datetime
    vehicle: str
    model_version: str
    rules_fired: tuple[str, ...]
    score: float | None


def _record(row: Frame) -> FrameRecord:
    return FrameRecord(
        id=row.id,
        vehicle=row.vehicle,
        captured_at_ns=row.captured_at_ns,
        received_at=utc(row.received_at),
        pose=dict(row.pose),
        sensor_name=row.sensor_name,
        sensor_beams=row.sensor_beams,
        sensor_max_range_m=row.sensor_max_range_m,
        model_version=row.model_version,
        frame_scores=dict(row.frame_scores),
        rules_fired=list(row.rules_fired),
        priority=row.priority,
        blob_key=row.blob_key,
        payload_size=row.payload_size,
        num_points=row.num_points,
        encoding=row.encoding,
        quantization_step_m=row.quantization_step_m,
        detections=[
            DetectionRecord(
                class_name=d.class_name,
                confidence=d.confidence,
                box=(d.x, d.y, d.z, d.l, d.w, d.h, d.yaw),
                num_points=d.num_points,
                scores=dict(d.scores),
            )
            for d in row.detections
        ],
    )


def _row(record: FrameRecord) -> Frame:
    return Frame(
        id=record.id,
        vehicle=record.vehicle,
        captured_at_ns=record.captured_at_ns,
        received_at=record.received_at,
        pose=record.pose,
        sensor_name=record.sensor_name,
        sensor_beams=record.sensor_beams,
        sensor_max_range_m=record.sensor_max_range_m,
        model_version=record.model_version,
        frame_scores=record.frame_scores,
        rules_fired=record.rules_fired,
        priority=record.priority,
        blob_key=record.blob_key,
        payload_size=record.payload_size,
        num_points=record.num_points,
        encoding=record.encoding,
        quantization_step_m=record.quantization_step_m,
        detections=[
            Detection(
                index=i,
                class_name=d.class_name,
                confidence=d.confidence,
                x=d.box[0],
                y=d.box[1],
                z=d.box[2],
                l=d.box[3],
                w=d.box[4],
                h=d.box[5],
                yaw=d.box[6],
                num_points=d.num_points,
                scores=d.scores,
            )
            for i, d in enumerate(record.detections)
        ],
    )


class FrameRepository:
    """Frames in one unit of work."""

    def __init__(self, session: Session) -> None:
        self._session = session

    def exists(self, frame_id: str) -> bool:
        """Whether a frame with this id is stored."""
        return bool(self._session.scalar(select(exists().where(Frame.id == frame_id))))

    def payload_size(self, frame_id: str) -> int | None:
        """The payload size of a stored frame, or None if it is not stored."""
        size = self._session.scalar(select(Frame.payload_size).where(Frame.id == frame_id))
        return None if size is None else int(size)

    def add(self, record: FrameRecord) -> bool:
        """Insert a frame and its detections; False (nothing written) if the id is stored.

        Two writers racing on the same id both pass the check; the loser's commit raises
        ``IntegrityError``, which the caller turns into "already stored" (see the ingest service).
        """
        if self._session.get(Frame, record.id) is not None:
            return False
        self._session.add(_row(record))
        return True

    def get(self, frame_id: str) -> FrameRecord | None:
        """The frame with its detections, or None."""
        stmt = select(Frame).where(Frame.id == frame_id).options(selectinload(Frame.detections))
        row = self._session.scalars(stmt).first()
        return None if row is None else _record(row)

    def get_many(self, frame_ids: Sequence[str]) -> dict[str, FrameRecord]:
        """The stored frames among ``frame_ids``, by id."""
        found: dict[str, FrameRecord] = {}
        for start in range(0, len(frame_ids), 500):
            stmt = (
                select(Frame)
                .where(Frame.id.in_(frame_ids[start : start + 500]))
                .options(selectinload(Frame.detections))
            )
            found.update((r.id, _record(r)) for r in self._session.scalars(stmt))
        return found

    def list(
        self, filters: FrameFilter, *, limit: int = 100, offset: int = 0
    ) -> tuple[list[FrameRecord], int]:
        """One page of frames matching ``filters`` (highest priority, then newest first) and the
        total number of matches."""
        limit = max(0, min(limit, MAX_PAGE))
        conditions = []
        if filters.vehicle is not None:
            conditions.append(Frame.vehicle == filters.vehicle)
        if filters.captured_from_ns is not None:
            conditions.append(Frame.captured_at_ns >= filters.captured_from_ns)
        if filters.captured_to_ns is not None:
            conditions.append(Frame.captured_at_ns < filters.captured_to_ns)
        if filters.min_priority is not None:
            conditions.append(Frame.priority >= filters.min_priority)
        if filters.sensor_name is not None:
            conditions.append(Frame.sensor_name == filters.sensor_name)
        if filters.model_version is not None:
            conditions.append(Frame.model_version == filters.model_version)
        if filters.class_name is not None:
            conditions.append(
                exists().where(
                    Detection.frame_id == Frame.id, Detection.class_name == filters.class_name
                )
            )
        order = (Frame.priority.desc(), Frame.captured_at_ns.desc(), Frame.id)
        stmt = select(Frame).where(*conditions)
        rows: Sequence[Frame]
        if filters.rule is not None:
            # JSON containment differs between SQLite and PostgreSQL; rule lists are short,
            # so filter in Python over the matching rows and page afterwards.
            all_rows = self._session.scalars(
                stmt.order_by(*order).options(selectinload(Frame.detections))
            ).all()
            matching = [r for r in all_rows if filters.rule in r.rules_fired]
            return [_record(r) for r in matching[offset : offset + limit]], len(matching)
        total = int(self._session.scalar(select(func.count()).select_from(stmt.subquery())) or 0)
        rows = self._session.scalars(
            stmt.order_by(*order)
            .limit(limit)
            .offset(offset)
            .options(selectinload(Frame.detections))
        ).all()
        return [_record(r) for r in rows], total

    def unlabelled(self, *, limit: int) -> tuple[FrameRecord, ...]:
        """Up to ``limit`` of the newest frames that no task holds (no person will label them:
        the weak-supervision pool), sorted by vehicle, then capture time."""
        held = exists().where(TaskFrame.frame_id == Frame.id)
        rows = self._session.scalars(
            select(Frame)
            .where(~held)
            .order_by(Frame.captured_at_ns.desc(), Frame.id)
            .limit(max(0, limit))
            .options(selectinload(Frame.detections))
        ).all()
        records = (_record(r) for r in rows)
        return tuple(sorted(records, key=lambda r: (r.vehicle, r.captured_at_ns, r.id)))

    def known_blob_keys(self, keys: Iterable[str]) -> set[str]:
        """The subset of ``keys`` that some frame row references (for the orphan sweep)."""
        wanted = list(keys)
        found: set[str] = set()
        for start in range(0, len(wanted), 500):
            batch = wanted[start : start + 500]
            found.update(
                self._session.scalars(select(Frame.blob_key).where(Frame.blob_key.in_(batch)))
            )
        return found

    def capture_facts(self, limit: int = 200_000) -> builtins.list[CaptureFact]:
        """The newest ``limit`` frames' :class:`CaptureFact`, oldest first (columns only: no
        detections are loaded)."""
        stmt = (
            select(
                Frame.id,
                Frame.received_at,
                Frame.vehicle,
                Frame.model_version,
                Frame.rules_fired,
                Frame.frame_scores,
            )
            .order_by(Frame.received_at.desc(), Frame.id)
            .limit(limit)
        )
        facts = []
        for frame_id, received_at, vehicle, model_version, rules, scores in self._session.execute(
            stmt
        ):
            score = scores.get("score") if isinstance(scores, dict) else None
            facts.append(
                CaptureFact(
                    frame_id,
                    utc(received_at),
                    vehicle,
                    model_version,
                    tuple(rules),
                    None if score is None else float(score),
                )
            )
        return facts[::-1]

    def count(self) -> int:
        """How many frames are stored."""
        return int(self._session.scalar(select(func.count()).select_from(Frame)) or 0)
