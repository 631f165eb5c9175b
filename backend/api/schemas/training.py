"""Request and response models of ``/training`` (the retraining trigger and its turns)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from backend.api.schemas.release import PRINTABLE
from backend.metadata.repositories.training_runs import TrainingRunRecord
from backend.training.scheduler import TriggerStatus
from backend.training.triggers import RuleCheck


class RetrainIn(BaseModel):
    """Ask for a retraining turn now, and why."""

    model_config = ConfigDict(extra="forbid")

    note: str = Field(default="", max_length=500, pattern=PRINTABLE)


class TrainingRunOut(BaseModel):
    """A retraining turn: what started it and why, its lease, the accepted labels it learnt
    from, and what it produced (model version, gate verdict) or why it failed."""

    id: int
    trigger: str = Field(description="auto, requested or cli")
    actor: str
    reasons: list[str]
    state: str = Field(description="running, finished, failed or abandoned")
    holder: str = Field(description="host:pid of the process that ran it")
    started_at: datetime
    lease_expires_at: datetime
    finished_at: datetime | None
    labels_cutoff: datetime | None = Field(description="it learnt the labels accepted before")
    new_labels: dict[str, int] = Field(description="accepted boxes per class new to this turn")
    model_version: str | None
    verdict_id: int | None
    gate_passed: bool | None
    summary: dict[str, Any] | None
    error: str | None

    @classmethod
    def of(cls, r: TrainingRunRecord) -> TrainingRunOut:
        fields = dict(r.__dict__)
        fields["reasons"] = list(r.reasons)
        return cls(**fields)


class PolicyOut(BaseModel):
    """The trigger's thresholds (null: the rule is off)."""

    min_new_labels: int | None
    slice_share: float | None
    slice_min_new: int
    interval_s: float | None


class RuleCheckOut(BaseModel):
    """One rule on the counts now."""

    rule: str = Field(description="min_new_labels, slice_share or schedule")
    slice: str | None = Field(description="the class a slice_share check is about")
    value: float = Field(description="new labels; a class's share of new; s past due")
    threshold: float
    fires: bool
    reason: str

    @classmethod
    def of(cls, c: RuleCheck) -> RuleCheckOut:
        return cls(**c.__dict__)


class TriggerStatusOut(BaseModel):
    """The retraining trigger now: accepted boxes per class since the last turn's cutoff and
    in all, each rule on them, whether a turn is due and why, and what blocks one."""

    at: datetime
    auto_trigger: bool
    policy: PolicyOut
    since: datetime | None = Field(description="the last turn's cutoff (null: no turn yet)")
    new_labels: dict[str, int]
    total_labels: dict[str, int]
    new_total: int
    due: bool
    reasons: list[str] = Field(description="the rules that fire now")
    checks: list[RuleCheckOut]
    next_due: datetime | None = Field(description="when the schedule is next due")
    blocked: str | None = Field(description="why no turn can start now (null: one can)")
    running: TrainingRunOut | None
    last_run: TrainingRunOut | None

    @classmethod
    def of(cls, s: TriggerStatus) -> TriggerStatusOut:
        p = s.policy
        return cls(
            at=s.at,
            auto_trigger=s.auto,
            policy=PolicyOut(
                min_new_labels=p.min_new_labels,
                slice_share=p.slice_share,
                slice_min_new=p.slice_min_new,
                interval_s=None if p.interval is None else p.interval.total_seconds(),
            ),
            since=s.since,
            new_labels=dict(s.stats.new),
            total_labels=dict(s.stats.total),
            new_total=s.stats.new_count(),
            due=s.decision.due,
            reasons=list(s.decision.reasons),
            checks=[RuleCheckOut.of(c) for c in s.decision.checks],
            next_due=s.decision.next_due,
            blocked=s.blocked,
            running=None if s.running is None else TrainingRunOut.of(s.running),
            last_run=None if s.last_run is None else TrainingRunOut.of(s.last_run),
        )
