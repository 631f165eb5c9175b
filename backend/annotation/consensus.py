"""Consensus of an overlap task: k people labelled the same frames independently.

1. Per frame, the boxes of the k annotators are grouped into objects with the matcher (``qa``).
2. Each object's class comes from Dawid-Skene over every class vote the crowd has cast (this
   task's and earlier ones', gold answers pinned), so a reliable annotator outweighs a careless
   one; the plain majority is recorded beside it for comparison.
3. Each object's box is fused (median centre and size, circular mean heading); objects found by
   fewer than half of the annotators are left out of the consensus and counted as disagreement.
4. Points: a per-point majority weighted by each annotator's gold accuracy.
5. Agreement (0..1) is the mean pairwise matched F1 of the annotators; below
   ``min_agreement`` the task goes to the senior panel with the consensus as a proposal.
"""

from __future__ import annotations

import logging
import statistics
from collections.abc import Callable
from datetime import datetime

from backend.annotation import store
from backend.annotation.aggregation import dawid_skene
from backend.annotation.labels import BoxLabel, LabelContent
from backend.annotation.qa_adapter import (
    fuse_group,
    group_boxes,
    pairwise_agreement,
    point_consensus,
)
from backend.annotation.workflow import ConsensusOutcome, submitted_annotations
from backend.config import AnnotationConfig
from backend.metadata.repositories.reviews import VoteRecord
from backend.metadata.repositories.tasks import TaskRecord
from backend.metadata.unit_of_work import UnitOfWork
from core.formats.semantic_kitti import PointLabels

log = logging.getLogger(__name__)

#: accuracy assumed for a person with no gold score yet (weights of the point majority)
PRIOR_ACCURACY = 0.7


class ConsensusMaker:
    """The workflow's ``ConsensusHook``."""

    def __init__(self, config: AnnotationConfig, clock: Callable[[], datetime]) -> None:
        self._config = config
        self._clock = clock

    def build(self, uow: UnitOfWork, task: TaskRecord, now: datetime) -> ConsensusOutcome:
        """Fuse the submitted annotations of ``task`` into a new ``consensus`` label set."""
        onto = store.ontology(uow, task.ontology_version)
        assignments = submitted_annotations(uow, task)
        labels: dict[str, LabelContent] = {}
        for a in assignments:
            assert a.label_set_id is not None
            labels[a.user] = store.content(uow, a.label_set_id)
        workers = sorted(labels)
        fused: list[BoxLabel] = []
        votes: list[VoteRecord] = []
        groups_meta: list[tuple[str, dict[str, BoxLabel]]] = []
        dropped = 0
        next_track = 1
        for frame_id in task.frame_ids:
            per_worker = {w: labels[w].boxes_of(frame_id) for w in workers}
            for index, members in enumerate(group_boxes(per_worker, onto, self._config)):
                item = f"task:{task.id}:{frame_id[:12]}:{index}"
                if 2 * len(members) < len(workers):
                    dropped += 1
                    continue
                groups_meta.append((item, members))
                votes.extend(
                    VoteRecord(item, task.id, w, b.class_name, None) for w, b in members.items()
                )
        uow.votes.add(votes, now)
        history = uow.votes.recent()
        aggregated = dawid_skene(
            [(v.item, v.worker, v.label) for v in history],
            gold={v.item: v.truth for v in history if v.truth is not None},
        )
        majority_changed = 0
        for item, members in groups_meta:
            box = fuse_group(list(members.values()))
            ds_class = aggregated.labels.get(item)
            ds_class = None if ds_class is None else str(ds_class)
            majority = statistics.mode(sorted(b.class_name for b in members.values()))
            chosen = ds_class or majority
            majority_changed += int(chosen != majority)
            first = next(iter(members.values()))
            fused.append(
                BoxLabel(
                    id=f"c{len(fused)}",
                    frame_id=first.frame_id,
                    track_id=next_track,
                    class_name=chosen,
                    box=box,
                    attributes=dict(first.attributes),
                )
            )
            next_track += 1
        fused = _link_tracks(fused, groups_meta)
        accuracy = _accuracies(uow, workers)
        points: dict[str, PointLabels] = {}
        for frame_id in task.frame_ids:
            given = {w: labels[w].points[frame_id] for w in workers if frame_id in labels[w].points}
            if len(given) >= 2:
                points[frame_id] = point_consensus(given, accuracy)
        agreement = pairwise_agreement(
            [labels[w] for w in workers], task.frame_ids, onto, self._config
        )
        proposal = store.new_label_set(
            uow,
            task,
            LabelContent(tuple(fused), points),
            source="consensus",
            author="consensus",
            state="submitted",
            now=now,
        )
        return ConsensusOutcome(
            label_set_id=proposal.id,
            agreement=agreement,
            escalate=agreement < self._config.min_agreement,
            details={
                "annotators": workers,
                "objects": len(fused),
                "minority_objects_dropped": dropped,
                "classes": {
                    item: {
                        "dawid_skene": str(aggregated.labels.get(item)),
                        "majority": statistics.mode(sorted(b.class_name for b in m.values())),
                    }
                    for item, m in groups_meta
                },
                "dawid_skene_overrode_majority": majority_changed,
            },
        )


def _link_tracks(
    fused: list[BoxLabel], groups: list[tuple[str, dict[str, BoxLabel]]]
) -> list[BoxLabel]:
    """Give fused objects of different frames one track when most annotators said so."""
    from dataclasses import replace

    track_of: dict[tuple[str, int], int] = {}
    out: list[BoxLabel] = []
    for box, (_, members) in zip(fused, groups, strict=True):
        keys = [(w, b.track_id) for w, b in members.items()]
        known = [track_of[k] for k in keys if k in track_of]
        track = statistics.mode(known) if known else box.track_id
        for k in keys:
            track_of.setdefault(k, track)
        out.append(replace(box, track_id=track))
    return out


def _accuracies(uow: UnitOfWork, workers: list[str]) -> dict[str, float]:
    scores = uow.reviews.gold_scores()
    out = {}
    for w in workers:
        mine = [s.accuracy for s in scores if s.user == w]
        out[w] = statistics.fmean(mine) if mine else PRIOR_ACCURACY
    return out
