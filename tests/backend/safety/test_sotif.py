"""The SOTIF view over a backend with accepted labels, on SQLite and PostgreSQL: the triggering
conditions the suite knows with their status, and the accepted rare objects the suite does not
cover (field discoveries)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from backend.config import RoutingRuleConfig
from backend.release.evidence import record_verdict
from backend.release.gate import load_gate
from backend.release.registry import register_baseline
from backend.safety.service import accepted_tallies
from tests.backend.annotation.world import CAR, PEDESTRIAN, World, make_world
from tests.backend.release.conftest import make_package
from tests.backend.safety.conftest import row, verdict_of

ACCEPT_ALL = (RoutingRuleConfig("accept_all", "prelabel.count >= 0", tier=1),)
FAR = (45.0, 3.0, -0.9, 1.0, 0.8, 1.1, 0.0)


@pytest.fixture
def world(db_url: str, tmp_path: Path) -> Iterator[World]:
    w = make_world(tmp_path, db_url, rules=ACCEPT_ALL)
    try:
        yield w
    finally:
        w.backend.close()


def test_known_conditions_and_field_discoveries(world: World, tmp_path: Path) -> None:
    # the fleet's accepted labels: deer (in the suite), strollers and an unnamed obstacle
    # (not in it), cars and pedestrians (known classes: never discoveries)
    world.store_frame(seed=1, detections=[("deer", 0.9, CAR), ("car", 0.9, FAR)])
    world.store_frame(seed=2, t_s=60, detections=[("stroller", 0.9, CAR)], vehicle="car-2")
    world.store_frame(
        seed=3, t_s=120, detections=[("stroller", 0.8, CAR), ("unknown_obstacle", 0.5, FAR)]
    )
    world.store_frame(seed=4, t_s=180, detections=[("pedestrian", 0.9, PEDESTRIAN)])
    world.backend.annotation.builder.sync()
    with world.backend.db.transaction("tally") as uow:
        tallies = accepted_tallies(uow, page_size=2)  # several pages
    assert {k: (t.objects, t.frames, t.tasks) for k, t in tallies.items()} == {
        "deer": (1, 1, 1),
        "car": (1, 1, 1),
        "stroller": (2, 2, 2),
        "unknown_obstacle": (1, 1, 1),
        "pedestrian": (1, 1, 1),
    }

    registry = world.backend.release.registry
    champion = register_baseline(registry).version
    (tmp_path / "pk").mkdir()
    registry.register(
        make_package(tmp_path / "pk", "m-2"),
        run_id="r",
        dataset_digest=None,
        parent_version=None,
        metrics={},
    )
    # the shipped gate on a suite holding deer and one distance band; rain not measured
    rows = [
        row("all", "recall", 0.5, 0.6),
        row("class:deer", "recall", 0.2, 0.5),
        row("distance:20-40m", "recall", 0.6, 0.58),  # -0.02 [-0.06, 0.02] vs -0.03
        row("all", "fp_per_frame", 1.0, 1.0),
        row("all", "ece", 0.1, 0.1),
    ]
    verdict = verdict_of("m-2", champion, rows, gate=load_gate())
    vid = record_verdict(
        world.backend.db, verdict, run_id="run-s", at=datetime(2026, 12, 5, tzinfo=UTC), details={}
    )
    view = world.backend.safety.sotif("m-2")
    assert view["verdict_id"] == vid and view["model_version"] == "m-2"
    known = {k["slice"]: k for k in view["known"]}
    deer = known["class:deer"]
    assert (deer["kind"], deer["status"], deer["argued"], deer["in_suite"]) == (
        "class",
        "supported",
        True,
        True,
    )
    assert deer["spis"] == ["Sn4_deer"] and deer["gate_passed"] is True
    assert deer["accepted_objects"] == 1
    assert deer["checks"][0]["value"] == pytest.approx(0.3)
    band = known["distance:20-40m"]
    assert (band["kind"], band["status"], band["gate_passed"]) == ("distance", "challenged", False)
    rain = known["weather:rain"]  # argued by the case, not measured: missing evidence
    assert (rain["status"], rain["in_suite"], rain["checks"]) == ("challenged", False, [])
    assert "all" not in known
    unknown = {u["class_name"]: u for u in view["unknown"]}
    assert list(unknown) == ["stroller", "unknown_obstacle"]  # most objects first
    stroller = unknown["stroller"]
    assert (stroller["objects"], stroller["frames"], stroller["vehicles"]) == (
        2,
        2,
        ["car-1", "car-2"],
    )
    assert stroller["first_accepted"] == world.clock()

    # the champion (never gated): its conditions are unmeasured, the suite's coverage is the same
    champion_view = world.backend.safety.sotif(None)
    assert champion_view["model_version"] == champion and champion_view["verdict_id"] is None
    assert [u["class_name"] for u in champion_view["unknown"]] == ["stroller", "unknown_obstacle"]
