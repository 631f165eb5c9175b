"""SPI and node statuses computed from evidence rows the real gate wrote through the real
evidence code, on SQLite and PostgreSQL: supported, violated, challenged (straddling, missing,
stale, bypassed) and undeveloped, and how they propagate up the case."""

from __future__ import annotations

import pytest

from backend.auth.people import Principal
from backend.auth.roles import Role
from backend.errors import NotFoundError
from backend.release.evidence import bypass_gate
from backend.safety.spi import Status, worst
from tests.backend.safety.conftest import AT, GOOD, SafetyWorld, row, verdict_of

S, V, C, U = Status.SUPPORTED, Status.VIOLATED, Status.CHALLENGED, Status.UNDEVELOPED


def statuses(world: SafetyWorld, version: str) -> dict[str, Status | None]:
    a = world.safety.assessment(version)
    return {k: n.status for k, n in a.nodes.items()}


def test_a_passing_candidate_is_supported_on_the_rows_it_was_gated_on(world: SafetyWorld) -> None:
    world.register("m-2")
    vid = world.gate(verdict_of("m-2", world.champion, GOOD))
    a = world.safety.assessment("m-2")
    with world.db.transaction("read") as uow:
        rows = {(r.kind, r.slice, r.metric): r for r in uow.evidence.evidence(vid)}
    assert a.verdict is not None and a.verdict.id == vid
    floor = a.spis["Sn2"]
    stored = rows[("floor", "all", "recall")]
    assert (floor.evidence_id, floor.value, floor.lo, floor.hi) == (
        stored.id,
        stored.value,
        stored.lo,
        stored.hi,
    )
    assert floor.value == pytest.approx(0.7) and floor.gate_threshold == 0.5
    dog = a.spis["Sn4"]
    assert dog.evidence_id == rows[("no_regression", "class:dog", "recall")].id
    assert dog.value == pytest.approx(0.1) and dog.lo == pytest.approx(0.06)
    assert dog.claims == ("G3",) and dog.status is S
    assert "holds: 0.1 [0.06, 0.14] vs >= -0.05" in dog.reason
    assert a.spis["Sn5"].value == 0.8 and a.spis["Sn5"].lo is None  # no interval: by value
    got = {k: n.status for k, n in a.nodes.items()}
    assert got == {
        "G1": U,  # the case has an open goal: the best the top can be
        "C1": None,
        "S1": U,
        "G2": S,
        "Sn1": S,
        "Sn2": S,
        "Sn3": S,
        "G3": S,
        "Sn4": S,
        "G4": S,
        "Sn5": S,
        "G5": U,
    }
    assert a.top is U and a.nodes["S1"].reason == "undeveloped by G5"
    expected_ids = {
        rows[("floor", "all", "recall")].id,
        rows[("no_regression", "all", "fp_per_frame")].id,
        rows[("no_regression", "class:dog", "recall")].id,
        rows[("label_agreement", "", "label_agreement")].id,
        rows[("verdict", "", "gate")].id,
    }
    assert set(a.evidence_ids) == expected_ids


def test_violations_and_straddling_intervals(world: SafetyWorld) -> None:
    world.register("m-2")
    world.gate(
        verdict_of(
            "m-2",
            world.champion,
            [
                row("all", "recall", 0.6, 0.45, half=0.02),  # whole interval under the floor
                row("class:dog", "recall", 0.5, 0.47),  # -0.03 [-0.07, 0.01] vs -0.05
                row("all", "fp_per_frame", 1.0, 1.45, half=0.1),  # 0.45 [0.35, 0.55] vs <= 0.5
            ],
            agreement=0.6,  # no interval: broken by its value
        )
    )
    a = world.safety.assessment("m-2")
    assert {k: r.status for k, r in a.spis.items()} == {"Sn2": V, "Sn3": C, "Sn4": C, "Sn5": V}
    assert a.spis["Sn4"].gate_passed is False  # the gate's own rule failed it
    assert a.spis["Sn4"].reason.startswith("uncertain: the interval straddles the threshold")
    assert a.spis["Sn2"].reason == "broken: 0.45 [0.43, 0.47] vs >= 0.5"
    assert a.nodes["Sn1"].status is V and "failed" in a.nodes["Sn1"].reason
    assert a.nodes["G2"].status is V and a.nodes["G2"].reason == "violated by Sn1, Sn2"
    assert a.nodes["G3"].status is C and a.nodes["G4"].status is V
    assert a.top is V and a.nodes["S1"].reason == "violated by G2, G4"

    world.register("m-3")
    world.gate(
        verdict_of(
            "m-3",
            world.champion,
            [
                row("all", "recall", 0.6, 0.7),
                row("class:dog", "recall", 0.5, 0.3),  # -0.2 [-0.24, -0.16]
                row("all", "fp_per_frame", 1.0, 1.7, half=0.1),  # 0.7 [0.6, 0.8] > 0.5
            ],
        )
    )
    got = statuses(world, "m-3")
    assert (got["Sn3"], got["Sn4"], got["G3"], got["G1"]) == (V, V, V, V)


def test_missing_evidence_is_challenged(world: SafetyWorld) -> None:
    baseline = statuses(world, world.champion)  # the baseline was never gated
    assert {k: v for k, v in baseline.items() if v is not None} == {
        "G1": C,
        "S1": C,
        "G2": C,
        "Sn1": C,
        "Sn2": C,
        "Sn3": C,
        "G3": C,
        "Sn4": C,
        "G4": C,
        "Sn5": C,
        "G5": U,
    }
    assert world.safety.assessment(None).model_version == world.champion
    world.register("m-2")
    # no dog frame in this suite, and the data gate without a figure (stored as NULL)
    world.gate(
        verdict_of(
            "m-2",
            world.champion,
            [row("all", "recall", 0.6, 0.7), row("all", "fp_per_frame", 1.0, 1.0)],
            agreement=None,
        )
    )
    a = world.safety.assessment("m-2")
    assert a.spis["Sn4"].status is C and a.spis["Sn4"].evidence_id is None
    assert a.spis["Sn4"].reason.endswith("holds no no_regression row for class:dog recall")
    assert a.spis["Sn5"].status is C and a.spis["Sn5"].evidence_id is not None
    assert a.spis["Sn5"].reason.endswith("has no defined value")
    assert a.nodes["Sn1"].status is V  # the gate fails an unknown agreement
    with pytest.raises(NotFoundError, match="m-9"):
        world.safety.assessment("m-9")


def test_stale_evidence_is_challenged_but_a_stale_violation_stays_one(world: SafetyWorld) -> None:
    world.register("m-2")
    world.gate(
        verdict_of(
            "m-2",
            world.champion,
            [row("all", "recall", 0.6, 0.7), row("class:dog", "recall", 0.5, 0.3), *GOOD[2:]],
        )
    )
    assert statuses(world, "m-2")["Sn2"] is S
    world.register("m-3")
    world.gate(verdict_of("m-3", world.champion, GOOD, suite="e" * 64))
    a = world.safety.assessment("m-2")
    assert a.stale and a.current_suite == "e" * 64
    assert a.spis["Sn2"].status is C and a.spis["Sn2"].stale
    assert a.spis["Sn2"].reason.startswith("stale: measured on suite ffffffffffff")
    assert a.spis["Sn4"].status is V  # broken on the old suite: still a violation
    assert statuses(world, "m-3")["Sn2"] is S


def test_a_bypassed_verdict_challenges_the_gate_solution(world: SafetyWorld) -> None:
    world.register("m-2")
    dog_drop = [GOOD[0], GOOD[2], row("class:dog", "recall", 0.5, 0.3)]
    vid = world.gate(verdict_of("m-2", world.champion, dog_drop))
    assert statuses(world, "m-2")["Sn1"] is V
    bypass_gate(world.db, Principal("root", Role.ADMIN, "passed"), vid, "field fix", AT)
    a = world.safety.assessment("m-2")
    assert a.nodes["Sn1"].status is C
    assert (
        a.nodes["Sn1"].reason == f"gate verdict {vid} failed (class:dog) and an admin bypassed it"
    )
    with world.db.transaction("read") as uow:
        bypass = next(r for r in uow.evidence.evidence(vid) if r.kind == "bypass")
    assert bypass.id in a.nodes["Sn1"].evidence_ids


def test_the_trend_follows_each_version_on_its_newest_verdict(world: SafetyWorld) -> None:
    for version in ("m-2", "m-3"):
        world.register(version)
    world.gate(
        verdict_of("m-2", world.champion, [GOOD[0], GOOD[2], row("class:dog", "recall", 0.5, 0.3)])
    )
    world.gate(verdict_of("m-3", world.champion, GOOD))
    world.gate(verdict_of("m-2", world.champion, GOOD))  # m-2 gated again: its newest counts
    assessments, points = world.safety.trend()
    assert [a.model_version for a in assessments] == ["m-3", "m-2"]
    dog = points["Sn4"]
    assert [(p.model_version, p.result.status) for p in dog] == [("m-3", S), ("m-2", S)]
    assert dog[1].result.value == pytest.approx(0.1)
    assert world.safety.trend(limit=1)[0][0].model_version == "m-2"


def test_worst_orders_the_statuses() -> None:
    assert worst([S, U]) is U and worst([U, C]) is C and worst([C, V, S]) is V
    assert worst([S]) is S
