"""The tiers in motion: submitting labels, reviewing them, building consensus, adjudicating.

::

    tier 2   annotate (1) --submit--> review --approve / fix_accept--> accepted
                  ^                      |
                  +------- reject -------+   (back to the same annotator with the comments;
                                              a second rejection escalates to adjudicate)
    tier 3   annotate (k) --all submitted--> consensus --agree--> accepted
                                                 +--disagree--> adjudicate --decide--> accepted
    gold     annotate (everyone once) --submit--> scored against the known answer

Every transition is one transaction with its audit record and its webhook event.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from backend.annotation import store
from backend.annotation.editing import LabelEditor
from backend.annotation.queue import WorkQueue
from backend.auth.people import Principal
from backend.errors import InvalidInputError, PermissionDeniedError, StaleVersionError
from backend.metadata.repositories.assignments import AssignmentRecord
from backend.metadata.repositories.reviews import ReviewRecord
from backend.metadata.repositories.tasks import TaskRecord
from backend.metadata.unit_of_work import Database, UnitOfWork

#: why a reviewer rejects a frame or a box
REASON_CODES = (
    "missed_object",
    "false_object",
    "wrong_class",
    "bad_extent",
    "bad_heading",
    "wrong_track",
    "wrong_points",
    "other",
)
DECISIONS = ("approve", "reject", "fix_accept")
#: rejections after which a task goes to the senior panel
ESCALATE_AFTER = 2


class GoldHook(Protocol):
    """What happens when labels meet a known answer (``backend.annotation.gold``)."""

    def on_submitted(
        self, uow: UnitOfWork, who: str, task: TaskRecord, label_set_id: int, now: datetime
    ) -> None: ...

    def on_reviewed(
        self, uow: UnitOfWork, task: TaskRecord, review: ReviewRecord, now: datetime
    ) -> None: ...


class ConsensusHook(Protocol):
    """Fuses overlap annotations (``backend.annotation.consensus``)."""

    def build(self, uow: UnitOfWork, task: TaskRecord, now: datetime) -> ConsensusOutcome: ...


@dataclass(frozen=True)
class ConsensusOutcome:
    """The fused label set, the annotators' agreement (0..1) and whether to escalate."""

    label_set_id: int
    agreement: float
    escalate: bool
    details: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class BoxVerdict:
    """A reviewer's word on one box."""

    box_id: str
    reasons: tuple[str, ...]
    comment: str = ""


@dataclass(frozen=True)
class Outcome:
    """Where the task stands after a submission or decision."""

    task_id: int
    stage: str
    accepted_label_set_id: int | None


def check_reasons(reasons: Sequence[str], where: str) -> list[str]:
    """``reasons`` if each is a known code; InvalidInputError naming the unknown one."""
    for reason in reasons:
        if reason not in REASON_CODES:
            raise InvalidInputError(
                f"{where}: reason {reason!r} is not one of {', '.join(REASON_CODES)}"
            )
    return list(reasons)


class Workflow:
    """Submissions and decisions over one database."""

    def __init__(
        self,
        db: Database,
        queue: WorkQueue,
        editor: LabelEditor,
        gold: GoldHook,
        consensus: ConsensusHook,
        clock: Callable[[], datetime],
    ) -> None:
        self._db = db
        self._queue = queue
        self._editor = editor
        self._gold = gold
        self._consensus = consensus
        self._clock = clock

    # -- annotators ------------------------------------------------------------------------

    def submit(
        self, who: Principal, assignment_id: int, base_version: int, body: Any | None = None
    ) -> Outcome:
        """Finish an annotate assignment: with ``body``, save it as the final revision first;
        without, submit the saved version ``base_version`` (refused if it is not the latest)."""
        now = self._clock()
        with self._db.transaction(f"submit assignment {assignment_id}") as uow:
            assignment = self._queue.holding(uow, who, assignment_id)
            if assignment.stage != "annotate" or assignment.label_set_id is None:
                raise PermissionDeniedError(
                    f"assignment {assignment_id} is a {assignment.stage} assignment; use its "
                    "decision route"
                )
            if body is not None:
                self._editor.write(uow, who, assignment, body, base_version, draft=False, now=now)
            else:
                current = uow.label_sets.require(assignment.label_set_id, for_update=True)
                if current.version != base_version:
                    raise StaleVersionError(
                        f"label set {current.id} is at version {current.version}, "
                        f"not {base_version}: reload before submitting",
                        current_version=current.version,
                    )
                if current.version == 0:
                    raise InvalidInputError(
                        f"assignment {assignment_id}: nothing saved yet; submit a body"
                    )
            uow.assignments.update(assignment.id, state="submitted", submitted_at=now)
            uow.label_sets.set_state(assignment.label_set_id, "submitted", now)
            task = uow.tasks.require(assignment.task_id, for_update=True)
            uow.audit.record(
                now,
                who.name,
                "labels.submitted",
                task_id=task.id,
                label_set_id=assignment.label_set_id,
                details={"assignment": assignment.id, "round": assignment.round},
            )
            if task.is_gold:
                self._gold.on_submitted(uow, who.name, task, assignment.label_set_id, now)
                return Outcome(task.id, task.stage, task.accepted_label_set_id)
            return self._advance(uow, task, now)

    def _advance(self, uow: UnitOfWork, task: TaskRecord, now: datetime) -> Outcome:
        """Move a task on once every annotate slot of its round is submitted."""
        holding = uow.assignments.holding(task.id, "annotate", task.round)
        done = [a for a in holding if a.state == "submitted"]
        if len(done) < task.overlap or len(done) < len(holding):
            return Outcome(task.id, task.stage, None)
        if task.overlap == 1:
            moved = uow.tasks.update(task.id, now, stage="review")
            return Outcome(moved.id, moved.stage, None)
        outcome = self._consensus.build(uow, task, now)
        uow.tasks.update(task.id, now, agreement=outcome.agreement)
        uow.audit.record(
            now,
            "consensus",
            "consensus.built",
            task_id=task.id,
            label_set_id=outcome.label_set_id,
            details={"agreement": outcome.agreement, **outcome.details},
        )
        if outcome.escalate:
            self._escalate(uow, task, now, f"agreement {outcome.agreement:.2f} below the floor")
            return Outcome(task.id, "adjudicate", None)
        accepted = store.accept(
            uow,
            task,
            outcome.label_set_id,
            actor="consensus",
            reason=f"consensus of {task.overlap} annotators (agreement {outcome.agreement:.2f})",
            now=now,
        )
        return Outcome(accepted.id, accepted.stage, outcome.label_set_id)

    def _escalate(self, uow: UnitOfWork, task: TaskRecord, now: datetime, why: str) -> None:
        uow.tasks.update(task.id, now, stage="adjudicate")
        uow.audit.record(now, "workflow", "task.escalated", task_id=task.id, note=why)
        store.emit(uow, "task.escalated", {"task_id": task.id, "reason": why}, now)

    # -- reviewers -------------------------------------------------------------------------

    def review(
        self,
        who: Principal,
        assignment_id: int,
        decision: str,
        *,
        reasons: Sequence[str] = (),
        box_verdicts: Sequence[BoxVerdict] = (),
        comment: str = "",
        fixed: Any | None = None,
    ) -> Outcome:
        """Decide on the label set under review: ``approve``, ``reject`` (with reason codes per
        frame and/or box) or ``fix_accept`` (with the corrected labels in ``fixed``)."""
        if decision not in DECISIONS:
            raise InvalidInputError(
                f"decision must be one of {', '.join(DECISIONS)}, got {decision!r}"
            )
        now = self._clock()
        with self._db.transaction(f"review assignment {assignment_id}") as uow:
            assignment = self._queue.holding(uow, who, assignment_id)
            if assignment.stage != "review":
                raise PermissionDeniedError(f"assignment {assignment_id} is not a review")
            task = uow.tasks.require(assignment.task_id, for_update=True)
            subject = self._queue.lease_of(uow, assignment).label_set_id
            if subject is None:
                raise InvalidInputError(f"task {task.id} has no submitted labels to review")
            reviewed = store.content(uow, subject)
            ids = {b.id for b in reviewed.boxes}
            verdicts = []
            for i, v in enumerate(box_verdicts):
                if v.box_id not in ids:
                    raise InvalidInputError(
                        f"box_verdicts[{i}]: box {v.box_id!r} is not in label set {subject}"
                    )
                verdicts.append(
                    {
                        "box_id": v.box_id,
                        "reasons": check_reasons(v.reasons, f"box_verdicts[{i}]"),
                        "comment": v.comment,
                    }
                )
            frame_reasons = check_reasons(reasons, "reasons")
            if decision == "reject" and not (frame_reasons or verdicts):
                raise InvalidInputError("a rejection needs at least one reason code")
            if decision == "fix_accept" and fixed is None:
                raise InvalidInputError("fix_accept needs the corrected labels in 'fixed'")
            annotator = uow.label_sets.require(subject).author
            record = uow.reviews.add(
                task_id=task.id,
                round_=task.round,
                assignment_id=assignment.id,
                label_set_id=subject,
                reviewer=who.name,
                annotator=annotator,
                decision=decision,
                reasons=frame_reasons,
                box_verdicts=verdicts,
                comment=comment,
                now=now,
            )
            uow.assignments.update(assignment.id, state="submitted", submitted_at=now)
            uow.audit.record(
                now,
                who.name,
                f"review.{decision}",
                task_id=task.id,
                label_set_id=subject,
                details={"reasons": frame_reasons, "boxes": verdicts},
                note=comment,
            )
            if task.is_gold:  # a hidden check of the reviewer
                self._gold.on_reviewed(uow, task, record, now)
                uow.tasks.update(task.id, now, stage="closed")
                return Outcome(task.id, "closed", None)
            if decision == "approve":
                accepted = store.accept(
                    uow, task, subject, actor=who.name, reason="approved in review", now=now
                )
                return Outcome(task.id, accepted.stage, subject)
            if decision == "fix_accept":
                fixed_id = self._own_labels(
                    uow, task, fixed, "review", who.name, assignment.id, now
                )
                store.accept(uow, task, fixed_id, actor=who.name, reason="fixed in review", now=now)
                return Outcome(task.id, "accepted", fixed_id)
            return self._reject(uow, task, subject, annotator, now)

    def _reject(
        self, uow: UnitOfWork, task: TaskRecord, subject: int, annotator: str, now: datetime
    ) -> Outcome:
        rejections = task.rejections + 1
        uow.label_sets.set_state(subject, "rejected", now)
        if rejections >= ESCALATE_AFTER:
            uow.tasks.update(task.id, now, rejections=rejections)
            self._escalate(uow, task, now, f"rejected {rejections} times")
            return Outcome(task.id, "adjudicate", None)
        moved = uow.tasks.update(
            task.id, now, rejections=rejections, round=task.round + 1, stage="annotate"
        )
        previous = next(
            a
            for a in uow.assignments.of_task(task.id, "annotate", task.round)
            if a.label_set_id == subject
        )
        returned = uow.assignments.add(
            task.id, "annotate", moved.round, previous.slot, annotator, now, now
        )
        uow.assignments.update(
            returned.id, state="returned", lease_expires_at=None, label_set_id=subject
        )
        uow.label_sets.set_state(subject, "draft", now)
        uow.audit.record(
            now, "workflow", "task.returned", task_id=task.id, details={"to": annotator}
        )
        return Outcome(task.id, "annotate", None)

    def _own_labels(
        self,
        uow: UnitOfWork,
        task: TaskRecord,
        body: Any,
        source: str,
        author: str,
        assignment_id: int,
        now: datetime,
    ) -> int:
        """A reviewer's or adjudicator's own labels as a new label set of the task."""
        return store.new_label_set(
            uow,
            task,
            self._editor.checked(uow, task, body),
            source=source,
            author=author,
            state="submitted",
            now=now,
            assignment_id=assignment_id,
        ).id

    # -- the senior panel --------------------------------------------------------------------

    def adjudicate(
        self,
        who: Principal,
        assignment_id: int,
        *,
        accept_label_set: int | None = None,
        fixed: Any | None = None,
        comment: str = "",
    ) -> Outcome:
        """Close an escalated task: accept one of its label sets, or the panel's own labels."""
        if (accept_label_set is None) == (fixed is None):
            raise InvalidInputError("adjudication takes exactly one of accept_label_set or fixed")
        now = self._clock()
        with self._db.transaction(f"adjudicate assignment {assignment_id}") as uow:
            assignment = self._queue.holding(uow, who, assignment_id)
            if assignment.stage != "adjudicate":
                raise PermissionDeniedError(f"assignment {assignment_id} is not an adjudication")
            task = uow.tasks.require(assignment.task_id, for_update=True)
            if fixed is not None:
                chosen = self._own_labels(
                    uow, task, fixed, "adjudication", who.name, assignment.id, now
                )
            else:
                assert accept_label_set is not None
                found = uow.label_sets.get(accept_label_set)
                if found is None or found.task_id != task.id:
                    raise InvalidInputError(
                        f"label set {accept_label_set} is not a label set of task {task.id}"
                    )
                chosen = found.id
            uow.assignments.update(assignment.id, state="submitted", submitted_at=now)
            store.accept(
                uow, task, chosen, actor=who.name, reason=f"adjudicated: {comment}", now=now
            )
            return Outcome(task.id, "accepted", chosen)


def submitted_annotations(uow: UnitOfWork, task: TaskRecord) -> list[AssignmentRecord]:
    """The submitted annotate assignments of the task's current round."""
    return [
        a
        for a in uow.assignments.holding(task.id, "annotate", task.round)
        if a.state == "submitted" and a.label_set_id is not None
    ]
