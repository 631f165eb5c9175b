"""``/ops/kpis`` and ``/metrics`` over real HTTP on a loop's history built by the real code
(SQLite and PostgreSQL): the figures are the world's own, the exposition carries the same numbers
as the JSON, only roles that read evidence get the loop's figures, and the Grafana dashboard
asks only for metrics the backend exports."""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from backend.wiring import build_api
from tests.backend.annotation.world import World, make_world
from tests.backend.ops.world import (
    CANDIDATE_FRAMES,
    CANDIDATE_SAMPLE,
    CHAMPION_FRAMES,
    CHAMPION_SAMPLE,
    FAILING,
    PASSING,
    ROUTING,
    LoopHistory,
    build_loop,
)
from tests.fixtures.http import serve

GRAFANA = Path(__file__).resolve().parents[3] / "docs" / "grafana" / "longtail-operations.json"


@dataclass
class Served:
    world: World
    history: LoopHistory
    client: httpx.Client

    def get(self, path: str, who: str) -> httpx.Response:
        return self.client.get(path, headers={"Authorization": f"Bearer {self.world.tokens[who]}"})


@pytest.fixture
def served(db_url: str, tmp_path: Path) -> Iterator[Served]:
    world = make_world(tmp_path, db_url, rules=ROUTING, min_agreement=0.5)
    (tmp_path / "packages").mkdir()
    history = build_loop(world, tmp_path / "packages")
    for role in ("annotator", "reviewer", "senior", "admin", "safety_engineer"):
        world.person(role, role)
    try:
        with serve(build_api(world.backend)) as client:
            yield Served(world, history, client)
    finally:
        world.backend.close()


def test_the_kpis_are_the_loops_own_figures(served: Served) -> None:
    for role in ("annotator", "reviewer"):
        assert served.get("/ops/kpis", role).status_code == 403
    assert served.client.get("/ops/kpis").status_code == 401
    body = served.get("/ops/kpis", "safety_engineer").json()
    h = served.history
    # one loop per gate verdict, oldest first, with the whole-suite deltas the gate stored
    assert [(loop["model_version"], loop["passed"]) for loop in body["loops"]] == [
        (FAILING, False),
        (PASSING, True),
    ]
    assert body["loops"][0]["failed_slices"] == ["class:dog"]
    recall = next(d for d in body["loops"][1]["deltas"] if d["metric"] == "recall")
    assert recall["value"] == pytest.approx(0.61 - 0.52)
    assert recall["lo"] < recall["value"] < recall["hi"] and recall["passed"]
    # latency: the world's clock moved 900 s from the dataset to each verdict, 60 s to the
    # canary, 20 s per canary frame (3) and 300 s more to the promotion
    failing, passing = body["latency"]
    assert failing["dataset_digest"] == passing["dataset_digest"] == h.dataset
    assert failing["tasks"] == passing["tasks"] == len(h.tasks) == 6
    assert failing["stages"]["dataset_to_verdict"] == 900.0
    assert passing["stages"]["dataset_to_verdict"] == 1800.0
    assert passing["stages"]["verdict_to_canary"] == 60.0
    assert passing["stages"]["canary"] == 360.0
    assert failing["decision"] == "verdict" and passing["decision"] == "promoted"
    assert failing["stages"]["canary"] is None
    assert passing["stages"]["label_to_dataset"] == 120.0
    assert passing["stages"]["labelling"] > 0 and passing["stages"]["upload_to_task"] > 0
    # capture per trigger: the drives' rules over the frames the reports counted
    rates = {(c["model_version"], c["trigger"]): c for c in body["capture"]}
    novel = rates[(h.champion, "novel_object")]
    assert (novel["frames_stored"], novel["frames_analysed"]) == (2, CHAMPION_FRAMES)
    assert novel["rate"] == pytest.approx(2 / CHAMPION_FRAMES)
    assert rates[(h.champion, "context")]["frames_stored"] == 1
    assert rates[(PASSING, "random_sample")]["rate"] == pytest.approx(3 / CANDIDATE_FRAMES)
    # drift: the candidate's sample lies wholly above the champion's
    drift = {d["model_version"]: d for d in body["drift"]}
    assert drift[h.champion]["ks"] is None and drift[h.champion]["frames"] == 3
    assert drift[h.champion]["p50"] == pytest.approx(sorted(CHAMPION_SAMPLE)[1])
    assert drift[PASSING]["ks"] == 1.0
    assert drift[PASSING]["mean"] == pytest.approx(sum(CANDIDATE_SAMPLE) / 3)
    assert [s["frames"] for s in body["fleet_scores"]] == [CHAMPION_FRAMES, CANDIDATE_FRAMES]
    # agreement: every overlap object (two boxes on each of five tasks) lands in one window,
    # and the running figure ends at the QA report's batch alpha, computed there
    windows = body["agreement"]
    assert sum(p["objects"] for p in windows) == windows[-1]["objects_so_far"] == 10
    qa = served.get("/qa/report", "safety_engineer").json()
    assert windows[-1]["alpha_so_far"] == pytest.approx(qa["batch"]["krippendorff_alpha_class"])
    assert 0 < windows[-1]["alpha_so_far"] < 1  # a3 called every other pedestrian a cyclist


def families(text: str) -> dict[str, list[tuple[dict[str, str], float]]]:
    out: dict[str, list[tuple[dict[str, str], float]]] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            out.setdefault(sample.name, []).append((dict(sample.labels), sample.value))
    return out


def value(
    metrics: dict[str, list[tuple[dict[str, str], float]]], name: str, **labels: str
) -> float:
    found = [
        v for got, v in metrics.get(name, []) if all(got.get(k) == x for k, x in labels.items())
    ]
    assert len(found) == 1, f"{name}{labels}: {found}"
    return found[0]


def test_metrics_carry_the_same_numbers_as_the_api(served: Served) -> None:
    body = served.get("/ops/kpis", "safety_engineer").json()
    qa = served.get("/qa/report", "safety_engineer").json()
    scraped = served.get("/metrics", "safety_engineer")
    assert scraped.status_code == 200 and scraped.headers["content-type"].startswith("text/plain")
    m = families(scraped.text)
    h = served.history
    for loop in body["loops"]:
        labels = {"model_version": loop["model_version"], "champion_version": h.champion}
        for d in loop["deltas"]:
            assert value(m, "longtail_loop_delta", **labels, metric=d["metric"]) == d["value"]
            assert value(m, "longtail_loop_delta_lower", **labels, metric=d["metric"]) == d["lo"]
            assert value(m, "longtail_loop_delta_upper", **labels, metric=d["metric"]) == d["hi"]
        passed = value(m, "longtail_loop_gate_passed", model_version=loop["model_version"])
        assert passed == (1.0 if loop["passed"] else 0.0)
    for latency in body["latency"]:
        for stage, seconds in latency["stages"].items():
            got = [
                v
                for labels, v in m["longtail_loop_latency_seconds"]
                if labels == {"model_version": latency["model_version"], "stage": stage}
            ]
            assert got == ([] if seconds is None else [seconds])
    for c in body["capture"]:
        labels = {"trigger": c["trigger"], "model_version": c["model_version"]}
        assert value(m, "longtail_captured_frames_total", **labels) == c["frames_stored"]
        assert value(m, "longtail_capture_rate", **labels) == pytest.approx(c["rate"])
        assert (
            value(m, "longtail_analysed_frames_total", model_version=c["model_version"])
            == c["frames_analysed"]
        )
    for d in body["drift"]:
        version = d["model_version"]
        assert value(m, "longtail_score_sample_frames", model_version=version) == d["frames"]
        assert value(m, "longtail_score_sample", model_version=version, quantile="0.95") == d["p95"]
        if d["ks"] is not None:
            assert value(m, "longtail_score_drift_ks", model_version=version) == d["ks"]
    newest = body["agreement"][-1]
    assert value(m, "longtail_agreement_window_objects") == newest["objects"]
    # the QA side: reviewer throughput and accuracy, time to decision and queue age per tier
    for person in qa["people"]:
        for key, name in (
            ("reviews_per_hour", "longtail_person_reviews_per_hour"),
            ("tasks_per_hour", "longtail_person_tasks_per_hour"),
        ):
            got = [v for labels, v in m.get(name, []) if labels["user"] == person["name"]]
            assert got == ([] if person[key] is None else [pytest.approx(person[key])])
    tier3 = next(t for t in qa["tiers"] if t["tier"] == 3)
    assert tier3["accepted"] == 5
    # the reviewer decided one task 90 s after leasing it: 40 reviews per active hour
    rev = next(p for p in qa["people"] if p["name"] == "rev")
    assert rev["reviews_done"] == 1 and rev["reviews_per_hour"] == pytest.approx(40.0)
    assert value(m, "longtail_person_reviews_per_hour", user="rev") == pytest.approx(40.0)
    assert (
        value(m, "longtail_tier_time_to_decision_seconds", tier="3", quantile="0.5")
        == tier3["time_to_decision_p50_s"]
    )
    # a reviewer reads the team's figures but not the loop's evidence
    reviewer = families(served.get("/metrics", "reviewer").text)
    assert "longtail_person_tasks_per_hour" in reviewer
    assert not [name for name in reviewer if name.startswith(("longtail_loop", "longtail_capture"))]
    assert served.get("/metrics", "annotator").status_code == 403


def grafana_metric_names(dashboard: dict[str, Any]) -> set[str]:
    names = set()
    for panel in dashboard["panels"]:
        for target in panel.get("targets", []):
            names |= set(re.findall(r"\b(longtail_[a-z0-9_]+)\b", target["expr"]))
    return names


def test_the_grafana_dashboard_asks_for_exported_metrics(served: Served) -> None:
    dashboard = json.loads(GRAFANA.read_text())
    asked = grafana_metric_names(dashboard)
    exported = set(families(served.get("/metrics", "safety_engineer").text))
    # a family with nothing to export has no sample; its name still appears in the HELP lines
    helped = set(re.findall(r"^# HELP (\S+)", served.get("/metrics", "admin").text, re.M))
    counters = {f"{n}_total" for n in helped}
    assert len(asked) >= 10
    assert asked <= exported | helped | counters, asked - exported - helped - counters
    assert {p["title"] for p in dashboard["panels"]} >= {
        "Inter-annotator agreement",
        "Model performance delta per loop",
        "Feedback-loop latency by stage",
        "Capture rate per trigger",
        "Score drift (KS) from the reference model",
    }
    assert all(math.isfinite(p["gridPos"]["w"]) for p in dashboard["panels"])
