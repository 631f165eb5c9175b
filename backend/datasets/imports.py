"""Existing KITTI and SUSTechPOINTS labels in, for stored frames: as gold tasks or as pre-labels.

:func:`imported_labels` is the pure part: the objects of an upload (``backend.datasets.uploads``)
become ``LabelContent`` boxes under the ontology:

* classes: a type that is an object class of the ontology maps to itself; otherwise the
  format's table (``core.formats.kitti_label.KITTI_TO_LONGTAIL``: Car -> car, Van and Truck ->
  truck, Pedestrian and Person_sitting -> pedestrian, Cyclist -> cyclist, Tram -> bus;
  ``core.formats.sustechpoints.SUSTECH_TO_LONGTAIL``); DontCare and Misc are skipped and
  counted; any other type is refused, every such type named with a file it is in, or, with
  ``unknown="unknown_obstacle"``, labelled ``unknown_obstacle`` and counted;
* tracks: objects with the same track key (SUSTechPOINTS ``obj_id``; a Longtail export's
  per-line track) are one object and share a track id; every other object gets its own. Track
  ids are numbered 1, 2, ... in upload order (the identity is kept, not the numbers);
* box ids ``imp-<first 12 hex digits of the frame id>-<n>``; attributes from the format where it has them (KITTI occlusion and
  truncation), the ontology's defaults otherwise;
* every box is checked (``backend.annotation.labels.validate``: sizes, range, class) and a
  refusal names the file and object it came from.

:class:`LabelImporter` applies them, nothing half-written on bad input (everything is parsed
and checked before anything is stored):

* ``gold``: ``GoldKeeper.create_in`` makes, in one transaction, a gold task per frame
  (``group="frame"``) or one for the whole upload (``group="upload"``: a sequence, tracks
  across its frames);
* ``prelabels``: each frame's task gets one new revision of its pre-label set (in one
  transaction for the whole upload): the imported frames' boxes replace that set's boxes of
  those frames, and their point pre-labels are recomputed from the imported boxes
  (``backend.annotation.prelabels.prelabel_points``); imported track ids are moved above the
  tracks the set keeps for its other frames. Frames without a task yet, and tasks already
  accepted or closed (their pre-labels may be their accepted labels), are refused; a pre-label
  set written by someone else during the import is refused too (409), never merged blindly.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Final, Literal

from backend.annotation import store
from backend.annotation.gold import GoldKeeper
from backend.annotation.labels import (
    BoxLabel,
    FrameFacts,
    LabelContent,
    content_to_json,
    validate,
)
from backend.annotation.ontology import Ontology
from backend.annotation.prelabels import prelabel_points
from backend.datasets.uploads import ParsedFrame, parse_upload
from backend.errors import ConflictError, InvalidInputError, StorageError
from backend.metadata.repositories.tasks import TaskRecord
from backend.metadata.unit_of_work import Database, UnitOfWork
from backend.storage.base import BlobStore
from core.classes import UNKNOWN_OBSTACLE
from core.errors import FormatError
from core.formats.codec import decode_frame
from core.formats.kitti_label import KITTI_TO_LONGTAIL
from core.formats.sustechpoints import SUSTECH_TO_LONGTAIL

log = logging.getLogger(__name__)

Target = Literal["gold", "prelabels"]
Unknown = Literal["refuse", "unknown_obstacle"]
Group = Literal["frame", "upload"]
TARGETS: Final = ("gold", "prelabels")
TABLES: Final[dict[str, Mapping[str, str | None]]] = {
    "kitti": KITTI_TO_LONGTAIL,
    "sustechpoints": SUSTECH_TO_LONGTAIL,
}


@dataclass
class ImportReport:
    """What an import did: the tasks it made or changed, and how the types were read."""

    target: str
    format: str
    frames: int = 0
    boxes: int = 0
    tasks: list[int] = field(default_factory=list)
    #: type as written -> Longtail class, for every type met
    classes: dict[str, str] = field(default_factory=dict)
    #: skipped types (DontCare, Misc) -> objects left out
    skipped: dict[str, int] = field(default_factory=dict)
    #: types with no class, labelled unknown_obstacle on request -> objects
    unknown: dict[str, int] = field(default_factory=dict)


def _class_of(obj_type: str, fmt: str, ontology: Ontology) -> tuple[str | None, bool]:
    """(class or None to skip, whether the type is known)."""
    objects = set(ontology.object_classes)
    if obj_type in objects:
        return obj_type, True
    table = TABLES[fmt]
    if obj_type in table:
        mapped = table[obj_type]
        return mapped, mapped is None or mapped in objects
    return None, False


def imported_labels(
    frames: Sequence[ParsedFrame],
    fmt: str,
    ontology: Ontology,
    facts: Mapping[str, FrameFacts],
    *,
    unknown: Unknown,
    report: ImportReport,
) -> dict[str, list[BoxLabel]]:
    """Checked boxes per frame id (see the module docstring); fills ``report``'s counts."""
    strangers: dict[str, str] = {}
    for frame in frames:
        for obj in frame.objects:
            if not _class_of(obj.type, fmt, ontology)[1]:
                strangers.setdefault(obj.type, obj.source)
    if strangers and unknown == "refuse":
        named = "; ".join(f"{t!r} ({where})" for t, where in sorted(strangers.items()))
        raise InvalidInputError(
            f"types with no class in ontology v{ontology.version}: {named}; map them with "
            "unknown=unknown_obstacle, or leave them out"
        )
    tracks: dict[str, int] = {}
    skipped: Counter[str] = Counter()
    unknowns: Counter[str] = Counter()
    out: dict[str, list[BoxLabel]] = {}
    count = 0
    for frame in frames:
        boxes = out.setdefault(frame.frame_id, [])
        for number, obj in enumerate(frame.objects, start=1):
            name, known = _class_of(obj.type, fmt, ontology)
            if not known:
                name = UNKNOWN_OBSTACLE
                unknowns[obj.type] += 1
            if name is None:
                skipped[obj.type] += 1
                continue
            report.classes[obj.type] = name
            count += 1
            key = obj.track if obj.track is not None else f"box {count}"
            track = tracks.setdefault(key, len(tracks) + 1)
            box_id = (
                f"imp-{frame.frame_id[:12]}-{number}"  # unique per frame: imports replace frames
            )
            box = BoxLabel(box_id, frame.frame_id, track, name, obj.box, dict(obj.attributes))
            try:
                checked = validate(
                    LabelContent((box,)), ontology, {frame.frame_id: facts[frame.frame_id]}
                )
            except InvalidInputError as exc:
                raise InvalidInputError(f"{obj.source}: {exc}") from None
            boxes.append(checked.boxes[0])
    report.frames = len(out)
    report.boxes = count
    report.skipped = dict(sorted(skipped.items()))
    report.unknown = dict(sorted(unknowns.items()))
    return out


@dataclass(frozen=True)
class _PrelabelPlan:
    """A task's pre-label set as read before an import writes it."""

    label_set: int
    version: int
    content: LabelContent
    ontology: Ontology
    track_offset: int


class LabelImporter:
    """Imports label files for stored frames (see the module docstring)."""

    def __init__(
        self,
        db: Database,
        blobs: BlobStore,
        gold: GoldKeeper,
        clock: Callable[[], datetime],
    ) -> None:
        self._db = db
        self._blobs = blobs
        self._gold = gold
        self._clock = clock

    def run(
        self,
        files: Mapping[str, bytes],
        *,
        fmt: str,
        target: str,
        author: str,
        unknown: Unknown = "refuse",
        calibration: bool = False,
        group: Group = "frame",
    ) -> ImportReport:
        """Import the label files of an upload (``backend.datasets.uploads.read_files``)."""
        if target not in TARGETS:
            raise InvalidInputError(f"target {target!r} is not one of {', '.join(TARGETS)}")
        parsed = parse_upload(files, fmt)
        report = ImportReport(target=target, format=fmt)
        with self._db.transaction("read the frames of an import") as uow:
            ids = [f.frame_id for f in parsed]
            stored = uow.frames.get_many(ids)
            missing = [f for f in parsed if f.frame_id not in stored]
            if missing:
                raise InvalidInputError(
                    f"{missing[0].source}: frame {missing[0].frame_id} is not stored"
                    + (f" (and {len(missing) - 1} more)" if len(missing) > 1 else "")
                )
            ontology = store.ontology(uow)
        facts = {i: FrameFacts(stored[i].num_points, stored[i].sensor_max_range_m) for i in ids}
        boxes = imported_labels(parsed, fmt, ontology, facts, unknown=unknown, report=report)
        if target == "gold":
            self._gold_tasks(
                parsed, boxes, report, calibration=calibration, author=author, group=group
            )
        else:
            self._prelabels(parsed, boxes, report, author=author)
        log.info(
            "imported %d boxes of %d frames (%s) as %s: tasks %s",
            report.boxes,
            report.frames,
            fmt,
            target,
            report.tasks,
        )
        return report

    def _gold_tasks(
        self,
        parsed: Sequence[ParsedFrame],
        boxes: Mapping[str, list[BoxLabel]],
        report: ImportReport,
        *,
        calibration: bool,
        author: str,
        group: Group,
    ) -> None:
        groups = (
            [[f.frame_id] for f in parsed] if group == "frame" else [[f.frame_id for f in parsed]]
        )
        # one transaction: an upload becomes all its gold tasks or none
        with self._db.transaction("create the gold tasks of an import") as uow:
            for frame_ids in groups:
                labels = LabelContent(tuple(b for fid in frame_ids for b in boxes[fid]))
                task = self._gold.create_in(
                    uow,
                    frame_ids,
                    content_to_json(labels),
                    calibration=calibration,
                    author=author,
                    now=self._clock(),
                )
                report.tasks.append(task.id)

    def _task_of(self, frame_id: str, source: str, tasks: Sequence[TaskRecord]) -> TaskRecord:
        own = [t for t in tasks if not t.is_gold]
        if not own:
            raise InvalidInputError(
                f"{source}: frame {frame_id} has no task yet (the task builder has not reached "
                "it): import it as gold, or sync tasks first"
            )
        task = own[0]
        if task.stage in ("accepted", "closed"):
            raise ConflictError(
                f"{source}: task {task.id} of frame {frame_id} is {task.stage}; its pre-labels "
                "are not changed any more"
            )
        return task

    def _prelabels(
        self,
        parsed: Sequence[ParsedFrame],
        boxes: Mapping[str, list[BoxLabel]],
        report: ImportReport,
        *,
        author: str,
    ) -> None:
        # read: each frame's task and its pre-label set (the version it is at is checked again
        # when writing, so an import racing another write is refused, never merged blindly)
        with self._db.transaction("find the tasks of imported frames") as uow:
            owner: dict[str, TaskRecord] = {}
            for frame in parsed:
                found = [uow.tasks.require(i) for i in uow.tasks.tasks_of_frame(frame.frame_id)]
                owner[frame.frame_id] = self._task_of(frame.frame_id, frame.source, found)
            stored = uow.frames.get_many([f.frame_id for f in parsed])
            plans = {t.id: self._plan(uow, t, owner) for t in owner.values()}
        # imported tracks go above the tracks the task keeps, so they never merge with them
        shifted = {
            fid: [replace(b, track_id=b.track_id + plans[task.id].track_offset) for b in boxes[fid]]
            for fid, task in owner.items()
        }
        points = {}
        for fid, task in owner.items():
            try:
                cloud = decode_frame(self._blobs.get(stored[fid].blob_key), source=f"frame {fid}")
            except FormatError as exc:
                raise StorageError(f"frame {fid}: stored payload unreadable: {exc}") from exc
            points[fid] = prelabel_points(cloud, shifted[fid], plans[task.id].ontology)
        now = self._clock()
        with self._db.transaction("store imported pre-labels") as uow:
            for task_id, plan in sorted(plans.items()):
                task = uow.tasks.require(task_id, for_update=True)
                self._task_of(task.key_frame_id, f"task {task_id}", [task])  # still open?
                label_set = uow.label_sets.require(plan.label_set, for_update=True)
                if label_set.version != plan.version:
                    raise ConflictError(
                        f"the pre-labels of task {task_id} changed during the import (version "
                        f"{plan.version} -> {label_set.version}); import again"
                    )
                replaced = {f for f, t in owner.items() if t.id == task_id}
                frame_ids = [f for f in task.frame_ids if f in replaced]
                merged = LabelContent(
                    tuple(b for b in plan.content.boxes if b.frame_id not in replaced)
                    + tuple(b for f in frame_ids for b in shifted[f]),
                    {
                        **{k: v for k, v in plan.content.points.items() if k not in replaced},
                        **{f: points[f] for f in frame_ids},
                    },
                )
                version = store.write_revision(
                    uow,
                    label_set,
                    validate(merged, plan.ontology, store.frame_facts(uow, task)),
                    task.frame_ids,
                    base_version=label_set.version,
                    author=f"import:{author}",
                    draft=False,
                    now=now,
                )
                uow.audit.record(
                    now,
                    author,
                    "prelabels.imported",
                    task_id=task.id,
                    label_set_id=label_set.id,
                    version=version,
                    details={
                        "frames": frame_ids,
                        "format": report.format,
                        "boxes": sum(len(shifted[f]) for f in frame_ids),
                    },
                )
                report.tasks.append(task.id)

    def _plan(
        self, uow: UnitOfWork, task: TaskRecord, owner: Mapping[str, TaskRecord]
    ) -> _PrelabelPlan:
        sets = uow.label_sets.of_task(task.id, "prelabel")
        if not sets:
            raise ConflictError(f"task {task.id} has no pre-label set")
        content = store.content(uow, sets[0].id)
        replaced = {f for f, t in owner.items() if t.id == task.id}
        kept = [b.track_id for b in content.boxes if b.frame_id not in replaced]
        return _PrelabelPlan(
            label_set=sets[0].id,
            version=sets[0].version,
            content=content,
            ontology=store.ontology(uow, task.ontology_version),
            track_offset=max(kept, default=0),
        )
