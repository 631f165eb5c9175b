"""The work queue: hands each person their next task as a time-limited lease.

``next(person, stage)`` returns, in this order: the lease the person already holds at that stage
(one task at a time), a task a reviewer returned to them, a task they gave back (``release``:
they left the labelling tool, closed or reloaded its page) whose slot nobody took meanwhile,
resumed with the work they saved, a calibration gold task while they are
new, a gold task with probability ``gold_share``, else the most urgent task with a free slot that
they have not touched before (independence of overlap annotators; nobody reviews their own
work). Reviews include the hidden gold reviews, which look like any other. A stage has
``overlap`` slots for ``annotate`` (unbounded for gold tasks, which every labeller does once),
one for ``review`` and ``adjudicate``.

Exactly-one holder per slot is guaranteed by the database, not by this code: a partial unique
index on (task, stage, round, slot) over live assignments refuses a second holder on SQLite and
PostgreSQL alike, and a lost race is retried on the next candidate. On PostgreSQL the candidate
row is taken with ``FOR UPDATE SKIP LOCKED`` so concurrent callers do not even collide.
Leases expire after ``lease_s`` unless renewed; an expired lease frees its slot.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.exc import IntegrityError, OperationalError

from backend.auth.people import Principal
from backend.auth.roles import Permission
from backend.config import AnnotationConfig
from backend.errors import (
    InvalidInputError,
    LeaseError,
    NotFoundError,
    PermissionDeniedError,
    StorageError,
    UnavailableError,
)
from backend.metadata.repositories.assignments import AssignmentRecord
from backend.metadata.repositories.tasks import TaskRecord
from backend.metadata.unit_of_work import Database, UnitOfWork

log = logging.getLogger(__name__)

STAGES = ("annotate", "review", "adjudicate")
_STAGE_PERMISSION = {
    "annotate": Permission.LABEL,
    "review": Permission.REVIEW,
    "adjudicate": Permission.ADJUDICATE,
}
#: how many times a lost race for a slot is retried before answering "busy"
_ATTEMPTS = 8


@dataclass(frozen=True)
class Lease:
    """A leased assignment, its task, and the label set it works on (``label_set_id``: the
    person's own set when annotating, the set under review when reviewing, the proposal when
    adjudicating)."""

    assignment: AssignmentRecord
    task: TaskRecord
    label_set_id: int | None


def capacity(task: TaskRecord, stage: str) -> int | None:
    """Slots of ``stage`` in ``task``; None: unbounded (gold tasks)."""
    if stage != "annotate":
        return 1
    return None if task.is_gold else task.overlap


class WorkQueue:
    """Leases over one database."""

    def __init__(
        self,
        db: Database,
        config: AnnotationConfig,
        clock: Callable[[], datetime],
        rng: random.Random,
    ) -> None:
        self._db = db
        self._config = config
        self._clock = clock
        self._rng = rng

    @property
    def lease_time(self) -> timedelta:
        return timedelta(seconds=self._config.lease_s)

    def expire(self) -> list[AssignmentRecord]:
        """Expire overdue leases (their slots return to the queue)."""
        now = self._clock()
        with self._db.transaction("expire leases") as uow:
            expired = uow.assignments.expire(now)
            for a in expired:
                uow.audit.record(
                    now,
                    a.user,
                    "lease.expired",
                    task_id=a.task_id,
                    details={"assignment": a.id, "stage": a.stage},
                )
        if expired:
            log.info("expired %d leases", len(expired))
        return expired

    def next(self, who: Principal, stage: str) -> Lease:
        """The person's next lease at ``stage`` (see the module docstring); UnavailableError
        when there is nothing for them."""
        if stage not in STAGES:
            raise InvalidInputError(f"stage must be one of {', '.join(STAGES)}, got {stage!r}")
        who.require(_STAGE_PERMISSION[stage])
        if who.calibration == "flagged":
            raise PermissionDeniedError(
                f"{who.name} was flagged by the gold checks; an admin must clear them first"
            )
        self.expire()
        for _ in range(_ATTEMPTS):
            try:
                with self._db.transaction(f"lease a {stage} task for {who.name}") as uow:
                    lease = self._next_in(uow, who, stage)
                if lease is not None:
                    return lease
                raise UnavailableError(self._why_empty(who, stage))
            except IntegrityError:
                continue  # another caller took that slot first: try the next candidate
            except StorageError as exc:
                if not isinstance(exc.__cause__, OperationalError) or self._db.dialect != "sqlite":
                    raise
                continue  # SQLite: a concurrent writer moved the snapshot; try again
        raise UnavailableError(f"the {stage} queue is busy; try again")

    def _why_empty(self, who: Principal, stage: str) -> str:
        if stage == "annotate" and self._calibrating(who):
            return f"{who.name} has done every calibration task; waiting for their evaluation"
        return f"no {stage} task is waiting for {who.name}"

    def _calibrating(self, who: Principal) -> bool:
        return who.calibration == "pending" and self._config.calibration_tasks > 0

    def _next_in(self, uow: UnitOfWork, who: Principal, stage: str) -> Lease | None:
        now = self._clock()
        expires = now + self.lease_time
        mine = [a for a in uow.assignments.of_user(who.name, ("active",)) if a.stage == stage]
        if mine:
            return self.lease_of(uow, mine[0])
        for returned in uow.assignments.of_user(who.name, ("returned",)):
            if returned.stage == stage:
                leased = uow.assignments.update(
                    returned.id, state="active", leased_at=now, lease_expires_at=expires
                )
                self._audit(uow, leased, "lease.resumed", now)
                return self.lease_of(uow, leased)
        resumed = self._resume_released(uow, who, stage)
        if resumed is not None:
            return resumed
        # the gold draw only for annotators past calibration (as many draws as ever: a seeded
        # queue hands out the same tasks)
        gold_first = (
            stage == "annotate"
            and not self._calibrating(who)
            and self._rng.random() < self._config.gold_share
        )
        lock = self._db.dialect == "postgresql"
        for task, slot in self._open_slots(
            uow, who, stage, self._pools(who, stage, gold_first), lock
        ):
            assignment = uow.assignments.add(
                task.id, stage, task.round, slot, who.name, now, expires
            )
            self._audit(uow, assignment, "lease.granted", now)
            return self.lease_of(uow, assignment)
        return None

    def upcoming(self, who: Principal, assignment_id: int) -> TaskRecord | None:
        """The task ``who`` will most likely get after their live ``assignment_id``, at its
        stage, without leasing anything (the labelling tool fetches its frame in advance): what
        :meth:`next` would hand out once this assignment is done, leaving out the random gold
        draw (gold tasks are a small share, and a guess that misses costs only a normal load);
        None when nothing else is waiting for them."""
        with self._db.transaction(f"peek past assignment {assignment_id}") as uow:
            current = self.holding(uow, who, assignment_id)
            stage = current.stage
            for returned in uow.assignments.of_user(who.name, ("returned",)):
                if returned.stage == stage and returned.task_id != current.task_id:
                    return uow.tasks.require(returned.task_id)
            paused = self._resumable(uow, who, stage)
            if paused is not None and paused.task_id != current.task_id:
                return uow.tasks.require(paused.task_id)
            pools = self._pools(who, stage, gold_first=False)
            for task, _ in self._open_slots(uow, who, stage, pools, lock=False):
                if task.id != current.task_id:
                    return task
        return None

    def _pools(self, who: Principal, stage: str, gold_first: bool) -> list[dict[str, bool]]:
        """The task pools ``next`` looks through, in order (``gold_first``: the gold draw came
        up for an annotator)."""
        if stage == "annotate":
            if self._calibrating(who):
                return [dict(gold=True, calibration=True)]
            return ([dict(gold=True, calibration=False)] if gold_first else []) + [dict(gold=False)]
        if stage == "review":
            # hidden gold reviews (``gold.GoldKeeper``) wait beside ordinary reviews and look
            # like them; nobody reviews a copy of their own gold submission
            return [{}]  # gold or not
        return [dict(gold=False)]

    def _open_slots(
        self,
        uow: UnitOfWork,
        who: Principal,
        stage: str,
        pools: list[dict[str, bool]],
        lock: bool,
    ) -> Iterator[tuple[TaskRecord, int]]:
        """The tasks of ``pools`` that ``who`` may take at ``stage``, most urgent first, each
        with its free slot; ``lock`` (PostgreSQL): take each candidate row ``FOR UPDATE SKIP
        LOCKED`` so concurrent callers do not even collide."""
        # independence: an annotator labels a task once; nobody reviews or adjudicates their
        # own labels (a reviewer may see the same task again after the annotator's fix)
        touched = uow.assignments.tasks_touched_by(
            who.name, None if stage == "annotate" else "annotate"
        )
        for pool in pools:
            for task in uow.tasks.candidates(stage, limit=200, **pool):
                if task.id in touched or (stage == "review" and self._own(uow, task, who)):
                    continue
                if lock:
                    locked = uow.tasks.candidates_by_id(task.id, stage)
                    if locked is None:
                        continue  # another transaction holds it
                    task = locked
                slot = self._free_slot(uow, task, stage)
                if slot is not None:
                    yield task, slot

    def _resumable(self, uow: UnitOfWork, who: Principal, stage: str) -> AssignmentRecord | None:
        """The person's latest given-back assignment at ``stage`` whose task still waits at
        that stage and round with its slot free; else None."""
        for paused in reversed(uow.assignments.of_user(who.name, ("released",))):
            if paused.stage != stage:
                continue
            task = uow.tasks.require(paused.task_id)
            if task.stage != stage or task.round != paused.round:
                continue
            if any(
                a.slot == paused.slot for a in uow.assignments.holding(task.id, stage, task.round)
            ):
                continue  # someone else took the slot: the task is theirs now
            return paused
        return None

    def _resume_released(self, uow: UnitOfWork, who: Principal, stage: str) -> Lease | None:
        """The person's latest given-back assignment at ``stage``, active again, if its task
        still waits at that stage and round and nobody holds its slot; else None."""
        now = self._clock()
        paused = self._resumable(uow, who, stage)
        if paused is None:
            return None
        leased = uow.assignments.update(
            paused.id, state="active", leased_at=now, lease_expires_at=now + self.lease_time
        )
        self._audit(uow, leased, "lease.resumed", now)
        return self.lease_of(uow, leased)

    def _own(self, uow: UnitOfWork, task: TaskRecord, who: Principal) -> bool:
        """Whether the labels under review in ``task`` are ``who``'s own (a hidden gold review
        copies the labeller's set into a task they never leased)."""
        if not task.is_gold:
            return False
        subject = self._subject(uow, task, "review")
        return subject is not None and uow.label_sets.require(subject).author == who.name

    def _free_slot(self, uow: UnitOfWork, task: TaskRecord, stage: str) -> int | None:
        taken = {a.slot for a in uow.assignments.holding(task.id, stage, task.round)}
        limit = capacity(task, stage)
        slot = 0
        while slot in taken:
            slot += 1
        return slot if limit is None or slot < limit else None

    def lease_of(self, uow: UnitOfWork, assignment: AssignmentRecord) -> Lease:
        """The lease view of ``assignment`` (its label set created on first use)."""
        task = uow.tasks.require(assignment.task_id)
        if assignment.stage == "annotate":
            if assignment.label_set_id is None:
                created = uow.label_sets.add(
                    task.id, "annotator", assignment.user, "draft", self._clock(), assignment.id
                )
                assignment = uow.assignments.update(assignment.id, label_set_id=created.id)
            return Lease(assignment, task, assignment.label_set_id)
        return Lease(assignment, task, self._subject(uow, task, assignment.stage))

    @staticmethod
    def _subject(uow: UnitOfWork, task: TaskRecord, stage: str) -> int | None:
        """The label set a reviewer or adjudicator works on."""
        sets = uow.label_sets.of_task(task.id)
        if stage == "adjudicate":
            proposals = [s for s in sets if s.source == "consensus"]
            if proposals:
                return proposals[-1].id
        submitted = [s for s in sets if s.source == "annotator" and s.state == "submitted"]
        return submitted[-1].id if submitted else None

    def holding(self, uow: UnitOfWork, who: Principal, assignment_id: int) -> AssignmentRecord:
        """The assignment if ``who`` holds a live lease on it; LeaseError saying why not."""
        assignment = uow.assignments.get(assignment_id)
        if assignment is None:
            raise NotFoundError(f"no assignment with id {assignment_id}")
        if assignment.user != who.name:
            raise LeaseError(f"assignment {assignment_id} is leased to someone else")
        if assignment.state != "active":
            raise LeaseError(f"assignment {assignment_id} is {assignment.state}, not leased")
        now = self._clock()
        if assignment.lease_expires_at is not None and assignment.lease_expires_at <= now:
            raise LeaseError(
                f"the lease on assignment {assignment_id} expired at "
                f"{assignment.lease_expires_at.isoformat()}; ask for the next task again"
            )
        return assignment

    def renew(self, who: Principal, assignment_id: int) -> Lease:
        """Extend a live lease by ``lease_s`` from now."""
        now = self._clock()
        with self._db.transaction(f"renew assignment {assignment_id}") as uow:
            self.holding(uow, who, assignment_id)
            renewed = uow.assignments.update(assignment_id, lease_expires_at=now + self.lease_time)
            return self.lease_of(uow, renewed)

    def release(self, who: Principal, assignment_id: int) -> None:
        """Give a lease back before it expires: its slot is free for anyone at once; the work
        saved so far stays in its label set, and the person gets the task back on their next
        ask while nobody else has taken the slot (a reloaded page finds its task again)."""
        now = self._clock()
        with self._db.transaction(f"release assignment {assignment_id}") as uow:
            held = self.holding(uow, who, assignment_id)
            uow.assignments.update(assignment_id, state="released", lease_expires_at=now)
            self._audit(uow, held, "lease.released", now)

    @staticmethod
    def _audit(uow: UnitOfWork, a: AssignmentRecord, action: str, now: datetime) -> None:
        uow.audit.record(
            now,
            a.user,
            action,
            task_id=a.task_id,
            details={"assignment": a.id, "stage": a.stage, "round": a.round, "slot": a.slot},
        )
