"""What a person sees of their leased task, and versioned saves of their labels.

A save names the version it started from; if the label set moved on since (another tab, a
colleague, a reviewer), it is refused with the current version (HTTP 409), never applied over
it. Every save, draft (autosave) or not, is a new revision committed with its audit record
(box-level before/after and point-class changes), so nothing a person saved is lost across a
server kill: SQLite runs with ``synchronous=FULL``, PostgreSQL commits durably.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from backend.annotation import store
from backend.annotation.labels import LabelContent, content_from_json, diff, validate
from backend.annotation.queue import WorkQueue
from backend.auth.people import Principal
from backend.errors import InvalidInputError, PermissionDeniedError
from backend.metadata.records import FrameRecord
from backend.metadata.repositories.assignments import AssignmentRecord
from backend.metadata.repositories.reviews import ReviewRecord
from backend.metadata.repositories.tasks import TaskRecord
from backend.metadata.unit_of_work import Database, UnitOfWork


@dataclass(frozen=True)
class LabelSetView:
    """A label set as one person may see it."""

    id: int
    source: str
    author: str
    state: str
    version: int
    content: LabelContent


@dataclass(frozen=True)
class TaskView:
    """Everything the tool needs to work on a leased assignment."""

    assignment: AssignmentRecord
    task: TaskRecord
    frames: list[FrameRecord]
    ontology: dict[str, Any]
    prelabels: LabelSetView | None
    working: LabelSetView | None  # the set this person edits (annotate) or judges
    others: list[LabelSetView]  # reviewers and adjudicators: the annotators' sets
    reviews: list[ReviewRecord]  # earlier review rounds, with their comments


def _view(uow: UnitOfWork, label_set_id: int) -> LabelSetView:
    record = uow.label_sets.require(label_set_id)
    return LabelSetView(
        record.id,
        record.source,
        record.author,
        record.state,
        record.version,
        store.content(uow, record.id),
    )


class LabelEditor:
    """Reading and saving the labels of leased tasks."""

    def __init__(self, db: Database, queue: WorkQueue, clock: Callable[[], datetime]) -> None:
        self._db = db
        self._queue = queue
        self._clock = clock

    def view(self, who: Principal, assignment_id: int) -> TaskView:
        """The task behind a live lease of ``who`` with the label sets they may see."""
        with self._db.transaction(f"read assignment {assignment_id}") as uow:
            assignment = self._queue.holding(uow, who, assignment_id)
            lease = self._queue.lease_of(uow, assignment)
            task = lease.task
            frames_by_id = uow.frames.get_many(list(task.frame_ids))
            sets = uow.label_sets.of_task(task.id)
            prelabels = next((s for s in sets if s.source == "prelabel"), None)
            others: list[LabelSetView] = []
            if assignment.stage != "annotate":
                others = [
                    _view(uow, s.id)
                    for s in sets
                    if s.source in ("annotator", "consensus") and s.id != lease.label_set_id
                ]
            reviews = uow.reviews.of_task(task.id)
            if assignment.stage == "annotate":
                reviews = [r for r in reviews if r.annotator == who.name]
            return TaskView(
                assignment=assignment,
                task=task,
                frames=[frames_by_id[f] for f in task.frame_ids if f in frames_by_id],
                ontology=store.ontology(uow, task.ontology_version).document(),
                prelabels=None if prelabels is None else _view(uow, prelabels.id),
                working=None if lease.label_set_id is None else _view(uow, lease.label_set_id),
                others=others,
                reviews=reviews,
            )

    def leased_frames(self, who: Principal, assignment_id: int) -> list[FrameRecord]:
        """The frames of the task behind a live lease of ``who``."""
        with self._db.transaction(f"read frames of assignment {assignment_id}") as uow:
            assignment = self._queue.holding(uow, who, assignment_id)
            task = uow.tasks.require(assignment.task_id)
            found = uow.frames.get_many(list(task.frame_ids))
            return [found[f] for f in task.frame_ids if f in found]

    def checked(self, uow: UnitOfWork, task: TaskRecord, body: Any) -> LabelContent:
        """Parse and validate an API body against the task's ontology and frames."""
        return validate(
            content_from_json(body),
            store.ontology(uow, task.ontology_version),
            store.frame_facts(uow, task),
        )

    def save(
        self, who: Principal, assignment_id: int, base_version: int, body: Any, *, draft: bool
    ) -> int:
        """Store a new revision of the person's own label set; returns its version."""
        now = self._clock()
        with self._db.transaction(f"save labels of assignment {assignment_id}") as uow:
            assignment = self._queue.holding(uow, who, assignment_id)
            if assignment.stage != "annotate" or assignment.label_set_id is None:
                raise PermissionDeniedError(
                    f"assignment {assignment_id} is a {assignment.stage} assignment: reviewers "
                    "and adjudicators decide (with fixed labels if needed); they do not save"
                )
            return self.write(uow, who, assignment, body, base_version, draft=draft, now=now)

    def write(
        self,
        uow: UnitOfWork,
        who: Principal,
        assignment: AssignmentRecord,
        body: Any,
        base_version: int,
        *,
        draft: bool,
        now: datetime,
    ) -> int:
        """Validate ``body`` and append it to the assignment's label set, with its audit."""
        if assignment.label_set_id is None:
            raise InvalidInputError(f"assignment {assignment.id} has no label set to write")
        task = uow.tasks.require(assignment.task_id)
        labels = self.checked(uow, task, body)
        label_set = uow.label_sets.require(assignment.label_set_id)
        before = store.content(uow, label_set.id)
        version = store.write_revision(
            uow,
            label_set,
            labels,
            task.frame_ids,
            base_version=base_version,
            author=who.name,
            draft=draft,
            now=now,
        )
        names = {c.point_id: c.name for c in store.ontology(uow, task.ontology_version).classes}
        uow.audit.record(
            now,
            who.name,
            "labels.saved" if draft else "labels.saved_final",
            task_id=task.id,
            label_set_id=label_set.id,
            version=version,
            details=diff(before, labels, names),
        )
        return version
