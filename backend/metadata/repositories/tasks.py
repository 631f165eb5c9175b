"""Annotation tasks, their frames, the triage of stored frames and the routing decisions."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import and_, func, select
from sqlalchemy.orm import Session

from backend.errors import NotFoundError
from backend.metadata.models.annotation import (
    LabelRevision,
    LabelSet,
    RoutingDecision,
    Task,
    TaskFrame,
    Triage,
)
from backend.metadata.models.fleet import Frame
from backend.metadata.records import utc


@dataclass(frozen=True)
class TaskRecord:
    """A task and the ids of its frames in capture order."""

    id: int
    created_at: datetime
    updated_at: datetime
    vehicle: str
    key_frame_id: str
    frame_ids: tuple[str, ...]
    ontology_version: int
    stage: str
    tier: int
    overlap: int
    round: int
    rejections: int
    priority: float
    spot_check: bool
    is_gold: bool
    is_calibration: bool
    gold_label_set_id: int | None
    accepted_label_set_id: int | None
    accepted_at: datetime | None
    agreement: float | None


@dataclass(frozen=True)
class NewTask:
    """What creating a task needs."""

    vehicle: str
    key_frame_id: str
    frame_ids: tuple[str, ...]
    ontology_version: int
    stage: str
    tier: int
    overlap: int
    priority: float
    spot_check: bool = False
    is_gold: bool = False
    is_calibration: bool = False


@dataclass(frozen=True)
class RoutingRecord:
    """Why a task went to its tier."""

    task_id: int
    rule: str
    tier: int
    overlap: int
    spot_check: bool
    signals: dict[str, float] = field(default_factory=dict)


def _record(row: Task, frame_ids: Sequence[str]) -> TaskRecord:
    return TaskRecord(
        id=row.id,
        created_at=utc(row.created_at),
        updated_at=utc(row.updated_at),
        vehicle=row.vehicle,
        key_frame_id=row.key_frame_id,
        frame_ids=tuple(frame_ids),
        ontology_version=row.ontology_version,
        stage=row.stage,
        tier=row.tier,
        overlap=row.overlap,
        round=row.round,
        rejections=row.rejections,
        priority=row.priority,
        spot_check=row.spot_check,
        is_gold=row.is_gold,
        is_calibration=row.is_calibration,
        gold_label_set_id=row.gold_label_set_id,
        accepted_label_set_id=row.accepted_label_set_id,
        accepted_at=None if row.accepted_at is None else utc(row.accepted_at),
        agreement=row.agreement,
    )


class TaskRepository:
    """Tasks in one unit of work."""

    def __init__(self, session: Session) -> None:
        self._session = session

    # -- tasks -------------------------------------------------------------------------------

    def add(self, new: NewTask, now: datetime) -> TaskRecord:
        """Create a task with its frames (in the order given)."""
        row = Task(
            created_at=now,
            updated_at=now,
            vehicle=new.vehicle,
            key_frame_id=new.key_frame_id,
            ontology_version=new.ontology_version,
            stage=new.stage,
            tier=new.tier,
            overlap=new.overlap,
            round=0,
            rejections=0,
            priority=new.priority,
            spot_check=new.spot_check,
            is_gold=new.is_gold,
            is_calibration=new.is_calibration,
        )
        self._session.add(row)
        self._session.flush()  # the id
        for position, frame_id in enumerate(new.frame_ids):
            self._session.add(TaskFrame(task_id=row.id, position=position, frame_id=frame_id))
        return _record(row, new.frame_ids)

    def _frame_ids(self, task_id: int) -> list[str]:
        return list(
            self._session.scalars(
                select(TaskFrame.frame_id)
                .where(TaskFrame.task_id == task_id)
                .order_by(TaskFrame.position)
            )
        )

    def get(self, task_id: int, *, for_update: bool = False) -> TaskRecord | None:
        """The task; ``for_update`` locks its row until the unit of work ends (PostgreSQL)."""
        stmt = select(Task).where(Task.id == task_id)
        if for_update:
            stmt = stmt.with_for_update()
        row = self._session.scalars(stmt).first()
        return None if row is None else _record(row, self._frame_ids(row.id))

    def require(self, task_id: int, *, for_update: bool = False) -> TaskRecord:
        found = self.get(task_id, for_update=for_update)
        if found is None:
            raise NotFoundError(f"no task with id {task_id}")
        return found

    def update(self, task_id: int, now: datetime, **values: Any) -> TaskRecord:
        """Set columns of a task (stage, round, rejections, accepted_*, gold_label_set_id...)."""
        row = self._session.get(Task, task_id)
        if row is None:
            raise NotFoundError(f"no task with id {task_id}")
        for key, value in values.items():
            if not hasattr(Task, key) or key in {"id", "created_at"}:
                raise AttributeError(f"task has no settable column {key!r}")
            setattr(row, key, value)
        row.updated_at = now
        return _record(row, self._frame_ids(task_id))

    def candidates(
        self,
        stage: str,
        *,
        gold: bool | None = None,
        calibration: bool | None = None,
        limit: int = 50,
        skip_locked: bool = False,
    ) -> list[TaskRecord]:
        """Tasks waiting in ``stage``, most urgent (highest priority, then oldest) first.

        ``skip_locked`` (PostgreSQL): lock the rows returned and skip rows another transaction
        holds, so concurrent callers are handed different tasks without waiting."""
        stmt = select(Task).where(Task.stage == stage)
        if gold is not None:
            stmt = stmt.where(Task.is_gold == gold)
        if calibration is not None:
            stmt = stmt.where(Task.is_calibration == calibration)
        stmt = stmt.order_by(Task.priority.desc(), Task.id).limit(limit)
        if skip_locked:
            stmt = stmt.with_for_update(skip_locked=True)
        return [_record(r, self._frame_ids(r.id)) for r in self._session.scalars(stmt).all()]

    def candidates_by_id(self, task_id: int, stage: str) -> TaskRecord | None:
        """Lock task ``task_id`` if it is still in ``stage`` and no other transaction holds it
        (``FOR UPDATE SKIP LOCKED``); None otherwise."""
        stmt = (
            select(Task)
            .where(Task.id == task_id, Task.stage == stage)
            .with_for_update(skip_locked=True)
        )
        row = self._session.scalars(stmt).first()
        return None if row is None else _record(row, self._frame_ids(row.id))

    def page(
        self,
        *,
        stage: str | None = None,
        tier: int | None = None,
        gold: bool | None = None,
        limit: int = 100,
        offset: int = 0,
    ) -> tuple[list[TaskRecord], int]:
        """A page of tasks (newest first) and the total matching."""
        conditions = []
        if stage is not None:
            conditions.append(Task.stage == stage)
        if tier is not None:
            conditions.append(Task.tier == tier)
        if gold is not None:
            conditions.append(Task.is_gold == gold)
        stmt = select(Task).where(*conditions)
        total = int(self._session.scalar(select(func.count()).select_from(stmt.subquery())) or 0)
        rows = self._session.scalars(stmt.order_by(Task.id.desc()).limit(limit).offset(offset))
        return [_record(r, self._frame_ids(r.id)) for r in rows.all()], total

    def all(self) -> list[TaskRecord]:
        """Every task, oldest first (reports over a whole deployment's history)."""
        rows = self._session.scalars(select(Task).order_by(Task.id)).all()
        frames: dict[int, list[str]] = {}
        for tf in self._session.scalars(select(TaskFrame).order_by(TaskFrame.position)):
            frames.setdefault(tf.task_id, []).append(tf.frame_id)
        return [_record(r, frames.get(r.id, [])) for r in rows]

    def recent_agreement(self, last: int = 20) -> float | None:
        """Mean agreement of the ``last`` overlap tasks that reached consensus (None before any)."""
        values = list(
            self._session.scalars(
                select(Task.agreement)
                .where(Task.agreement.is_not(None))
                .order_by(Task.updated_at.desc())
                .limit(last)
            )
        )
        finite = [float(v) for v in values if v is not None]
        return sum(finite) / len(finite) if finite else None

    def count_by_stage(self) -> dict[str, int]:
        rows = self._session.execute(select(Task.stage, func.count()).group_by(Task.stage))
        return {stage: int(n) for stage, n in rows}

    def tasks_of_frame(self, frame_id: str) -> list[int]:
        return list(
            self._session.scalars(select(TaskFrame.task_id).where(TaskFrame.frame_id == frame_id))
        )

    # -- triage ------------------------------------------------------------------------------

    def untriaged_frames(self, received_before: datetime, limit: int = 1000) -> list[str]:
        """Ids of stored frames the task builder has not decided on, received before a time."""
        stmt = (
            select(Frame.id)
            .outerjoin(Triage, Triage.frame_id == Frame.id)
            .where(and_(Triage.frame_id.is_(None), Frame.received_at < received_before))
            .order_by(Frame.vehicle, Frame.captured_at_ns)
            .limit(limit)
        )
        return list(self._session.scalars(stmt))

    def untriaged_near(self, vehicle: str, captured_from_ns: int, captured_to_ns: int) -> list[str]:
        """Untriaged frames of ``vehicle`` captured within the window (both ends included)."""
        stmt = (
            select(Frame.id)
            .outerjoin(Triage, Triage.frame_id == Frame.id)
            .where(
                Triage.frame_id.is_(None),
                Frame.vehicle == vehicle,
                Frame.captured_at_ns >= captured_from_ns,
                Frame.captured_at_ns <= captured_to_ns,
            )
            .order_by(Frame.captured_at_ns)
        )
        return list(self._session.scalars(stmt))

    def triage(
        self, frame_id: str, decision: str, reason: str, now: datetime, task_id: int | None = None
    ) -> None:
        """Record the builder's decision on a frame (once per frame: the primary key)."""
        self._session.add(
            Triage(frame_id=frame_id, decision=decision, task_id=task_id, reason=reason, at=now)
        )

    def triage_counts(self) -> dict[str, int]:
        rows = self._session.execute(
            select(Triage.decision, func.count()).group_by(Triage.decision)
        )
        return {decision: int(n) for decision, n in rows}

    # -- routing -----------------------------------------------------------------------------

    def add_routing(self, record: RoutingRecord, now: datetime) -> None:
        self._session.add(
            RoutingDecision(
                task_id=record.task_id,
                rule=record.rule,
                tier=record.tier,
                overlap=record.overlap,
                spot_check=record.spot_check,
                signals=record.signals,
                at=now,
            )
        )

    def routing(self, task_id: int) -> RoutingRecord | None:
        row = self._session.get(RoutingDecision, task_id)
        if row is None:
            return None
        return RoutingRecord(
            row.task_id, row.rule, row.tier, row.overlap, row.spot_check, dict(row.signals)
        )

    def routing_counts(self) -> dict[str, int]:
        rows = self._session.execute(
            select(RoutingDecision.rule, func.count()).group_by(RoutingDecision.rule)
        )
        return {rule: int(n) for rule, n in rows}

    def accepted_class_counts(
        self, since: datetime | None
    ) -> tuple[dict[str, int], dict[str, int]]:
        """Accepted boxes per class: of the tasks accepted at or after ``since`` (all of them
        when None), and of every accepted task. The tasks a dataset version takes: accepted,
        not gold, the current revision of their accepted label set."""
        rows = self._session.execute(
            select(Task.accepted_at, LabelRevision.boxes)
            .join(LabelSet, LabelSet.id == Task.accepted_label_set_id)
            .join(
                LabelRevision,
                and_(
                    LabelRevision.label_set_id == LabelSet.id,
                    LabelRevision.version == LabelSet.version,
                ),
            )
            .where(Task.stage == "accepted", Task.is_gold.is_(False))
        )
        new: dict[str, int] = {}
        total: dict[str, int] = {}
        for accepted_at, stored in rows:
            fresh = since is None or (accepted_at is not None and utc(accepted_at) >= since)
            for box in (stored or {}).get("boxes", ()):  # stored as {"boxes": [...]}
                name = str(box.get("class_name", ""))
                total[name] = total.get(name, 0) + 1
                if fresh:
                    new[name] = new.get(name, 0) + 1
        return new, total
