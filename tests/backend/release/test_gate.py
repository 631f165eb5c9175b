"""The release gate on crafted comparisons, its evidence records on SQLite and PostgreSQL, and
the admin-only bypass (over real HTTP)."""

from __future__ import annotations

import math
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from sqlalchemy.exc import IntegrityError

from backend.auth.people import Principal
from backend.auth.roles import Role
from backend.errors import ConflictError, PermissionDeniedError
from backend.evaluation.bootstrap import Estimate
from backend.evaluation.compare import Comparison
from backend.evaluation.drift import drift_report
from backend.evaluation.slice_metrics import MetricRow
from backend.metadata.unit_of_work import Database
from backend.release.evidence import bypass_gate, record_verdict, release_allowed
from backend.release.gate import (
    GateVerdict,
    assess_champion,
    evaluate_gate,
    load_gate,
    parse_gate,
)
from backend.wiring import build_api
from core.errors import ConfigError
from tests.backend.annotation.world import World, make_world
from tests.fixtures.http import serve

AT = datetime(2026, 12, 5, 12, 0, tzinfo=UTC)
DIGEST = "a" * 64


def row(slice_name: str, metric: str, champ: float, cand: float, half: float = 0.04) -> MetricRow:
    """A figure whose intervals are +-``half`` around the value (the difference's too)."""
    d = cand - champ
    return MetricRow(
        slice_name,
        metric,
        Estimate(champ, champ - half, champ + half),
        Estimate(cand, cand - half, cand + half),
        Estimate(d, d - half, d + half),
        frames=40,
        support=100,
    )


def comparison(rows: list[MetricRow]) -> Comparison:
    return Comparison(
        suite_name="s",
        suite_version="f" * 64,
        champion_version="champ-1",
        candidate_version="cand-2",
        champion_classes=("car",),
        candidate_classes=("car", "deer"),
        thresholds={"car": 0.5},
        frames=40,
        n_boot=1000,
        level=0.95,
        seed=0,
        rows=tuple(rows),
    )


GATE = parse_gate(
    {
        "data": {"min_label_agreement": 0.7},
        "rule": [
            {"slice": "all", "metric": "recall", "floor": 0.5, "delta": 0.02},
            {"slice": "class:*", "metric": "recall", "delta": 0.05},
            {"slice": "all", "metric": "fp_per_frame", "ceiling": 3.0, "delta": 0.5},
        ],
    },
    "test-gate",
)


def test_an_average_gain_with_one_regressing_slice_fails_naming_it() -> None:
    rows = [
        row("all", "recall", 0.60, 0.70),  # better on average
        row("class:deer", "recall", 0.20, 0.60),
        row("class:dog", "recall", 0.50, 0.40),  # worse: diff_lo = -0.14 < -0.05
        row("all", "fp_per_frame", 2.0, 1.8),
    ]
    verdict = evaluate_gate(GATE, comparison(rows), dataset_digest=DIGEST, label_agreement=0.8)
    assert not verdict.passed
    assert verdict.failed_slices == ["class:dog"]
    (failure,) = verdict.failures
    assert failure.kind == "no_regression" and failure.metric == "recall"
    assert failure.threshold == -0.05
    assert failure.margin == pytest.approx(-0.14 + 0.05)
    assert "class:dog recall" in verdict.summary() and "FAILED" in verdict.summary()


def test_floors_ceilings_missing_slices_and_data_gates() -> None:
    rows = [row("all", "recall", 0.40, 0.45), row("all", "fp_per_frame", 2.0, 3.5, half=0.1)]
    verdict = evaluate_gate(GATE, comparison(rows), dataset_digest=DIGEST, label_agreement=None)
    failed = {(c.kind, c.slice, c.metric) for c in verdict.failures}
    assert failed == {
        ("floor", "all", "recall"),  # 0.45 < 0.5
        ("ceiling", "all", "fp_per_frame"),  # 3.5 > 3.0
        ("no_regression", "all", "fp_per_frame"),  # diff_hi 1.6 > 0.5
        ("label_agreement", "", "label_agreement"),  # unknown agreement fails
    }
    floor = next(c for c in verdict.failures if c.kind == "floor")
    assert floor.margin == pytest.approx(-0.05) and floor.value == 0.45
    # a required exact slice that the comparison lacks fails as missing
    strict = parse_gate({"rule": [{"slice": "weather:fog", "metric": "recall", "delta": 0.1}]}, "x")
    missing = evaluate_gate(strict, comparison(rows), dataset_digest=DIGEST, label_agreement=1.0)
    assert [c.kind for c in missing.failures] == ["missing"]
    assert missing.failed_slices == ["weather:fog"]


def test_the_champion_alone_is_held_to_the_floors_and_ceilings_on_its_own_figures() -> None:
    rows = [
        row("all", "recall", 0.45, 0.70),  # the champion misses the floor the candidate meets
        row("class:dog", "recall", 0.50, 0.10),  # a candidate regression: not the champion's
        row("all", "fp_per_frame", 2.0, 3.5),
    ]
    verdict = assess_champion(GATE, comparison(rows), dataset_digest="")
    assert verdict.candidate_version == verdict.champion_version == "champ-1"
    assert {(c.kind, c.slice, c.metric, c.value) for c in verdict.checks} == {
        ("floor", "all", "recall", 0.45),
        ("ceiling", "all", "fp_per_frame", 2.0),
    }  # no no-regression (no predecessor) and no data gates (no training labels judged)
    assert not verdict.passed and verdict.failed_slices == ["all"]
    assert verdict.figures == ()  # its checks hold its figures
    # the candidate's verdict on the same comparison keeps every figure of both models
    judged = evaluate_gate(GATE, comparison(rows), dataset_digest=DIGEST, label_agreement=0.8)
    assert judged.figures == tuple(rows)


def test_drift_is_reported_and_gated_only_when_configured() -> None:
    suite = [
        {"num_points": 1e5 + i, "mean_range_m": 15.0, "far_share": 0.1, "mean_intensity": 0.3}
        for i in range(20)
    ]
    fleet = [{**s, "num_points": 4e4 + i} for i, s in enumerate(suite)]
    drift = drift_report(suite, fleet)
    assert drift.per_statistic["num_points"] == 1.0 and drift.worst == "num_points"
    assert drift.per_statistic["mean_range_m"] == 0.0
    rows = [row("all", "recall", 0.6, 0.6, half=0.01), row("all", "fp_per_frame", 1.0, 1.0)]
    reported = evaluate_gate(
        GATE, comparison(rows), dataset_digest=DIGEST, label_agreement=0.9, drift=drift
    )
    assert reported.passed and any(
        not c.gated and c.metric == "drift:num_points" for c in reported.checks
    )
    gated = parse_gate(
        {"data": {"max_drift": 0.5}, "rule": [{"slice": "all", "metric": "recall", "delta": 0.1}]},
        "g",
    )
    failed = evaluate_gate(
        gated, comparison(rows), dataset_digest=DIGEST, label_agreement=None, drift=drift
    )
    assert [c.metric for c in failed.failures] == ["drift:num_points"]


def test_gate_files_are_validated(tmp_path: Path) -> None:
    shipped = load_gate()
    assert shipped.rules and shipped.min_label_agreement is not None
    with pytest.raises(ConfigError) as err:
        parse_gate(
            {
                "rule": [
                    {"slice": "all", "metric": "ece", "floor": 0.1, "delta": -1, "colour": 1},
                    {"slice": "all", "metric": "recall"},
                ],
                "extra": 1,
            },
            "bad.toml",
        )
    text = str(err.value)
    for expected in (
        "extra",
        "rule[0].colour",
        "rule[0].floor",
        "rule[0].delta",
        "rule[1]: gates nothing",
    ):
        assert expected in text, (expected, text)
    (tmp_path / "broken.toml").write_text("[[rule]\n")
    with pytest.raises(ConfigError, match=r"broken\.toml: not valid TOML"):
        load_gate(tmp_path / "broken.toml")
    with pytest.raises(ConfigError, match=r"missing\.toml: cannot read gate file"):
        load_gate(tmp_path / "missing.toml")


def failing_verdict() -> GateVerdict:
    rows = [
        row("all", "recall", 0.6, 0.7),
        row("class:dog", "recall", 0.5, 0.4),
        row("all", "fp_per_frame", 1.0, 1.0),
    ]
    return evaluate_gate(GATE, comparison(rows), dataset_digest=DIGEST, label_agreement=0.8)


def test_evidence_rows_are_written_with_the_verdict_in_one_transaction(db: Database) -> None:
    verdict = failing_verdict()
    vid = record_verdict(db, verdict, run_id="run-1", at=AT, details={"n_boot": 1000})
    with db.transaction("read") as uow:
        stored = uow.evidence.verdict(vid)
        rows = uow.evidence.evidence(vid)
    assert not stored.passed and not stored.bypassed
    assert stored.details["failed_slices"] == ["class:dog"]
    assert len(rows) == len(verdict.checks) + 1 and rows[-1].kind == "verdict"
    dog = next(r for r in rows if r.slice == "class:dog")
    assert (dog.model_version, dog.dataset_digest, dog.suite_version, dog.run_id) == (
        "cand-2",
        DIGEST,
        "f" * 64,
        "run-1",
    )
    assert dog.value == pytest.approx(-0.1) and dog.lo == pytest.approx(-0.14)
    assert dog.threshold == -0.05 and dog.passed is False and dog.at == AT
    agreement = next(r for r in rows if r.kind == "label_agreement")
    assert agreement.lo is None and agreement.value == 0.8  # NaN stored as NULL
    # the same run again collides: nothing of the second attempt is stored
    with pytest.raises(IntegrityError):
        record_verdict(db, verdict, run_id="run-1", at=AT, details={})
    with db.transaction("count") as uow:
        _, total = uow.evidence.verdicts()
        assert total == 1 and len(uow.evidence.evidence(vid)) == len(rows)
    assert not release_allowed(db, vid)


def test_only_an_admin_bypasses_and_the_bypass_is_evidence(db: Database) -> None:
    vid = record_verdict(db, failing_verdict(), run_id="run-b", at=AT, details={})
    for role in (Role.SAFETY_ENGINEER, Role.SENIOR, Role.ANNOTATOR):
        with pytest.raises(PermissionDeniedError, match="bypass gate"):
            bypass_gate(db, Principal("someone", role, "passed"), vid, "ship it", AT)
    admin = Principal("root", Role.ADMIN, "passed")
    record = bypass_gate(db, admin, vid, "  hotfix for a recall bug  ", AT)
    assert (record.kind, record.actor, record.note) == ("bypass", "root", "hotfix for a recall bug")
    assert release_allowed(db, vid)
    with pytest.raises(ConflictError, match="bypassed already"):
        bypass_gate(db, admin, vid, "again", AT)
    same = [row("all", "recall", 0.6, 0.6, half=0.01), row("all", "fp_per_frame", 1.0, 1.0)]
    ok = evaluate_gate(GATE, comparison(same), dataset_digest=DIGEST, label_agreement=0.9)
    assert ok.passed, ok.summary()
    passed = record_verdict(db, ok, run_id="run-ok", at=AT, details={})
    with pytest.raises(ConflictError, match="passed"):
        bypass_gate(db, admin, passed, "why", AT)


@pytest.fixture
def world(tmp_path: Path) -> Iterator[tuple[World, httpx.Client]]:
    w = make_world(tmp_path)
    w.person("admin-1", "admin")
    w.person("safety-1", "safety_engineer")
    w.person("annot-1", "annotator")
    with serve(build_api(w.backend)) as client:
        yield w, client
    w.backend.close()


def test_the_evidence_api(world: tuple[World, httpx.Client]) -> None:
    w, client = world
    vid = record_verdict(w.backend.db, failing_verdict(), run_id="run-api", at=AT, details={})
    auth = {
        n: {"Authorization": f"Bearer {w.tokens[n]}"} for n in ("admin-1", "safety-1", "annot-1")
    }
    page = client.get("/evidence/verdicts", headers=auth["safety-1"]).json()
    assert page["total"] == 1 and page["items"][0]["passed"] is False
    detail = client.get(f"/evidence/verdicts/{vid}", headers=auth["safety-1"]).json()
    assert any(e["slice"] == "class:dog" and e["passed"] is False for e in detail["evidence"])
    assert client.get("/evidence/verdicts", headers=auth["annot-1"]).status_code == 403
    refused = client.post(
        f"/evidence/verdicts/{vid}/bypass", json={"reason": "x"}, headers=auth["safety-1"]
    )
    assert refused.status_code == 403
    assert (
        client.get(f"/evidence/verdicts/{vid}", headers=auth["admin-1"]).json()["bypassed"] is False
    )
    assert (
        client.post(
            f"/evidence/verdicts/{vid}/bypass", json={"reason": " "}, headers=auth["admin-1"]
        ).status_code
        == 422
    )
    done = client.post(
        f"/evidence/verdicts/{vid}/bypass",
        json={"reason": "signed off by J."},
        headers=auth["admin-1"],
    )
    assert done.status_code == 201 and done.json()["actor"] == "admin-1"
    after = client.get(f"/evidence/verdicts/{vid}", headers=auth["safety-1"]).json()
    assert after["bypassed"] is True and after["evidence"][-1]["kind"] == "bypass"
    assert (
        client.post(
            f"/evidence/verdicts/{vid}/bypass", json={"reason": "y"}, headers=auth["admin-1"]
        ).status_code
        == 409
    )
    assert client.get("/evidence/verdicts/999", headers=auth["admin-1"]).status_code == 404
    assert math.isfinite(page["items"][0]["id"])
