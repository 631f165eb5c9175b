"""Response models of the active-learning queue (``/tasks/queue/priorities``).

Units: ``uncertainty`` in the units of the score named by ``setting`` (nats for BALD
``mutual_info`` and ``entropy``); ``distance`` a cosine distance in [0, 2]; every other term
dimensionless (``backend.annotation.active``)."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field

from backend.annotation.rescoring import QueueEntry, QueueView, RescoreReport


class RescoreOut(BaseModel):
    """One re-scoring run: the champion it scored with, pending tasks, frames scored (the
    unreadable ones stored without candidates), tasks placed, wall seconds."""

    trigger: str = Field(description="periodic, request or call")
    actor: str
    model_version: str | None
    started_at: datetime
    finished_at: datetime
    pending: int
    scored: int
    unreadable: int
    placed: int
    seconds: float
    error: str | None

    @classmethod
    def of(cls, r: RescoreReport) -> RescoreOut:
        return cls(**r.__dict__)


class QueueItemOut(BaseModel):
    """A pending task in queue order, with the terms of its place (None before its first
    score or order)."""

    task_id: int
    key_frame_id: str
    priority: float = Field(description="the queue priority now (higher first)")
    builder_priority: float | None = Field(description="the priority the task builder gave")
    current: bool = Field(description="scored by the current champion with the current setting")
    model_version: str | None
    scored_at: datetime | None
    candidates: int | None
    uncertainty: float | None = Field(description="of the frame's most uncertain candidate")
    kind: str | None = Field(description="that candidate's predicted class")
    ordered_at: datetime | None
    rank: int | None = Field(description="position in the latest order (0 = first)")
    batch: int | None
    uncertainty_norm: float | None
    distance: float | None = Field(description="cosine distance to the nearest earlier frame")
    diversity: float | None
    same_kind: int | None = Field(description="frames of its kind earlier in its batch")
    value: float | None

    @classmethod
    def of(cls, e: QueueEntry) -> QueueItemOut:
        s, p = e.score, (e.score.placement if e.score is not None else None)
        return cls(
            task_id=e.task.task_id,
            key_frame_id=e.task.key_frame_id,
            priority=e.task.priority,
            builder_priority=None if s is None else s.builder_priority,
            current=e.current,
            model_version=None if s is None else s.score.model_version,
            scored_at=None if s is None else s.score.scored_at,
            candidates=None if s is None else s.score.candidates,
            uncertainty=None if s is None else s.score.uncertainty,
            kind=None if s is None else s.score.kind,
            ordered_at=None if s is None else s.ordered_at,
            rank=None if p is None else p.queue_rank,
            batch=None if p is None else p.queue_batch,
            uncertainty_norm=None if p is None else p.uncertainty_norm,
            distance=None if p is None else p.distance,
            diversity=None if p is None else p.diversity,
            same_kind=None if p is None else p.same_kind,
            value=None if p is None else p.value,
        )


class WeightsOut(BaseModel):
    uncertainty: float
    diversity: float
    kind_balance: float
    max_kind_share: float
    batch_size: int


class QueuePrioritiesOut(BaseModel):
    """The pending tasks (waiting for their first annotator; not gold, calibration or spot
    checks) in queue order, the champion, the score setting and the latest run here."""

    champion: str | None
    setting: str = Field(description="score/candidates, e.g. mutual_info/foreground")
    weights: WeightsOut
    running: bool
    last_run: RescoreOut | None
    total: int
    items: list[QueueItemOut]

    @classmethod
    def of(cls, view: QueueView, limit: int) -> QueuePrioritiesOut:
        w = view.weights
        return cls(
            champion=view.champion,
            setting=view.setting,
            weights=WeightsOut(
                uncertainty=w.uncertainty,
                diversity=w.diversity,
                kind_balance=w.kind_balance,
                max_kind_share=w.max_kind_share,
                batch_size=w.batch_size,
            ),
            running=view.running,
            last_run=None if view.last is None else RescoreOut.of(view.last),
            total=len(view.entries),
            items=[QueueItemOut.of(e) for e in view.entries[:limit]],
        )
