"""What a build reads: a snapshot of the accepted tasks that pass the filters, with their labels
and provenance, and the manifest made of it (``backend.datasets.manifest``).

The snapshot is taken in one read transaction, so the manifest is consistent: every task's
accepted label set and content, its routing decision, who labelled, edited, reviewed,
adjudicated and accepted it (assignments, reviews, the audit log), and the records of its
frames. Gold and hidden-review tasks (``is_gold``) are never taken.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import numpy as np

from backend.annotation import store
from backend.annotation.labels import LabelContent, digest
from backend.annotation.ontology import Ontology
from backend.datasets.manifest import FrameEntry, Manifest, TaskEntry, make_manifest
from backend.errors import InvalidInputError
from backend.metadata.records import FrameRecord
from backend.metadata.repositories.audit import AuditRecord
from backend.metadata.repositories.label_sets import LabelSetRecord
from backend.metadata.repositories.tasks import TaskRecord
from backend.metadata.unit_of_work import Database, UnitOfWork

#: tasks read per query while taking the snapshot
PAGE = 500


@dataclass(frozen=True)
class DatasetFilter:
    """Which accepted tasks a version takes; empty tuples and None mean "no filter".

    ``captured_*_ns``: capture time of the task's key frame (ns, from inclusive, to exclusive);
    ``accepted_*``: when the task was accepted (from inclusive, to exclusive); ``classes``: the
    accepted labels hold a box of one of them or a point labelled with one of them."""

    vehicles: tuple[str, ...] = ()
    tiers: tuple[int, ...] = ()
    classes: tuple[str, ...] = ()
    captured_from_ns: int | None = None
    captured_to_ns: int | None = None
    accepted_from: datetime | None = None
    accepted_to: datetime | None = None

    def check(self, ontology: Ontology) -> None:
        """InvalidInputError naming the first filter value that cannot match anything."""
        for tier in self.tiers:
            if tier not in (1, 2, 3):
                raise InvalidInputError(f"tiers: {tier!r} is not a tier (1, 2 or 3)")
        known = ontology.by_name
        for name in self.classes:
            if name not in known:
                raise InvalidInputError(
                    f"classes: {name!r} is not a class of ontology v{ontology.version} "
                    f"(known: {', '.join(sorted(known))})"
                )
        if (
            self.captured_from_ns is not None
            and self.captured_to_ns is not None
            and self.captured_from_ns >= self.captured_to_ns
        ):
            raise InvalidInputError(
                f"captured_from_ns {self.captured_from_ns} must be before captured_to_ns "
                f"{self.captured_to_ns}"
            )
        if (
            self.accepted_from is not None
            and self.accepted_to is not None
            and self.accepted_from >= self.accepted_to
        ):
            raise InvalidInputError(
                f"accepted_from {self.accepted_from.isoformat()} must be before accepted_to "
                f"{self.accepted_to.isoformat()}"
            )

    def as_json(self) -> dict[str, Any]:
        """The filters that are set (the audit record of a build)."""
        out: dict[str, Any] = {}
        for key, value in self.__dict__.items():
            if value is None or value == ():
                continue
            out[key] = value.isoformat() if isinstance(value, datetime) else value
        return out


@dataclass
class TaskSnapshot:
    """One accepted task as a build sees it."""

    task: TaskRecord
    label_set: LabelSetRecord
    content: LabelContent
    routing_rule: str | None
    provenance: dict[str, Any] = field(default_factory=dict)


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.astimezone(UTC).isoformat()


def _provenance(uow: UnitOfWork, task: TaskRecord, accepted_set: int) -> dict[str, Any]:
    """Who labelled, edited, reviewed, adjudicated and accepted the task's labels."""
    assignments = uow.assignments.of_task(task.id)
    events: list[AuditRecord] = []
    while True:
        page = uow.audit.list(task_id=task.id, limit=1000, offset=len(events))
        events.extend(page)
        if len(page) < 1000:
            break
    accepted = [e for e in events if e.action == "task.accepted" and e.label_set_id == accepted_set]
    last = accepted[-1] if accepted else None
    return {
        "accepted": {
            "by": None if last is None else last.actor,
            "reason": None if last is None else last.details.get("reason"),
            "at": _iso(task.accepted_at),
        },
        "annotators": [
            {"user": a.user, "label_set": a.label_set_id, "round": a.round}
            for a in assignments
            if a.stage == "annotate" and a.state == "submitted"
        ],
        "edited_by": sorted(
            {
                e.actor
                for e in events
                if e.action.startswith("labels.saved") and e.label_set_id == accepted_set
            }
        ),
        "reviews": [
            {
                "reviewer": r.reviewer,
                "annotator": r.annotator,
                "decision": r.decision,
                "label_set": r.label_set_id,
                "round": r.round,
                "reasons": list(r.reasons),
            }
            for r in uow.reviews.of_task(task.id)
        ],
        "adjudicated_by": sorted(
            {a.user for a in assignments if a.stage == "adjudicate" and a.state == "submitted"}
        ),
    }


def _within(value: Any, low: Any | None, high: Any | None) -> bool:
    """``low <= value < high``, an open end where a bound is None."""
    return (low is None or value >= low) and (high is None or value < high)


def _has_class(content: LabelContent, names: set[str], point_ids: set[int]) -> bool:
    if any(b.class_name in names for b in content.boxes):
        return True
    return any(np.isin(p.semantic, list(point_ids)).any() for p in content.points.values())


def take_snapshot(
    db: Database, filters: DatasetFilter
) -> tuple[list[TaskSnapshot], dict[str, FrameRecord]]:
    """Every accepted, non-gold task passing ``filters`` and the records of their frames;
    InvalidInputError naming a filter value that cannot match (``DatasetFilter.check``)."""
    snapshots: list[TaskSnapshot] = []
    frames: dict[str, FrameRecord] = {}
    with db.transaction("take a snapshot of the accepted tasks") as uow:
        ontology = store.ontology(uow)
        filters.check(ontology)
        names = set(filters.classes)
        point_ids = {ontology.by_name[n].point_id for n in names}
        offset = 0
        while True:
            page, _ = uow.tasks.page(stage="accepted", gold=False, limit=PAGE, offset=offset)
            offset += len(page)
            for task in page:
                snap = _take(uow, task, filters, names, point_ids, frames)
                if snap is not None:
                    snapshots.append(snap)
            if len(page) < PAGE:
                break
    return snapshots, frames


def _take(
    uow: UnitOfWork,
    task: TaskRecord,
    filters: DatasetFilter,
    names: set[str],
    point_ids: set[int],
    frames: dict[str, FrameRecord],
) -> TaskSnapshot | None:
    if task.is_gold or task.accepted_label_set_id is None:
        return None
    if filters.tiers and task.tier not in filters.tiers:
        return None
    if filters.vehicles and task.vehicle not in filters.vehicles:
        return None
    if task.accepted_at is not None and not _within(
        task.accepted_at, filters.accepted_from, filters.accepted_to
    ):
        return None
    found = uow.frames.get_many(list(task.frame_ids))
    key = found.get(task.key_frame_id)
    if key is None:
        return None
    if not _within(key.captured_at_ns, filters.captured_from_ns, filters.captured_to_ns):
        return None
    content = store.content(uow, task.accepted_label_set_id)
    if names and not _has_class(content, names, point_ids):
        return None
    frames.update(found)
    routing = uow.tasks.routing(task.id)
    return TaskSnapshot(
        task=task,
        label_set=uow.label_sets.require(task.accepted_label_set_id),
        content=content,
        routing_rule=None if routing is None else routing.rule,
        provenance=_provenance(uow, task, task.accepted_label_set_id),
    )


def manifest_of(
    snapshots: Sequence[TaskSnapshot], frames: dict[str, FrameRecord]
) -> tuple[Manifest, bytes, str]:
    """The manifest of a snapshot, its canonical bytes and their SHA-256."""
    # a frame in two selected tasks takes the labels of the one accepted last
    owner: dict[str, TaskSnapshot] = {}
    for snap in sorted(
        snapshots, key=lambda s: (s.task.accepted_at or s.task.updated_at, s.task.id)
    ):
        for fid in snap.task.frame_ids:
            if fid in frames:
                owner[fid] = snap
    entries = [
        FrameEntry(
            index=0,
            id=fid,
            blob_key=frames[fid].blob_key,
            payload_bytes=frames[fid].payload_size,
            num_points=frames[fid].num_points,
            vehicle=frames[fid].vehicle,
            captured_at_ns=frames[fid].captured_at_ns,
            pose={k: float(v) for k, v in frames[fid].pose.items() if math.isfinite(v)},
            sensor=frames[fid].sensor_name,
            task=snap.task.id,
        )
        for fid, snap in owner.items()
    ]
    tasks = [
        TaskEntry(
            id=s.task.id,
            vehicle=s.task.vehicle,
            frames=s.task.frame_ids,
            tier=s.task.tier,
            overlap=s.task.overlap,
            routing_rule=s.routing_rule,
            spot_check=s.task.spot_check,
            ontology_version=s.task.ontology_version,
            label_set=s.label_set.id,
            source=s.label_set.source,
            author=s.label_set.author,
            revision=s.label_set.version,
            labels_sha256=digest(s.content),
            provenance=s.provenance,
        )
        for s in snapshots
    ]
    by_class: dict[str, int] = defaultdict(int)
    with_points = 0
    for fid, snap in owner.items():
        for box in snap.content.boxes_of(fid):
            by_class[box.class_name] += 1
        with_points += fid in snap.content.points
    tiers: dict[str, int] = defaultdict(int)
    for s in snapshots:
        tiers[str(s.task.tier)] += 1
    summary = {
        "frames": len(entries),
        "tasks": len(tasks),
        "boxes": sum(by_class.values()),
        "boxes_by_class": dict(sorted(by_class.items())),
        "frames_with_point_labels": with_points,
        "tiers": dict(sorted(tiers.items())),
        "vehicles": sorted({e.vehicle for e in entries}),
    }
    return make_manifest(entries, tasks, summary)
