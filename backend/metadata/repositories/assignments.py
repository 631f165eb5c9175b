"""Assignments: one person's leased turn at one stage of a task (see ``models.annotation``)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from backend.errors import NotFoundError
from backend.metadata.models.annotation import SLOT_HOLDING_STATES, Assignment
from backend.metadata.records import utc


@dataclass(frozen=True)
class AssignmentRecord:
    """An assignment."""

    id: int
    task_id: int
    stage: str
    round: int
    slot: int
    user: str
    state: str
    leased_at: datetime
    lease_expires_at: datetime | None
    submitted_at: datetime | None
    label_set_id: int | None


def _record(row: Assignment) -> AssignmentRecord:
    return AssignmentRecord(
        id=row.id,
        task_id=row.task_id,
        stage=row.stage,
        round=row.round,
        slot=row.slot,
        user=row.user,
        state=row.state,
        leased_at=utc(row.leased_at),
        lease_expires_at=None if row.lease_expires_at is None else utc(row.lease_expires_at),
        submitted_at=None if row.submitted_at is None else utc(row.submitted_at),
        label_set_id=row.label_set_id,
    )


class AssignmentRepository:
    """Assignments in one unit of work."""

    def __init__(self, session: Session) -> None:
        self._session = session

    def add(
        self,
        task_id: int,
        stage: str,
        round_: int,
        slot: int,
        user: str,
        now: datetime,
        expires_at: datetime,
    ) -> AssignmentRecord:
        """Lease ``slot``; the partial unique index refuses (IntegrityError at flush) a slot that
        another live assignment holds."""
        row = Assignment(
            task_id=task_id,
            stage=stage,
            round=round_,
            slot=slot,
            user=user,
            state="active",
            leased_at=now,
            lease_expires_at=expires_at,
        )
        self._session.add(row)
        self._session.flush()
        return _record(row)

    def get(self, assignment_id: int) -> AssignmentRecord | None:
        row = self._session.get(Assignment, assignment_id)
        return None if row is None else _record(row)

    def require(self, assignment_id: int) -> AssignmentRecord:
        found = self.get(assignment_id)
        if found is None:
            raise NotFoundError(f"no assignment with id {assignment_id}")
        return found

    def update(self, assignment_id: int, **values: Any) -> AssignmentRecord:
        row = self._session.get(Assignment, assignment_id)
        if row is None:
            raise NotFoundError(f"no assignment with id {assignment_id}")
        for key, value in values.items():
            setattr(row, key, value)
        return _record(row)

    def of_task(
        self, task_id: int, stage: str | None = None, round_: int | None = None
    ) -> list[AssignmentRecord]:
        """Every assignment of a task (optionally of one stage and round), by id."""
        stmt = select(Assignment).where(Assignment.task_id == task_id)
        if stage is not None:
            stmt = stmt.where(Assignment.stage == stage)
        if round_ is not None:
            stmt = stmt.where(Assignment.round == round_)
        return [_record(r) for r in self._session.scalars(stmt.order_by(Assignment.id))]

    def holding(self, task_id: int, stage: str, round_: int) -> list[AssignmentRecord]:
        """The assignments that hold a slot of (task, stage, round)."""
        return [a for a in self.of_task(task_id, stage, round_) if a.state in SLOT_HOLDING_STATES]

    def of_user(self, user: str, states: tuple[str, ...]) -> list[AssignmentRecord]:
        stmt = (
            select(Assignment)
            .where(Assignment.user == user, Assignment.state.in_(states))
            .order_by(Assignment.id)
        )
        return [_record(r) for r in self._session.scalars(stmt)]

    def tasks_touched_by(self, user: str, stage: str | None = None) -> set[int]:
        """Tasks this person ever held an assignment of (of ``stage``, or any; any state)."""
        stmt = select(Assignment.task_id).where(Assignment.user == user)
        if stage is not None:
            stmt = stmt.where(Assignment.stage == stage)
        return set(self._session.scalars(stmt))

    def expire(self, now: datetime) -> list[AssignmentRecord]:
        """Mark active leases past their expiry as expired (freeing their slots); returns them."""
        stale = [
            _record(r)
            for r in self._session.scalars(
                select(Assignment).where(
                    Assignment.state == "active", Assignment.lease_expires_at <= now
                )
            )
        ]
        if stale:
            self._session.execute(
                update(Assignment)
                .where(Assignment.id.in_([a.id for a in stale]))
                .values(state="expired")
            )
        return stale

    def all(self) -> list[AssignmentRecord]:
        return [
            _record(r) for r in self._session.scalars(select(Assignment).order_by(Assignment.id))
        ]
