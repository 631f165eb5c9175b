"""The task builder: stored frames become pre-labelled, routed annotation tasks.

A frame whose trigger rules include one that is not a ``context:`` rule is a *key frame*; the
context frames the vehicle uploaded around it (same vehicle, within ``context_window_s``) join
its task as a short sequence. Frames are considered once they are ``settle_s`` old, so the
context of a trigger has arrived; context frames no key frame claimed become tasks of their own,
grouped by time, so no uploaded frame is forgotten. Each decision is recorded per frame
(``triage``), which makes :meth:`TaskBuilder.sync` idempotent and safe to run in a loop.

Each task gets the fleet model's detections as a scored pre-label set (tracked across frames)
with point pre-labels, a routing decision (``routing``), and, on tier 1, is accepted at once.
"""

from __future__ import annotations

import logging
import math
import random
import statistics
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy.exc import IntegrityError

from backend.annotation import store
from backend.annotation.labels import LabelContent
from backend.annotation.ontology import Ontology
from backend.annotation.prelabels import prelabel_boxes, prelabel_points
from backend.annotation.routing import Prelabel, RoutingRule, compile_rules, route, signals
from backend.annotation.tasks_rule import compile_task_rule, takes
from backend.config import AnnotationConfig
from backend.metadata.records import FrameRecord
from backend.metadata.repositories.reviews import GoldScoreRecord
from backend.metadata.repositories.tasks import NewTask, RoutingRecord
from backend.metadata.unit_of_work import Database
from backend.storage.base import BlobStore
from core.errors import FormatError
from core.formats.codec import decode_frame
from core.formats.semantic_kitti import PointLabels

log = logging.getLogger(__name__)

CONTEXT_PREFIX = "context:"


@dataclass
class BuildReport:
    """What one sync did."""

    created: list[int] = field(default_factory=list)
    auto_accepted: list[int] = field(default_factory=list)
    skipped: int = 0
    unreadable: int = 0


def is_context(frame: FrameRecord) -> bool:
    """A frame uploaded only as context of another frame's trigger."""
    return bool(frame.rules_fired) and all(r.startswith(CONTEXT_PREFIX) for r in frame.rules_fired)


class TaskBuilder:
    """Turns stored frames into tasks; every dependency is passed in."""

    def __init__(
        self,
        db: Database,
        blobs: BlobStore,
        config: AnnotationConfig,
        clock: Callable[[], datetime],
        rng: random.Random,
    ) -> None:
        self._db = db
        self._blobs = blobs
        self._config = config
        self._clock = clock
        self._rng = rng
        self._task_rule = compile_task_rule(config.task_rule)
        self._rules_for: dict[int, list[RoutingRule]] = {}

    def _routing_rules(self, onto: Ontology) -> list[RoutingRule]:
        if onto.version not in self._rules_for:
            specs = [(r.name, r.when, r.tier, r.overlap) for r in self._config.rules]
            self._rules_for[onto.version] = compile_rules(specs, onto)
        return self._rules_for[onto.version]

    def sync(self, *, settle: bool = True) -> BuildReport:
        """Make tasks of every frame old enough (all frames with ``settle=False``)."""
        now = self._clock()
        cutoff = now - timedelta(seconds=self._config.settle_s) if settle else now + timedelta(1)
        report = BuildReport()
        with self._db.transaction("find frames without a task") as uow:
            frames = uow.frames.get_many(uow.tasks.untriaged_frames(cutoff))
        ordered = sorted(frames.values(), key=lambda f: (f.vehicle, f.captured_at_ns))
        claimed: set[str] = set()
        for frame in ordered:
            if frame.id not in claimed and not is_context(frame):
                claimed |= self._make_task(frame, None, report)
        leftovers = [f for f in ordered if f.id not in claimed]
        for group in self._group_by_time(leftovers):
            claimed |= self._make_task(group[0], group, report)
        if report.created or report.skipped:
            log.info(
                "task builder: %d tasks (%d auto-accepted), %d frames skipped by the task rule",
                len(report.created),
                len(report.auto_accepted),
                report.skipped,
            )
        return report

    def _group_by_time(self, frames: Sequence[FrameRecord]) -> list[list[FrameRecord]]:
        window_ns = int(self._config.context_window_s * 1e9)
        groups: list[list[FrameRecord]] = []
        for frame in frames:
            last = groups[-1][-1] if groups else None
            if (
                last is not None
                and last.vehicle == frame.vehicle
                and frame.captured_at_ns - last.captured_at_ns <= window_ns
            ):
                groups[-1].append(frame)
            else:
                groups.append([frame])
        return groups

    def _members(self, key: FrameRecord) -> list[FrameRecord]:
        window_ns = int(self._config.context_window_s * 1e9)
        with self._db.transaction("find context frames") as uow:
            ids = uow.tasks.untriaged_near(
                key.vehicle, key.captured_at_ns - window_ns, key.captured_at_ns + window_ns
            )
            found = uow.frames.get_many(ids)
        members = [f for f in found.values() if f.id == key.id or is_context(f)]
        return sorted(members, key=lambda f: f.captured_at_ns)

    def _make_task(
        self, key: FrameRecord, group: list[FrameRecord] | None, report: BuildReport
    ) -> set[str]:
        members = group if group is not None else self._members(key)
        if not members:
            return set()
        now = self._clock()
        if not takes(self._task_rule, key):
            try:
                with self._db.transaction(f"skip frame {key.id}") as uow:
                    for frame in members:
                        uow.tasks.triage(frame.id, "skipped", "task_rule", now)
            except IntegrityError:
                return set()  # another builder decided first
            report.skipped += len(members)
            return {f.id for f in members}
        with self._db.transaction("read the ontology") as uow:
            onto = store.ontology(uow)
            recent = uow.tasks.recent_agreement()
            accuracies = _mean_accuracies(uow.reviews.gold_scores())
        boxes = prelabel_boxes(members, onto)
        points: dict[str, PointLabels] = {}
        for frame in members:
            try:
                cloud = decode_frame(self._blobs.get(frame.blob_key), source=f"frame {frame.id}")
            except FormatError as exc:
                log.error("frame %s: payload unreadable, no point pre-labels: %s", frame.id, exc)
                report.unreadable += 1
                continue
            points[frame.id] = prelabel_points(
                cloud, [b for b in boxes if b.frame_id == frame.id], onto
            )
        key_dets = [
            Prelabel(d.class_name, d.confidence, d.scores)
            for d in key.detections
            if d.class_name in onto.by_name
        ]
        values = signals(
            priority=key.priority,
            frames=len(members),
            points=key.num_points,
            frame_scores=key.frame_scores,
            rules_fired=key.rules_fired,
            prelabels=key_dets,
            ontology=onto,
            agreement_recent=math.nan if recent is None else recent,
            accuracy_crowd=statistics.median(accuracies) if accuracies else math.nan,
        )
        decision = route(
            values,
            self._routing_rules(onto),
            default_tier=self._config.default_tier,
            default_overlap=self._config.overlap,
            spot_check_share=self._config.spot_check_share,
            draw=self._rng.random(),
        )
        urgency = 1.0 - values["prelabel.min_confidence"]
        try:
            with self._db.transaction(f"create the task of frame {key.id}") as uow:
                task = uow.tasks.add(
                    NewTask(
                        vehicle=key.vehicle,
                        key_frame_id=key.id,
                        frame_ids=tuple(f.id for f in members),
                        ontology_version=onto.version,
                        stage="accepted" if decision.tier == 1 else "annotate",
                        tier=decision.tier,
                        overlap=decision.overlap,
                        priority=key.priority + urgency,
                        spot_check=decision.spot_check,
                    ),
                    now,
                )
                for frame in members:
                    kind = "task" if frame.id == key.id else "context"
                    uow.tasks.triage(frame.id, kind, f"routed by {decision.rule}", now, task.id)
                uow.tasks.add_routing(
                    RoutingRecord(
                        task.id,
                        decision.rule,
                        decision.tier,
                        decision.overlap,
                        decision.spot_check,
                        {k: v for k, v in values.items() if math.isfinite(v)},
                    ),
                    now,
                )
                model = key.model_version or "fleet-model"
                prelabels = store.new_label_set(
                    uow,
                    task,
                    LabelContent(tuple(boxes), points),
                    source="prelabel",
                    author=model,
                    state="submitted",
                    now=now,
                )
                uow.audit.record(
                    now,
                    "task-builder",
                    "task.created",
                    task_id=task.id,
                    label_set_id=prelabels.id,
                    details={
                        "rule": decision.rule,
                        "tier": decision.tier,
                        "overlap": decision.overlap,
                        "spot_check": decision.spot_check,
                        "frames": list(task.frame_ids),
                    },
                )
                if decision.tier == 1:
                    store.accept(
                        uow,
                        task,
                        prelabels.id,
                        actor="task-builder",
                        reason=f"tier 1 auto-accept ({decision.rule})",
                        now=now,
                    )
                    report.auto_accepted.append(task.id)
        except IntegrityError:
            log.info("frames of %s were taken by another builder", key.id)
            return set()
        report.created.append(task.id)
        return {f.id for f in members}


def _mean_accuracies(scores: Sequence[GoldScoreRecord]) -> list[float]:
    """Each labeller's mean gold accuracy."""
    by_user: dict[str, list[float]] = {}
    for s in scores:
        by_user.setdefault(s.user, []).append(s.accuracy)
    return [statistics.fmean(v) for v in by_user.values()]
