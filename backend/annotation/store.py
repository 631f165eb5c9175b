"""The annotation stage's operations on one unit of work, shared by its services: ontologies,
label-set content in and out of revisions, acceptance of a task, and events.

Each function takes the open unit of work, so a service composes them into one transaction.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from backend.annotation.labels import (
    FrameFacts,
    LabelContent,
    box_from_json,
    digest,
    loaded_points,
    stored_points,
)
from backend.annotation.ontology import Ontology, default_ontology
from backend.errors import NotFoundError, StaleVersionError
from backend.metadata.repositories.label_sets import LabelSetRecord
from backend.metadata.repositories.tasks import TaskRecord
from backend.metadata.unit_of_work import Database, UnitOfWork

#: the events webhooks can subscribe to
EVENTS = ("label.accepted", "dataset.created", "qa.alert", "task.escalated")


def ensure_default_ontology(db: Database, now: datetime) -> None:
    """Store ontology version 1 if the database has none (idempotent)."""
    with db.transaction("store the default ontology") as uow:
        if uow.ontologies.latest_version() is None:
            uow.ontologies.add(1, default_ontology().document(), "system", now)


def ontology(uow: UnitOfWork, version: int | None = None) -> Ontology:
    """Ontology ``version`` (the latest if None)."""
    if version is None:
        version = uow.ontologies.latest_version()
        if version is None:
            return default_ontology()
    document = uow.ontologies.get(version)
    if document is None:
        raise NotFoundError(f"no ontology version {version}")
    return Ontology.from_document(document)


def frame_facts(uow: UnitOfWork, task: TaskRecord) -> dict[str, FrameFacts]:
    """Point count and sensor range of each frame of ``task``."""
    frames = uow.frames.get_many(list(task.frame_ids))
    return {
        fid: FrameFacts(frames[fid].num_points, frames[fid].sensor_max_range_m)
        for fid in task.frame_ids
        if fid in frames
    }


def content(uow: UnitOfWork, label_set_id: int, version: int | None = None) -> LabelContent:
    """The content of a label set at ``version`` (the latest if None; empty if it has none)."""
    revision = uow.label_sets.revision(label_set_id, version)
    if revision is None:
        return LabelContent()
    return LabelContent(
        tuple(box_from_json(b, i) for i, b in enumerate(revision.boxes)),
        loaded_points(revision.points, revision.point_counts),
    )


def write_revision(
    uow: UnitOfWork,
    label_set: LabelSetRecord,
    labels: LabelContent,
    frame_order: Sequence[str],
    *,
    base_version: int,
    author: str,
    draft: bool,
    now: datetime,
) -> int:
    """Append a revision to ``label_set`` if it is still at ``base_version``; StaleVersionError
    (carrying the current version) if someone saved in between. Returns the new version."""
    current = uow.label_sets.require(label_set.id, for_update=True)
    if current.version != base_version:
        raise StaleVersionError(
            f"label set {label_set.id} is at version {current.version}; this save started "
            f"from version {base_version}: reload, merge and save again",
            current_version=current.version,
        )
    points, counts = stored_points(labels, frame_order)
    return uow.label_sets.add_revision(
        label_set.id,
        base_version,
        [b.to_json() for b in labels.boxes],
        points,
        counts,
        draft=draft,
        author=author,
        digest=digest(labels),
        now=now,
    )


def new_label_set(
    uow: UnitOfWork,
    task: TaskRecord,
    labels: LabelContent,
    *,
    source: str,
    author: str,
    state: str,
    now: datetime,
    assignment_id: int | None = None,
) -> LabelSetRecord:
    """A new label set of ``task`` holding ``labels`` as its first revision."""
    created = uow.label_sets.add(task.id, source, author, state, now, assignment_id)
    write_revision(
        uow, created, labels, task.frame_ids, base_version=0, author=author, draft=False, now=now
    )
    return uow.label_sets.require(created.id)


def emit(uow: UnitOfWork, event: str, payload: dict[str, Any], now: datetime) -> None:
    """Queue ``event`` for its webhook subscribers in the same transaction as its cause."""
    assert event in EVENTS, event
    uow.webhooks.enqueue(event, {"event": event, "at": now.isoformat(), **payload}, now)


def accept(
    uow: UnitOfWork,
    task: TaskRecord,
    label_set_id: int,
    *,
    actor: str,
    reason: str,
    now: datetime,
) -> TaskRecord:
    """Make ``label_set_id`` the task's accepted labels and close the task."""
    uow.label_sets.set_state(label_set_id, "accepted", now)
    accepted = uow.tasks.update(
        task.id, now, stage="accepted", accepted_label_set_id=label_set_id, accepted_at=now
    )
    uow.audit.record(
        now,
        actor,
        "task.accepted",
        task_id=task.id,
        label_set_id=label_set_id,
        details={"reason": reason, "tier": task.tier},
    )
    emit(
        uow,
        "label.accepted",
        {
            "task_id": task.id,
            "label_set_id": label_set_id,
            "tier": task.tier,
            "frames": list(task.frame_ids),
            "reason": reason,
        },
        now,
    )
    return accepted
