"""The operations KPIs' pure core on hand-made records whose answers are worked out here."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from backend.metadata.repositories.evidence import EvidenceRecord, VerdictRecord
from backend.metadata.repositories.frames import CaptureFact
from backend.metadata.repositories.reviews import VoteRecord
from backend.metadata.repositories.rollouts import CampaignRecord, ReportRecord
from backend.metadata.repositories.tasks import TaskRecord
from backend.ops.kpis import (
    LoopFacts,
    agreement_over_time,
    campaign_of,
    capture_rates,
    fleet_scores,
    loop_delta,
    loop_latency,
    score_drift,
)

T0 = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def votes(item: str, labels: dict[str, str], t: float) -> list[VoteRecord]:
    return [VoteRecord(f"task:{item}", 1, w, label, None, at(t)) for w, label in labels.items()]


def test_agreement_windows_and_the_running_figure() -> None:
    # two windows of 60 s: the first two objects agreed on, then one disagreement
    data = [
        *votes("a", {"x": "car", "y": "car"}, 0),
        *votes("b", {"x": "dog", "y": "dog"}, 30),
        *votes("c", {"x": "car", "y": "dog"}, 120),
        VoteRecord("gold:9:1", 9, "x", "car", "car", at(50)),  # a gold check: not agreement
    ]
    points = agreement_over_time(data, buckets=2)
    assert [(p.start, p.end) for p in points] == [(at(0), at(60)), (at(60), at(120))]
    assert [p.objects for p in points] == [2, 1]
    assert [p.objects_so_far for p in points] == [2, 3]
    assert points[0].alpha == points[0].alpha_so_far == 1.0
    # the window's one object, car against dog: D_o = D_e = 1 -> alpha 0
    assert points[1].alpha == 0.0
    # all three objects, six values (car 3, dog 3): the c object's two unequal ordered pairs
    # give D_o = 2/6, D_e = (3 * 3 * 2) / (6 * 5) -> alpha = 1 - (1/3) / (3/5) = 4/9
    assert points[1].alpha_so_far == pytest.approx(4 / 9)


def test_agreement_of_one_instant_is_one_window_and_of_nothing_none() -> None:
    same = [*votes("a", {"x": "car", "y": "car"}, 5), *votes("b", {"x": "dog", "y": "dog"}, 5)]
    points = agreement_over_time(same, buckets=4)
    assert len(points) == 1 and points[0].objects == 2 and points[0].alpha == 1.0
    assert agreement_over_time([], buckets=4) == []
    with pytest.raises(ValueError, match="buckets must be >= 1, got 0"):
        agreement_over_time(same, buckets=0)


def verdict(vid: int, version: str, t: float, *, passed: bool = True) -> VerdictRecord:
    return VerdictRecord(
        id=vid,
        run_id=f"r{vid}",
        created_at=at(t),
        model_version=version,
        champion_version="champ",
        dataset_digest="d" * 64,
        suite_version="s" * 64,
        passed=passed,
        bypassed=False,
        summary="",
        details={"failed_slices": [] if passed else ["class:dog"]},
    )


def evidence(kind: str, slice_: str, metric: str, value: float) -> EvidenceRecord:
    return EvidenceRecord(
        id=1,
        verdict_id=1,
        run_id="r1",
        at=T0,
        kind=kind,
        model_version="m",
        dataset_digest="d",
        suite_version="s",
        slice=slice_,
        metric=metric,
        value=value,
        lo=value - 0.01,
        hi=float("nan"),
        threshold=-0.02,
        margin=value + 0.02,
        passed=True,
        gated=True,
        actor=None,
        note="",
    )


def test_the_delta_of_a_loop_is_its_whole_suite_no_regression_rows() -> None:
    rows = [
        evidence("no_regression", "all", "recall", 0.05),
        evidence("no_regression", "class:dog", "recall", -0.3),  # a slice, not the whole suite
        evidence("floor", "all", "recall", 0.6),  # absolute, not a delta
        evidence("no_regression", "all", "ece", -0.01),
    ]
    loop = loop_delta(verdict(4, "m-4", 0, passed=False), rows)
    assert (loop.verdict_id, loop.model_version, loop.passed) == (4, "m-4", False)
    assert loop.failed_slices == ["class:dog"]
    assert [(d.metric, d.value) for d in loop.deltas] == [("recall", 0.05), ("ece", -0.01)]
    assert loop.deltas[0].lo == pytest.approx(0.04) and loop.deltas[0].hi is None  # NaN -> None


def task(tid: int, created: float, accepted: float | None, frames: tuple[str, ...]) -> TaskRecord:
    return TaskRecord(
        id=tid,
        created_at=at(created),
        updated_at=at(created),
        vehicle="car-1",
        key_frame_id=frames[0],
        frame_ids=frames,
        ontology_version=1,
        stage="accepted" if accepted is not None else "annotate",
        tier=2,
        overlap=1,
        round=0,
        rejections=0,
        priority=1.0,
        spot_check=False,
        is_gold=False,
        is_calibration=False,
        gold_label_set_id=None,
        accepted_label_set_id=None,
        accepted_at=None if accepted is None else at(accepted),
        agreement=None,
    )


def campaign(cid: int, version: str, created: float, decided: float | None) -> CampaignRecord:
    return CampaignRecord(
        id=cid,
        version=version,
        baseline_version="champ",
        state="promoted" if decided is not None else "canary",
        canary_share=1.0,
        canary_vehicles=("car-1",),
        health_limits={},
        min_canary_reports=1,
        created_at=at(created),
        created_by="loop",
        decided_at=None if decided is None else at(decided),
        decided_by=None,
        decision_reason="",
        decision_figures={},
    )


def test_latency_by_stage_of_one_loop() -> None:
    tasks = [
        task(1, 100, 400, ("f1", "f2")),  # frames arrived at 10 and 40: 60 s to the task
        task(2, 200, 1000, ("f3",)),  # arrived at 180: 20 s; labelled in 800 s
        task(3, 300, 700, ("gone",)),  # its frame is not stored any more: no upload figure
    ]
    received = {"f1": at(10), "f2": at(40), "f3": at(180)}
    v = verdict(7, "m-7", 5000)
    late = campaign(3, "m-7", 5100, 5400)
    early = campaign(2, "m-7", 4000, 4100)  # before the verdict: another loop's
    assert campaign_of(v, [late, early, campaign(4, "other", 5050, None)]) == late
    result = loop_latency(
        LoopFacts(v, "dd", at(1200), tasks, received, late, run_seconds={"retrain": 3.5})
    )
    assert result.stages == {
        "upload_to_task": 40.0,  # median of 60 and 20
        "labelling": 400.0,  # median of 300, 800, 400
        "label_to_dataset": 200.0,  # newest acceptance 1000 -> dataset 1200
        "dataset_to_verdict": 3800.0,
        "verdict_to_canary": 100.0,
        "canary": 300.0,
    }
    assert result.last_label_to_decision == 4400.0 and result.decision == "promoted"
    assert result.tasks == 3 and result.run_seconds == {"retrain": 3.5}
    bare = loop_latency(LoopFacts(v, None, None, [], {}, None))
    assert set(bare.stages.values()) == {None} and bare.last_label_to_decision is None
    assert bare.decision == "verdict"


def fact(version: str, rules: tuple[str, ...], score: float | None) -> CaptureFact:
    return CaptureFact("f", T0, "car-1", version, rules, score)


def report(version: str, frames: int, mean: float = 0.3) -> ReportRecord:
    return ReportRecord(1, "car-1", version, None, T0, frames, 3, 0, 20.0, 40.0, mean, 0.8)


def test_capture_rate_per_trigger_and_version() -> None:
    facts = [
        fact("v1", ("novel_object", "random_sample"), 0.2),
        fact("v1", ("novel_object",), 0.9),
        fact("v1", ("context:novel_object",), 0.5),
        fact("v1", ("context:novel_object", "context:vru_unsure"), 0.5),  # one context frame
        fact("v2", ("vru_unsure",), 0.4),
    ]
    rates = capture_rates(facts, [report("v1", 100), report("v1", 100), report("v3", 50)])
    assert [(r.model_version, r.trigger, r.frames_stored, r.frames_analysed) for r in rates] == [
        ("v1", "context", 2, 200),
        ("v1", "novel_object", 2, 200),
        ("v1", "random_sample", 1, 200),
        ("v2", "vru_unsure", 1, 0),
    ]
    assert [r.rate for r in rates] == [0.01, 0.01, 0.005, None]  # v2 never reported


def test_score_drift_against_the_first_versions_sample() -> None:
    facts = [
        fact("v1", ("random_sample",), 0.1),
        fact("v1", ("random_sample",), 0.2),
        fact("v1", ("novel_object",), 0.99),  # triggered frames are not the unbiased sample
        fact("v2", ("random_sample",), 0.15),
        fact("v2", ("random_sample",), 0.9),
        fact("v2", ("random_sample",), None),
    ]
    drift = score_drift(facts)
    assert [(d.model_version, d.reference, d.frames) for d in drift] == [
        ("v1", "v1", 2),
        ("v2", "v1", 2),
    ]
    assert drift[0].ks is None and drift[0].mean == pytest.approx(0.15)
    # CDFs at 0.1, 0.15, 0.2, 0.9: v1 0.5, 0.5, 1, 1; v2 0, 0.5, 0.5, 1 -> largest gap 0.5
    assert drift[1].ks == pytest.approx(0.5)
    assert drift[1].p50 == pytest.approx(0.525)
    assert score_drift([fact("v1", ("novel_object",), 0.5)]) == []


def test_fleet_scores_keep_the_reports_that_counted_frames() -> None:
    kept = fleet_scores([report("v1", 100, 0.25), report("v1", 0, 0.0)])
    assert [(s.model_version, s.frames, s.score_mean) for s in kept] == [("v1", 100, 0.25)]
