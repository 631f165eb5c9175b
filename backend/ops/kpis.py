"""The loop's operations KPIs from plain records (no I/O): agreement of the overlap annotations
over time, the model performance delta of each loop, the feedback-loop latency by stage, the
capture rate per trigger and the drift of the fleet's score distributions.

Units: times are UTC datetimes, durations seconds, scores the vehicle's frame score in [0, 1],
rates captured frames per frame the vehicle analysed. A figure with nothing to measure is None
(never NaN), so every result is JSON as it stands.

* **Agreement over time**: the overlap objects (class votes of ``task:`` items) are placed at
  their newest vote; the span from the first to the last is cut into ``buckets`` equal windows
  and each window reports Krippendorff's alpha (nominal) of the objects finished in it and of
  every object finished up to its end (``backend.annotation.reports.class_alpha``).
* **Delta per loop**: each gate verdict is one loop; its ``no_regression`` rows on slice
  ``all`` are the paired differences candidate - champion with their 95 % intervals.
* **Latency by stage** of one loop: upload to task (median over the dataset version's tasks of
  task creation - newest frame arrival), labelling (median of acceptance - creation), newest
  label to dataset version, dataset version to verdict (retraining, evaluation, gate), verdict
  to canary start, and canary start to the fleet's decision.
* **Capture rate per trigger**: frames stored with the trigger among their rules, per frame the
  vehicles analysed (the frames their health reports count), per model version. Context frames
  (``context:<rule>``) count as the trigger ``context``.
* **Score drift**: the random monitoring sample (``random_sample``: frames kept whatever fired,
  so unbiased) of each model version, its quantiles, and the two-sample Kolmogorov-Smirnov
  distance of its scores from the first version's sample
  (``backend.evaluation.drift.ks_distance``).
"""

from __future__ import annotations

import math
import statistics
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime

import numpy as np

from agent.selection.rules import CONTEXT_PREFIX, SAMPLE_RULE
from backend.annotation.reports import class_alpha, overlap_votes
from backend.evaluation.drift import ks_distance
from backend.metadata.repositories.evidence import EvidenceRecord, VerdictRecord
from backend.metadata.repositories.frames import CaptureFact
from backend.metadata.repositories.reviews import VoteRecord
from backend.metadata.repositories.rollouts import CampaignRecord, ReportRecord
from backend.metadata.repositories.tasks import TaskRecord

#: the trigger name context frames are counted under
CONTEXT_TRIGGER = "context"
#: the stages of one loop, in order (keys of :attr:`LoopLatency.stages`)
STAGES = (
    "upload_to_task",
    "labelling",
    "label_to_dataset",
    "dataset_to_verdict",
    "verdict_to_canary",
    "canary",
)


def finite(value: float | None) -> float | None:
    """``value``, or None when it is None, NaN or infinite."""
    return value if value is not None and math.isfinite(value) else None


def _median(values: Sequence[float]) -> float | None:
    return float(statistics.median(values)) if values else None


def _seconds(later: datetime | None, earlier: datetime | None) -> float | None:
    if later is None or earlier is None:
        return None
    return (later - earlier).total_seconds()


# -- agreement over time -------------------------------------------------------------------


@dataclass(frozen=True)
class AgreementPoint:
    """One window of the agreement series, ending at ``end``."""

    start: datetime
    end: datetime
    objects: int  #: overlap objects finished in the window
    alpha: float | None  #: Krippendorff's alpha of the window's objects
    objects_so_far: int
    alpha_so_far: float | None  #: of every object finished by ``end``


def agreement_over_time(votes: Sequence[VoteRecord], buckets: int = 12) -> list[AgreementPoint]:
    """The agreement series of the overlap votes (see the module docstring); [] without any."""
    if buckets < 1:
        raise ValueError(f"buckets must be >= 1, got {buckets}")
    timed = [v for v in overlap_votes(votes) if v.at is not None]
    by_item: dict[str, list[VoteRecord]] = defaultdict(list)
    for v in timed:
        by_item[v.item].append(v)
    if not by_item:
        return []
    done_at = {item: max(v.at for v in vs if v.at is not None) for item, vs in by_item.items()}
    first, last = min(done_at.values()), max(done_at.values())
    width = (last - first) / buckets
    points = []
    start = first
    for k in range(1, buckets + 1):
        end = last if k == buckets else first + width * k
        window = [i for i, t in done_at.items() if (start < t or k == 1) and t <= end]
        so_far = [i for i, t in done_at.items() if t <= end]
        points.append(
            AgreementPoint(
                start=start,
                end=end,
                objects=len(window),
                alpha=finite(class_alpha([v for i in window for v in by_item[i]])),
                objects_so_far=len(so_far),
                alpha_so_far=finite(class_alpha([v for i in so_far for v in by_item[i]])),
            )
        )
        start = end
        if width.total_seconds() == 0:
            break  # every object finished at one instant: one window
    return points


# -- model performance delta per loop --------------------------------------------------------


@dataclass(frozen=True)
class MetricDelta:
    """The paired difference candidate - champion of one metric on the whole suite."""

    metric: str
    value: float | None
    lo: float | None
    hi: float | None
    threshold: float | None  #: the gate's lower bound on the difference (-delta)
    margin: float | None
    passed: bool | None


@dataclass(frozen=True)
class LoopDelta:
    """One loop: the gate's verdict on a candidate against its champion."""

    verdict_id: int
    at: datetime
    model_version: str
    champion_version: str
    passed: bool
    bypassed: bool
    failed_slices: list[str]
    deltas: list[MetricDelta]


def loop_delta(verdict: VerdictRecord, rows: Sequence[EvidenceRecord]) -> LoopDelta:
    """The delta of one loop from its verdict and evidence rows."""
    return LoopDelta(
        verdict_id=verdict.id,
        at=verdict.created_at,
        model_version=verdict.model_version,
        champion_version=verdict.champion_version,
        passed=verdict.passed,
        bypassed=verdict.bypassed,
        failed_slices=[str(s) for s in verdict.details.get("failed_slices", [])],
        deltas=[
            MetricDelta(
                r.metric,
                finite(r.value),
                finite(r.lo),
                finite(r.hi),
                finite(r.threshold),
                finite(r.margin),
                r.passed,
            )
            for r in rows
            if r.kind == "no_regression" and r.slice == "all"
        ],
    )


# -- feedback-loop latency by stage ----------------------------------------------------------


@dataclass(frozen=True)
class LoopFacts:
    """What one loop's latency is computed from: its verdict, the dataset version it trained on
    (None when the verdict does not name one), that version's tasks, when their frames arrived,
    and the rollout campaign of the candidate (None when there was none)."""

    verdict: VerdictRecord
    dataset_digest: str | None
    dataset_created_at: datetime | None
    tasks: Sequence[TaskRecord]
    frame_received: Mapping[str, datetime]
    campaign: CampaignRecord | None
    run_seconds: Mapping[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class LoopLatency:
    """One loop's latency by stage (seconds; None when not measurable), the newest label to
    the fleet's decision (or to the verdict when no canary ran), and the retraining run's own
    wall times by step when a training run recorded them."""

    verdict_id: int
    model_version: str
    dataset_digest: str | None
    tasks: int
    stages: dict[str, float | None]
    last_label_to_decision: float | None
    decision: str  #: the campaign's state, or "verdict" when no canary ran
    run_seconds: dict[str, float]


def loop_latency(facts: LoopFacts) -> LoopLatency:
    """The latency of one loop (see the module docstring)."""
    tasks = list(facts.tasks)
    uploads = []
    for t in tasks:
        arrived = [facts.frame_received[f] for f in t.frame_ids if f in facts.frame_received]
        if arrived:
            uploads.append((t.created_at - max(arrived)).total_seconds())
    accepted = [t.accepted_at for t in tasks if t.accepted_at is not None]
    labelling = [
        (t.accepted_at - t.created_at).total_seconds() for t in tasks if t.accepted_at is not None
    ]
    newest_label = max(accepted) if accepted else None
    campaign = facts.campaign
    verdict_at = facts.verdict.created_at
    decided = campaign.decided_at if campaign is not None else None
    end = decided if campaign is not None else verdict_at
    stages = {
        "upload_to_task": _median(uploads),
        "labelling": _median(labelling),
        "label_to_dataset": _seconds(facts.dataset_created_at, newest_label),
        "dataset_to_verdict": _seconds(verdict_at, facts.dataset_created_at),
        "verdict_to_canary": _seconds(
            None if campaign is None else campaign.created_at, verdict_at
        ),
        "canary": _seconds(decided, None if campaign is None else campaign.created_at),
    }
    return LoopLatency(
        verdict_id=facts.verdict.id,
        model_version=facts.verdict.model_version,
        dataset_digest=facts.dataset_digest,
        tasks=len(tasks),
        stages=stages,
        last_label_to_decision=_seconds(end, newest_label),
        decision="verdict" if campaign is None else campaign.state,
        run_seconds={k: float(v) for k, v in facts.run_seconds.items()},
    )


def campaign_of(
    verdict: VerdictRecord, campaigns: Iterable[CampaignRecord]
) -> CampaignRecord | None:
    """The first campaign of the verdict's candidate started at or after the verdict."""
    after = [
        c
        for c in campaigns
        if c.version == verdict.model_version and c.created_at >= verdict.created_at
    ]
    return min(after, key=lambda c: (c.created_at, c.id)) if after else None


# -- capture rate per trigger ---------------------------------------------------------------


@dataclass(frozen=True)
class CaptureRate:
    """Frames one trigger captured on one model version, per frame the fleet analysed."""

    trigger: str
    model_version: str
    frames_stored: int
    frames_analysed: int  #: counted by the vehicles' health reports on the version
    rate: float | None  #: frames_stored / frames_analysed


def trigger_of(rule: str) -> str:
    """The trigger a stored rule name counts under (context frames under ``context``)."""
    return CONTEXT_TRIGGER if rule.startswith(CONTEXT_PREFIX) else rule


def capture_rates(
    facts: Sequence[CaptureFact], reports: Sequence[ReportRecord]
) -> list[CaptureRate]:
    """Per model version and trigger (sorted by version's first frame, then trigger)."""
    analysed: dict[str, int] = defaultdict(int)
    for r in reports:
        analysed[r.version] += r.frames
    stored: dict[tuple[str, str], int] = defaultdict(int)
    order: dict[str, int] = {}
    for f in facts:
        order.setdefault(f.model_version, len(order))
        for trigger in sorted({trigger_of(rule) for rule in f.rules_fired}):
            stored[(f.model_version, trigger)] += 1
    out = []
    for (version, trigger), count in sorted(
        stored.items(), key=lambda kv: (order[kv[0][0]], kv[0][1])
    ):
        total = analysed.get(version, 0)
        out.append(CaptureRate(trigger, version, count, total, count / total if total else None))
    return out


# -- drift of the fleet's score distributions ------------------------------------------------


@dataclass(frozen=True)
class ScoreDrift:
    """One model version's random-sample frame scores against the reference version's."""

    model_version: str
    reference: str
    frames: int
    mean: float | None
    p50: float | None
    p95: float | None
    ks: float | None  #: KS distance from the reference's sample (None for the reference)


def score_drift(facts: Sequence[CaptureFact]) -> list[ScoreDrift]:
    """The drift of each model version's sample (versions in order of their first frame)."""
    samples: dict[str, list[float]] = {}
    for f in facts:
        if SAMPLE_RULE in f.rules_fired and f.score is not None and math.isfinite(f.score):
            samples.setdefault(f.model_version, []).append(f.score)
    if not samples:
        return []
    reference = next(iter(samples))
    out = []
    for version, scores in samples.items():
        arr = np.asarray(scores, dtype=np.float64)
        out.append(
            ScoreDrift(
                model_version=version,
                reference=reference,
                frames=int(arr.size),
                mean=float(arr.mean()),
                p50=float(np.quantile(arr, 0.5)),
                p95=float(np.quantile(arr, 0.95)),
                ks=None if version == reference else ks_distance(samples[reference], arr),
            )
        )
    return out


@dataclass(frozen=True)
class FleetScore:
    """One health report's frame-score summary: every frame the vehicle analysed in it."""

    at: datetime
    vehicle: str
    model_version: str
    frames: int
    score_mean: float
    score_p95: float


def fleet_scores(reports: Sequence[ReportRecord]) -> list[FleetScore]:
    """The reports that counted frames, oldest first."""
    return [
        FleetScore(r.received_at, r.vehicle, r.version, r.frames, r.score_mean, r.score_p95)
        for r in reports
        if r.frames > 0
    ]
