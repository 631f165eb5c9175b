"""``/tasks``: the task queue as operators see it (list, detail, sync from stored frames) and
its active-learning order (``/tasks/queue/priorities``: seniors and admins read it, admins
re-score on demand; ``backend.annotation.rescoring``)."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query

from backend.annotation import store
from backend.annotation.editing import LabelSetView
from backend.annotation.labels import LabelContent
from backend.api.deps import ActiveDep, AnnotationDep, DbDep, TaskId, require
from backend.api.schemas.active import QueuePrioritiesOut, RescoreOut
from backend.api.schemas.annotation import (
    LabelSetOut,
    ReviewOut,
    SyncOut,
    TaskDetailOut,
    TaskOut,
    TaskPage,
)
from backend.auth.people import Principal
from backend.auth.roles import Permission
from backend.errors import NotFoundError

router = APIRouter(prefix="/tasks", tags=["annotation"])

TeamReader = Annotated[Principal, Depends(require(Permission.READ_TEAM_FIGURES))]
Manager = Annotated[Principal, Depends(require(Permission.MANAGE_TASKS))]
QueueReader = Annotated[Principal, Depends(require(Permission.READ_QUEUE))]
Stage = Literal["annotate", "review", "adjudicate", "accepted", "closed"]


@router.get("", response_model=TaskPage)
def list_tasks(
    _who: TeamReader,
    db: DbDep,
    stage: Stage | None = None,
    tier: Annotated[int | None, Query(ge=1, le=3)] = None,
    gold: bool | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0, lt=2**63)] = 0,
) -> TaskPage:
    """Tasks, newest first, by stage, tier and gold."""
    with db.transaction("list tasks") as uow:
        items, total = uow.tasks.page(stage=stage, tier=tier, gold=gold, limit=limit, offset=offset)
    return TaskPage(items=[TaskOut.of(t) for t in items], total=total, limit=limit, offset=offset)


@router.get("/queue/priorities", response_model=QueuePrioritiesOut)
def queue_priorities(
    _who: QueueReader,
    active: ActiveDep,
    limit: Annotated[int, Query(ge=1, le=10_000)] = 1000,
) -> QueuePrioritiesOut:
    """The pending tasks (nobody has opened them; not gold, calibration or spot checks) in
    queue order, each with the champion's score of its key frame and the terms of its place in
    the active-learning order (uncertainty, diversity, class balance), the champion and the
    latest re-scoring run of this server."""
    return QueuePrioritiesOut.of(active.queue(), limit)


@router.post("/queue/priorities", response_model=RescoreOut, status_code=202)
def rescore_queue(who: Manager, active: ActiveDep) -> RescoreOut:
    """Re-score every pending task's key frame with the champion now and order the queue
    again; it runs in the background (follow it at ``GET /tasks/queue/priorities``). 409
    while a requested run is going on or when no model is the champion."""
    return RescoreOut.of(active.request(who.name))


@router.get("/{task_id}", response_model=TaskDetailOut)
def task_detail(task_id: TaskId, _who: TeamReader, db: DbDep) -> TaskDetailOut:
    """A task with its routing decision, every label set and every review."""
    with db.transaction(f"read task {task_id}") as uow:
        task = uow.tasks.get(task_id)
        if task is None:
            raise NotFoundError(f"no task with id {task_id}")
        routing = uow.tasks.routing(task_id)
        sets = []
        for s in uow.label_sets.of_task(task_id):
            labels: LabelContent = store.content(uow, s.id)
            sets.append(
                LabelSetOut.of(LabelSetView(s.id, s.source, s.author, s.state, s.version, labels))
            )
        return TaskDetailOut(
            task=TaskOut.of(task),
            routing=None if routing is None else routing.__dict__,
            label_sets=sets,
            reviews=[ReviewOut.of(r) for r in uow.reviews.of_task(task_id)],
        )


@router.post("/sync", response_model=SyncOut)
def sync(_who: Manager, annotation: AnnotationDep) -> SyncOut:
    """Turn every stored frame without a task into one now (the server also does it
    periodically, after ``annotation.settle_s``)."""
    report = annotation.builder.sync(settle=False)
    return SyncOut(
        created=report.created,
        auto_accepted=report.auto_accepted,
        skipped=report.skipped,
        unreadable=report.unreadable,
    )
