"""Retraining runs (``models.training``): start one under the one-running-row lease, renew and
end it, mark runs whose lease ran out as abandoned, and read the history."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from backend.errors import NotFoundError
from backend.metadata.models.training import TrainingRunRow
from backend.metadata.records import utc

RUNNING = "running"
FINISHED = "finished"  #: the turn reached the gate's verdict (passed or not)
FAILED = "failed"  #: a stage raised; nothing past it happened
ABANDONED = "abandoned"  #: its lease ran out (the process died or stalled)
STATES = (RUNNING, FINISHED, FAILED, ABANDONED)
TRIGGERS = ("auto", "requested", "cli")


@dataclass(frozen=True)
class NewTrainingRun:
    """A run to start: what started it, who, why, the lease holder (``host:pid``) and the
    accepted labels it learns from (``labels_cutoff``; the new ones per class)."""

    trigger: str
    actor: str
    reasons: tuple[str, ...]
    holder: str
    lease_expires_at: datetime
    labels_cutoff: datetime | None
    new_labels: dict[str, int]


@dataclass(frozen=True)
class TrainingRunRecord:
    """A stored run (see ``models.training.TrainingRunRow``)."""

    id: int
    trigger: str
    actor: str
    reasons: tuple[str, ...]
    state: str
    holder: str
    started_at: datetime
    lease_expires_at: datetime
    finished_at: datetime | None
    labels_cutoff: datetime | None
    new_labels: dict[str, int]
    model_version: str | None
    verdict_id: int | None
    gate_passed: bool | None
    summary: dict[str, Any] | None
    error: str | None


def _opt(value: datetime | None) -> datetime | None:
    return None if value is None else utc(value)


def _record(row: TrainingRunRow) -> TrainingRunRecord:
    return TrainingRunRecord(
        id=row.id,
        trigger=row.trigger,
        actor=row.actor,
        reasons=tuple(row.reasons),
        state=row.state,
        holder=row.holder,
        started_at=utc(row.started_at),
        lease_expires_at=utc(row.lease_expires_at),
        finished_at=_opt(row.finished_at),
        labels_cutoff=_opt(row.labels_cutoff),
        new_labels=dict(row.new_labels),
        model_version=row.model_version,
        verdict_id=row.verdict_id,
        gate_passed=row.gate_passed,
        summary=row.summary,
        error=row.error,
    )


class TrainingRunRepository:
    """Reads and writes ``training_runs`` inside a unit of work."""

    def __init__(self, session: Session) -> None:
        self._session = session

    def start(self, new: NewTrainingRun, now: datetime) -> TrainingRunRecord:
        """Insert ``new`` as the running run. While another row is running the insert violates
        the one-running-row index: ``IntegrityError`` (the caller says who holds it)."""
        row = TrainingRunRow(
            trigger=new.trigger,
            actor=new.actor,
            reasons=list(new.reasons),
            state=RUNNING,
            holder=new.holder,
            started_at=now,
            lease_expires_at=new.lease_expires_at,
            labels_cutoff=new.labels_cutoff,
            new_labels=dict(new.new_labels),
        )
        self._session.add(row)
        self._session.flush()
        return _record(row)

    def get(self, run_id: int) -> TrainingRunRecord | None:
        row = self._session.get(TrainingRunRow, run_id)
        return None if row is None else _record(row)

    def require(self, run_id: int) -> TrainingRunRecord:
        found = self.get(run_id)
        if found is None:
            raise NotFoundError(f"no retraining run {run_id}")
        return found

    def running(self) -> TrainingRunRecord | None:
        """The run holding the lease now, if any (its lease may have run out)."""
        row = self._session.scalars(
            select(TrainingRunRow).where(TrainingRunRow.state == RUNNING)
        ).first()
        return None if row is None else _record(row)

    def renew(self, run_id: int, holder: str, lease_expires_at: datetime) -> bool:
        """Extend the lease of run ``run_id`` if it is still running under ``holder``."""
        result = self._session.execute(
            update(TrainingRunRow)
            .where(
                TrainingRunRow.id == run_id,
                TrainingRunRow.state == RUNNING,
                TrainingRunRow.holder == holder,
            )
            .values(lease_expires_at=lease_expires_at)
        )
        return int(result.rowcount) == 1  # type: ignore[attr-defined]

    def abandon_expired(self, now: datetime) -> list[int]:
        """Mark running rows whose lease ended before ``now`` as abandoned; returns their ids."""
        rows = self._session.scalars(
            select(TrainingRunRow).where(TrainingRunRow.state == RUNNING)
        ).all()
        gone = [r for r in rows if utc(r.lease_expires_at) <= now]
        for row in gone:
            row.state = ABANDONED
            row.finished_at = now
            row.error = (
                f"lease expired at {utc(row.lease_expires_at).isoformat()} (holder {row.holder})"
            )
        self._session.flush()
        return [r.id for r in gone]

    def end(
        self,
        run_id: int,
        now: datetime,
        *,
        state: str,
        summary: dict[str, Any] | None = None,
        error: str | None = None,
    ) -> TrainingRunRecord:
        """Record how run ``run_id`` ended (``finished`` with the turn's summary, or ``failed``
        with the error); the model version, verdict and gate result are read from the
        summary. A run already marked abandoned stays so, its error saying how it ended."""
        row = self._session.get(TrainingRunRow, run_id)
        if row is None:
            raise NotFoundError(f"no retraining run {run_id}")
        if row.state == ABANDONED:  # another turn may have run since: the history says so
            error = f"{row.error}; it ended afterwards ({state}){f': {error}' if error else ''}"
        else:
            row.state = state
        row.finished_at = now
        row.summary = summary
        row.error = error
        if summary is not None:
            row.model_version = summary.get("candidate")
            row.verdict_id = summary.get("verdict_id")
            row.gate_passed = summary.get("gate_passed")
        self._session.flush()
        return _record(row)

    def last_on_labels(self) -> TrainingRunRecord | None:
        """The newest ended run that learnt from the accepted labels (it has a cutoff and
        finished or failed): the labels after its cutoff are the new ones."""
        row = self._session.scalars(
            select(TrainingRunRow)
            .where(
                TrainingRunRow.labels_cutoff.is_not(None),
                TrainingRunRow.state.in_((FINISHED, FAILED)),
            )
            .order_by(TrainingRunRow.labels_cutoff.desc(), TrainingRunRow.id.desc())
        ).first()
        return None if row is None else _record(row)

    def list(self, *, limit: int = 20, offset: int = 0) -> list[TrainingRunRecord]:
        """Runs, newest first."""
        rows = self._session.scalars(
            select(TrainingRunRow).order_by(TrainingRunRow.id.desc()).limit(limit).offset(offset)
        )
        return [_record(r) for r in rows]
