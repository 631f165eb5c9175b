"""Active learning's rows: the champion's score of each pending task's key frame and the place
the order gave the task (``backend.annotation.rescoring``).

A *pending* task waits for its first annotator: stage ``annotate``, no assignment of any state
(nobody has opened it), and neither gold, calibration nor a tier-1 spot check (those keep the
placement their own rules give them). A task *in progress* is at ``annotate`` with an
assignment; its priority is never changed here.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.orm import Session
from sqlalchemy.sql.expression import Exists

from backend.metadata.models.annotation import Assignment, Task, TaskScore
from backend.metadata.records import utc


@dataclass(frozen=True)
class PendingTask:
    """A task waiting for its first annotator, its key frame and its queue priority now."""

    task_id: int
    key_frame_id: str
    priority: float


@dataclass(frozen=True)
class FrameScore:
    """What the champion made of a task's key frame (``backend.annotation.active``):
    ``uncertainty`` in the units of ``score_name``, ``kind`` the predicted class of its most
    uncertain candidate, ``embedding`` that candidate's unit embedding as float32 bytes (None
    without one)."""

    task_id: int
    frame_id: str
    model_version: str
    score_name: str
    scored_at: datetime
    candidates: int
    uncertainty: float
    kind: str
    embedding: bytes | None


@dataclass(frozen=True)
class Placement:
    """Where the order put a pending task, with the terms it was placed with
    (``backend.annotation.active.ActiveOrder``) and the queue priority it got."""

    task_id: int
    queue_rank: int
    queue_batch: int
    uncertainty_norm: float
    distance: float | None
    diversity: float
    same_kind: int
    value: float
    priority: float


@dataclass(frozen=True)
class TaskScoreRecord:
    """A stored score, the builder's priority of the task, and its latest placement (None
    before the first order)."""

    score: FrameScore
    builder_priority: float
    ordered_at: datetime | None
    placement: Placement | None


def _record(row: TaskScore) -> TaskScoreRecord:
    score = FrameScore(
        task_id=row.task_id,
        frame_id=row.frame_id,
        model_version=row.model_version,
        score_name=row.score_name,
        scored_at=utc(row.scored_at),
        candidates=row.candidates,
        uncertainty=row.uncertainty,
        kind=row.kind,
        embedding=row.embedding,
    )
    placement = None
    if row.queue_rank is not None:
        placement = Placement(
            task_id=row.task_id,
            queue_rank=row.queue_rank,
            queue_batch=row.queue_batch or 0,
            uncertainty_norm=row.uncertainty_norm or 0.0,
            distance=row.distance,
            diversity=row.diversity or 0.0,
            same_kind=row.same_kind or 0,
            value=row.value or 0.0,
            priority=row.priority if row.priority is not None else 0.0,
        )
    return TaskScoreRecord(
        score=score,
        builder_priority=row.builder_priority,
        ordered_at=None if row.ordered_at is None else utc(row.ordered_at),
        placement=placement,
    )


def _opened() -> Exists:
    """SQL: the task has an assignment of any state."""
    return select(Assignment.id).where(Assignment.task_id == Task.id).exists()


class TaskScoreRepository:
    """Task scores and queue placements in one unit of work."""

    def __init__(self, session: Session) -> None:
        self._session = session

    def pending(self) -> list[PendingTask]:
        """Every pending task (module docstring), oldest first."""
        stmt = (
            select(Task.id, Task.key_frame_id, Task.priority)
            .where(
                Task.stage == "annotate",
                Task.is_gold.is_(False),
                Task.is_calibration.is_(False),
                Task.spot_check.is_(False),
                ~_opened(),
            )
            .order_by(Task.id)
        )
        return [PendingTask(int(i), str(f), float(p)) for i, f, p in self._session.execute(stmt)]

    def in_progress(self) -> list[int]:
        """Ids of the ordinary tasks at ``annotate`` someone has opened, oldest first."""
        stmt = (
            select(Task.id)
            .where(Task.stage == "annotate", Task.is_gold.is_(False), _opened())
            .order_by(Task.id)
        )
        return [int(i) for i in self._session.scalars(stmt)]

    def of_tasks(self, task_ids: Iterable[int]) -> dict[int, TaskScoreRecord]:
        """The stored scores of ``task_ids`` (those that have one)."""
        ids = sorted(set(task_ids))
        out: dict[int, TaskScoreRecord] = {}
        for start in range(0, len(ids), 500):  # bound the IN list
            chunk = ids[start : start + 500]
            for row in self._session.scalars(select(TaskScore).where(TaskScore.task_id.in_(chunk))):
                out[row.task_id] = _record(row)
        return out

    def save(self, score: FrameScore, builder_priority: float) -> None:
        """Store ``score`` for its task, replacing an earlier one; ``builder_priority`` is kept
        from the first score of the task (the priority before any order changed it)."""
        row = self._session.get(TaskScore, score.task_id)
        if row is None:
            row = TaskScore(task_id=score.task_id, builder_priority=builder_priority)
            self._session.add(row)
        row.frame_id = score.frame_id
        row.model_version = score.model_version
        row.score_name = score.score_name
        row.scored_at = score.scored_at
        row.candidates = score.candidates
        row.uncertainty = score.uncertainty
        row.kind = score.kind
        row.embedding = score.embedding

    def place(self, placement: Placement, now: datetime) -> bool:
        """Give a still-pending task its place: its queue priority and the terms stored beside
        its score. False (nothing changed) when it is no longer pending or has no score."""
        row = self._session.get(TaskScore, placement.task_id)
        if row is None:
            return False
        moved = self._session.execute(
            update(Task)
            .where(
                Task.id == placement.task_id,
                Task.stage == "annotate",
                Task.is_gold.is_(False),
                Task.is_calibration.is_(False),
                Task.spot_check.is_(False),
                ~_opened(),
            )
            .values(priority=placement.priority)
            .execution_options(synchronize_session=False)
        )
        if getattr(moved, "rowcount", 0) != 1:
            return False
        row.ordered_at = now
        row.queue_rank = placement.queue_rank
        row.queue_batch = placement.queue_batch
        row.uncertainty_norm = placement.uncertainty_norm
        row.distance = placement.distance
        row.diversity = placement.diversity
        row.same_kind = placement.same_kind
        row.value = placement.value
        row.priority = placement.priority
        return True
