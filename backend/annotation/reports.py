"""QA figures of the annotation stage, per person, per tier and per batch, from the stored
records (assignments, label sets, reviews, gold scores, class votes, tasks).

Per person: tasks and boxes submitted, active hours (lease to submit), boxes and tasks per hour,
mean gold accuracy, agreement with the consensus of the overlap tasks they labelled, the share
of their submissions reviewers rejected, and (reviewers) their reviews per active review hour
(lease to decision) and the share of right decisions on hidden gold reviews. Per tier: tasks, accepted, time-to-decision (creation to acceptance), and the age
of the tasks still waiting. Per batch (every overlap task so far): Fleiss' kappa and
Krippendorff's alpha of the class votes, Cohen's kappa per annotator pair, and Krippendorff's
alpha (interval) of the box parameters.

Computed from every record on each call: fine for a labelling team's history (thousands of
tasks); a larger deployment would keep these figures incrementally.
"""

from __future__ import annotations

import itertools
import math
import statistics
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

import numpy as np

from backend.annotation import store
from backend.annotation.qa.agreement import (
    category_counts,
    cohen_kappa,
    encode_nominal,
    fleiss_kappa,
    krippendorff_alpha,
)
from backend.annotation.qa_adapter import group_boxes, score_labels
from backend.config import AnnotationConfig
from backend.metadata.repositories.reviews import VoteRecord
from backend.metadata.unit_of_work import UnitOfWork

#: the box parameters whose interval agreement is reported
BOX_PARAMETERS = ("x", "y", "z", "l", "w", "h")


@dataclass(frozen=True)
class PersonFigures:
    """One person's figures (NaN where there is nothing to measure yet)."""

    name: str
    role: str
    calibration: str
    tasks_submitted: int
    boxes_submitted: int
    active_hours: float
    boxes_per_hour: float
    tasks_per_hour: float
    gold_tasks: int
    gold_accuracy: float
    consensus_agreement: float
    reviewed_submissions: int
    rejection_rate: float
    reviews_done: int
    review_hours: float
    reviews_per_hour: float
    reviewer_gold_checks: int
    reviewer_accuracy: float


@dataclass(frozen=True)
class TierFigures:
    """One tier's throughput and latency (seconds)."""

    tier: int
    tasks: int
    accepted: int
    waiting: int
    time_to_decision_p50_s: float
    time_to_decision_p90_s: float
    queue_age_p50_s: float
    queue_age_max_s: float


@dataclass(frozen=True)
class BatchAgreement:
    """Agreement of the overlap annotations so far."""

    items: int
    fleiss_kappa: float
    krippendorff_alpha_class: float
    cohen_kappa: dict[str, float] = field(default_factory=dict)
    krippendorff_alpha_box: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class QaReport:
    """Everything above, with when it was computed."""

    at: datetime
    people: list[PersonFigures]
    tiers: list[TierFigures]
    batch: BatchAgreement
    stages: dict[str, int]
    routing: dict[str, int]

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _mean(values: Sequence[float]) -> float:
    finite = [v for v in values if math.isfinite(v)]
    return statistics.fmean(finite) if finite else math.nan


def _quantile(values: Sequence[float], q: float) -> float:
    return float(np.quantile(values, q)) if values else math.nan


def report(uow: UnitOfWork, config: AnnotationConfig, now: datetime) -> QaReport:
    """Compute the whole report inside one unit of work (a consistent snapshot)."""
    tasks = uow.tasks.all()
    assignments = uow.assignments.all()
    reviews = uow.reviews.all()
    gold = uow.reviews.gold_scores(kind=None)
    by_task = {t.id: t for t in tasks}

    boxes_of_set: dict[int, int] = {}
    for a in assignments:
        if a.stage == "annotate" and a.state == "submitted" and a.label_set_id is not None:
            revision = uow.label_sets.revision(a.label_set_id)
            boxes_of_set[a.label_set_id] = 0 if revision is None else len(revision.boxes)

    consensus_scores: dict[str, list[float]] = defaultdict(list)
    for task in tasks:
        if task.overlap < 2 or task.agreement is None:
            continue
        proposal = [s for s in uow.label_sets.of_task(task.id) if s.source == "consensus"]
        if not proposal:
            continue
        reference = store.content(uow, proposal[-1].id)
        onto = store.ontology(uow, task.ontology_version)
        for s in uow.label_sets.of_task(task.id, source="annotator"):
            if s.state in ("submitted", "accepted"):
                given = store.content(uow, s.id)
                consensus_scores[s.author].append(
                    score_labels(given, reference, onto, config).accuracy
                )

    people = []
    for person in uow.people.list():
        mine = [
            a
            for a in assignments
            if a.user == person.name
            and a.stage == "annotate"
            and a.state == "submitted"
            and a.submitted_at is not None
        ]
        hours = (
            sum((a.submitted_at - a.leased_at).total_seconds() for a in mine if a.submitted_at)
            / 3600
        )
        boxes = sum(boxes_of_set.get(a.label_set_id or -1, 0) for a in mine)
        judged = [
            a
            for a in assignments
            if a.user == person.name
            and a.stage == "review"
            and a.state == "submitted"
            and a.submitted_at is not None
        ]
        review_hours = (
            sum((a.submitted_at - a.leased_at).total_seconds() for a in judged if a.submitted_at)
            / 3600
        )
        reviewed = [r for r in reviews if r.annotator == person.name]
        golds = [g for g in gold if g.user == person.name and g.kind == "annotation"]
        checks = [g for g in gold if g.user == person.name and g.kind == "review"]
        people.append(
            PersonFigures(
                name=person.name,
                role=person.role,
                calibration=person.calibration,
                tasks_submitted=len(mine),
                boxes_submitted=boxes,
                active_hours=hours,
                boxes_per_hour=boxes / hours if hours > 0 else math.nan,
                tasks_per_hour=len(mine) / hours if hours > 0 else math.nan,
                gold_tasks=len(golds),
                gold_accuracy=_mean([g.accuracy for g in golds]),
                consensus_agreement=_mean(consensus_scores.get(person.name, [])),
                reviewed_submissions=len(reviewed),
                rejection_rate=(
                    sum(r.decision == "reject" for r in reviewed) / len(reviewed)
                    if reviewed
                    else math.nan
                ),
                reviews_done=sum(r.reviewer == person.name for r in reviews),
                review_hours=review_hours,
                reviews_per_hour=len(judged) / review_hours if review_hours > 0 else math.nan,
                reviewer_gold_checks=len(checks),
                reviewer_accuracy=_mean([g.accuracy for g in checks]),
            )
        )

    tiers = []
    real = [t for t in tasks if not t.is_gold]
    for tier in (1, 2, 3):
        mine_t = [t for t in real if t.tier == tier]
        decided = [
            (t.accepted_at - t.created_at).total_seconds()
            for t in mine_t
            if t.accepted_at is not None
        ]
        waiting = [(now - t.created_at).total_seconds() for t in mine_t if t.stage != "accepted"]
        tiers.append(
            TierFigures(
                tier=tier,
                tasks=len(mine_t),
                accepted=len(decided),
                waiting=len(waiting),
                time_to_decision_p50_s=_quantile(decided, 0.5),
                time_to_decision_p90_s=_quantile(decided, 0.9),
                queue_age_p50_s=_quantile(waiting, 0.5),
                queue_age_max_s=max(waiting) if waiting else math.nan,
            )
        )
    return QaReport(
        at=now,
        people=people,
        tiers=tiers,
        batch=batch_agreement(uow, [t for t in real if t.overlap >= 2], config, by_task),
        stages=uow.tasks.count_by_stage(),
        routing=uow.tasks.routing_counts(),
    )


def overlap_votes(votes: Sequence[VoteRecord]) -> list[VoteRecord]:
    """The class votes of overlap tasks' objects (not the gold checks' votes)."""
    return [v for v in votes if v.item.startswith("task:")]


def class_alpha(votes: Sequence[VoteRecord]) -> float:
    """Krippendorff's alpha (nominal) of the class votes, people x objects; NaN with fewer than
    two people or nothing pairable."""
    items = sorted({v.item for v in votes})
    workers = sorted({v.worker for v in votes})
    if not items or len(workers) < 2:
        return math.nan
    label = {(v.worker, v.item): v.label for v in votes}
    codes, _ = encode_nominal([[label.get((w, i)) for i in items] for w in workers])
    return krippendorff_alpha(codes, "nominal")


def batch_agreement(
    uow: UnitOfWork, overlap_tasks: Sequence[Any], config: AnnotationConfig, by_task: dict[int, Any]
) -> BatchAgreement:
    """Class and box agreement over every object of every overlap task."""
    votes = overlap_votes(uow.votes.recent())
    items = sorted({v.item for v in votes})
    workers = sorted({v.worker for v in votes})
    label = {(v.worker, v.item): v.label for v in votes}
    alpha_class = class_alpha(votes)
    fleiss = math.nan
    if items and len(workers) >= 2:
        per_item: dict[str, list[str]] = defaultdict(list)
        for v in votes:
            per_item[v.item].append(v.label)
        counts = [len(c) for c in per_item.values()]
        k = statistics.mode(counts)
        rows = [c for c in per_item.values() if len(c) == k]
        if rows and k >= 2:
            fleiss = fleiss_kappa(category_counts(rows)[0])
    cohen: dict[str, float] = {}
    for a, b in itertools.combinations(workers, 2):
        shared = [i for i in items if (a, i) in label and (b, i) in label]
        if len(shared) >= 5:
            cohen[f"{a}|{b}"] = cohen_kappa(
                [label[(a, i)] for i in shared], [label[(b, i)] for i in shared]
            )
    box_alpha: dict[str, float] = {}
    columns: dict[str, list[dict[str, float]]] = {p: [] for p in BOX_PARAMETERS}
    people: set[str] = set()
    for task in overlap_tasks:
        onto = store.ontology(uow, task.ontology_version)
        sets = {
            s.author: store.content(uow, s.id)
            for s in uow.label_sets.of_task(task.id, source="annotator")
            if s.state in ("submitted", "accepted")
        }
        for frame_id in task.frame_ids:
            per_worker = {w: c.boxes_of(frame_id) for w, c in sorted(sets.items())}
            for group in group_boxes(per_worker, onto, config):
                if len(group) < 2:
                    continue
                people |= set(group)
                for index, name in enumerate(BOX_PARAMETERS):
                    columns[name].append({w: b.box[index] for w, b in group.items()})
    raters = sorted(people)
    for name, units in columns.items():
        if units and len(raters) >= 2:
            data = np.array([[u.get(r, math.nan) for u in units] for r in raters], dtype=np.float64)
            box_alpha[name] = krippendorff_alpha(data, "interval")
    return BatchAgreement(
        items=len(items),
        fleiss_kappa=fleiss,
        krippendorff_alpha_class=alpha_class,
        cohen_kappa=cohen,
        krippendorff_alpha_box=box_alpha,
    )
