"""Rollout campaigns on SQLite and PostgreSQL: a deterministic canary, assignments, health
reports judged against the limits, promotion or rollback with the numbers, and a restart that
resumes the campaign."""

from __future__ import annotations

import math
from dataclasses import replace

import pytest

from backend.auth.people import Principal
from backend.auth.roles import Role
from backend.errors import ConflictError, InvalidInputError, NotFoundError
from backend.release.evidence import bypass_gate
from backend.release.health import HealthLimits
from backend.release.registry import CANDIDATE, CHAMPION, PREVIOUS, register_baseline
from backend.release.rollout import canary_fraction, select_canary
from backend.release.types import HealthReport
from tests.backend.release.conftest import ReleaseWorld, record_gate

FLEET = tuple(f"car-{i:02d}" for i in range(20))
LIMITS = HealthLimits(
    max_error_rate=0.01, max_trigger_rate_ratio=2.0, max_latency_p99_ms=80.0, max_score_shift=0.3
)


def healthy(version: str, *, errors: int = 0, triggers: int = 10) -> HealthReport:
    return HealthReport(
        version=version,
        frames=1000,
        triggers=triggers,
        errors=errors,
        latency_ms_p50=20.0,
        latency_ms_p99=45.0,
        score_mean=0.30,
        score_p95=0.80,
    )


def test_the_canary_is_deterministic_sized_and_never_empty() -> None:
    fleet = [f"v-{i}" for i in range(2000)]
    chosen = select_canary(7, fleet, 0.1)
    assert chosen == select_canary(7, list(reversed(fleet)), 0.1) == sorted(chosen)
    # binomial(2000, 0.1): mean 200, sd 13.4 -> within 5 sd
    assert abs(len(chosen) - 200) < 5 * math.sqrt(2000 * 0.1 * 0.9)
    assert chosen != select_canary(8, fleet, 0.1)  # independent between campaigns
    assert all(canary_fraction(7, v) < 0.1 for v in chosen)
    assert select_canary(7, fleet, 1.0) == sorted(fleet)
    assert select_canary(7, [], 0.5) == []
    assert len(select_canary(7, ["solo"], 1e-9)) == 1
    few = ["a", "b", "c"]
    assert select_canary(3, few, 1e-9) == [min(few, key=lambda v: canary_fraction(3, v))]


def start(world: ReleaseWorld, share: float = 0.2, reports: int = 2) -> int:
    world.vehicles(*FLEET)
    registry = world.release.registry
    baseline = register_baseline(registry).version
    registry.register(
        world.package("m-2"), run_id="r", dataset_digest=None, parent_version=None, metrics={}
    )
    record_gate(world.db, "m-2", baseline)
    campaign = world.release.rollout.start_campaign(
        "m-2", canary_share=share, health_limits=LIMITS, min_canary_reports=reports, actor="admin"
    )
    assert campaign.state == "canary" and registry.alias(CANDIDATE) is not None
    return campaign.id


def test_canary_vehicles_get_the_candidate_and_the_rest_the_champion(world: ReleaseWorld) -> None:
    assert world.release.rollout.assignment_for("car-00") is None  # nothing released yet
    campaign_id = start(world)
    rollout = world.release.rollout
    campaign = rollout.get(campaign_id)
    assert list(campaign.canary_vehicles) == select_canary(campaign_id, FLEET, 0.2)
    assert 1 <= len(campaign.canary_vehicles) < len(FLEET)
    champion = world.release.registry.alias(CHAMPION)
    assert champion is not None
    for vehicle in FLEET:
        assignment = rollout.assignment_for(vehicle)
        assert assignment is not None
        want = "m-2" if vehicle in campaign.canary_vehicles else champion.version
        assert assignment.version == want
        record = world.release.registry.get(want)
        assert (assignment.digest, assignment.size) == (record.digest, record.size)
        assert assignment.signature == record.signature
        assert assignment.public_key == world.signer.public_key
        data = rollout.open_archive(assignment.version)
        assert len(data) == assignment.size


def report_all(world: ReleaseWorld, campaign_id: int, canary_errors: int = 0) -> None:
    rollout = world.release.rollout
    canary = set(rollout.get(campaign_id).canary_vehicles)
    for vehicle in FLEET:
        assignment = rollout.assignment_for(vehicle)
        assert assignment is not None
        errors = canary_errors if vehicle in canary else 0
        world.clock.advance(1)
        rollout.report_health(vehicle, healthy(assignment.version, errors=errors))


def test_a_healthy_canary_is_promoted_with_its_numbers(world: ReleaseWorld) -> None:
    campaign_id = start(world)
    rollout = world.release.rollout
    baseline = rollout.get(campaign_id).baseline_version
    first = rollout.evaluate(campaign_id)
    assert first.outcome == "pending" and "0 of 2 canary reports" in first.reason
    report_all(world, campaign_id)
    report_all(world, campaign_id)
    result = rollout.evaluate(campaign_id)
    assert result.outcome == "promoted", result.reason
    assert {c.name: c.passed for c in result.checks} == {
        "error_rate": True,
        "latency_p99_ms": True,
        "trigger_rate_ratio": True,
        "score_shift": True,
        "refusals": True,
    }
    assert result.canary.frames == 2000 * len(rollout.get(campaign_id).canary_vehicles)
    assert result.fleet.trigger_rate == pytest.approx(0.01)
    campaign = rollout.get(campaign_id)
    assert campaign.state == "promoted" and campaign.decided_by == "rollout"
    assert "canary healthy" in campaign.decision_reason
    assert campaign.decision_figures["canary"]["error_rate"] == 0.0
    registry = world.release.registry
    assert registry.alias(CHAMPION).version == "m-2"  # type: ignore[union-attr]
    assert registry.alias(PREVIOUS).version == baseline  # type: ignore[union-attr]
    assert registry.alias(CANDIDATE) is None
    assert {rollout.assignment_for(v).version for v in FLEET} == {"m-2"}  # type: ignore[union-attr]
    assert rollout.active() is None
    assert rollout.evaluate(campaign_id).outcome == "promoted"  # decided stays decided


def test_a_canary_that_refuses_the_candidate_rolls_back_with_the_refusal(
    world: ReleaseWorld,
) -> None:
    campaign_id = start(world, reports=2)
    rollout = world.release.rollout
    campaign = rollout.get(campaign_id)
    baseline = campaign.baseline_version
    canary = campaign.canary_vehicles[0]
    others = [v for v in FLEET if v not in campaign.canary_vehicles]
    # a fleet vehicle refusing the champion, and refusals of other versions, are stored but are
    # not the canary's: the campaign stays pending
    rollout.report_health(
        others[0], replace(healthy(baseline), refused_version=baseline, refused_reason="old key")
    )
    rollout.report_health(
        others[1], replace(healthy(baseline), refused_version="m-2", refused_reason="not mine")
    )
    pending = rollout.evaluate(campaign_id)
    assert pending.outcome == "pending" and pending.canary.refusals == 0
    assert pending.fleet.refusals == 1  # the champion's refusal by a fleet vehicle, shown
    assert {c.name: c.passed for c in pending.checks}["refusals"] is True
    # the canary vehicle refused the candidate (it keeps running the champion and says so)
    world.clock.advance(5)
    reason = "model m-2: signature does not verify with the configured public key"
    rollout.report_health(
        canary, replace(healthy(baseline), refused_version="m-2", refused_reason=reason)
    )
    result = rollout.evaluate(campaign_id)
    assert result.outcome == "rolled_back" and result.canary.refusals == 1
    assert "refusals 1 ABOVE limit 0" in result.reason
    assert rollout.get(campaign_id).decision_figures["canary"]["refusals"] == 1
    refused = rollout.refusals(campaign_id)
    newest = refused[0]
    assert (newest.vehicle, newest.version, newest.reason) == (canary, "m-2", reason)
    assert len(refused) == 3 and {r.campaign_id for r in refused} == {campaign_id}
    assert world.release.registry.alias(CANDIDATE) is None
    assert rollout.assignment_for(canary).version == baseline  # type: ignore[union-attr]
    with pytest.raises(NotFoundError):
        rollout.refusals(campaign_id + 1000)


def test_a_refusal_limit_above_zero_tolerates_that_many(world: ReleaseWorld) -> None:
    world.vehicles(*FLEET)
    registry = world.release.registry
    baseline = register_baseline(registry).version
    registry.register(
        world.package("m-2"), run_id="r", dataset_digest=None, parent_version=None, metrics={}
    )
    record_gate(world.db, "m-2", baseline)
    rollout = world.release.rollout
    campaign = rollout.start_campaign(
        "m-2",
        canary_share=1.0,
        health_limits=replace(LIMITS, max_refusals=1.0),
        min_canary_reports=1,
        actor="admin",
    )
    first, second = campaign.canary_vehicles[:2]
    refusal = replace(healthy(baseline), refused_version="m-2", refused_reason="would not load")
    rollout.report_health(first, refusal)
    assert rollout.evaluate(campaign.id).outcome == "pending"  # 1 refusal, limit 1
    rollout.report_health(second, refusal)
    result = rollout.evaluate(campaign.id)
    assert result.outcome == "rolled_back" and "refusals 2 ABOVE limit 1" in result.reason


def test_errors_above_the_limit_roll_back_and_say_by_how_much(world: ReleaseWorld) -> None:
    campaign_id = start(world, reports=5)
    rollout = world.release.rollout
    baseline = rollout.get(campaign_id).baseline_version
    report_all(world, campaign_id, canary_errors=50)  # 5 % of frames, limit 1 %
    result = rollout.evaluate(campaign_id)
    assert result.outcome == "rolled_back"  # a broken limit does not wait for more reports
    assert "error_rate 0.05 ABOVE limit 0.01" in result.reason
    campaign = rollout.get(campaign_id)
    assert campaign.state == "rolled_back" and campaign.decision_reason == result.reason
    checks = {c["name"]: c for c in campaign.decision_figures["checks"]}
    assert checks["error_rate"]["value"] == pytest.approx(0.05)
    assert checks["error_rate"]["passed"] is False
    registry = world.release.registry
    assert registry.alias(CHAMPION).version == baseline  # type: ignore[union-attr]
    assert registry.alias(CANDIDATE) is None
    assert {rollout.assignment_for(v).version for v in FLEET} == {baseline}  # type: ignore[union-attr]
    with world.db.transaction("audit") as uow:
        assert "rollout.rollback" in [e.action for e in uow.audit.list()]


def test_a_trigger_storm_or_score_shift_rolls_back(world: ReleaseWorld) -> None:
    campaign_id = start(world, reports=1)
    rollout = world.release.rollout
    canary = set(rollout.get(campaign_id).canary_vehicles)
    for vehicle in FLEET:
        assignment = rollout.assignment_for(vehicle)
        assert assignment is not None
        triggers = 50 if vehicle in canary else 10  # 5x the fleet's rate, limit 2x
        rollout.report_health(vehicle, healthy(assignment.version, triggers=triggers))
    result = rollout.evaluate(campaign_id)
    assert result.outcome == "rolled_back"
    assert "trigger_rate_ratio 5 ABOVE limit 2" in result.reason


def test_a_restarted_backend_resumes_the_campaign(world: ReleaseWorld) -> None:
    needed = len(FLEET) + 1  # more than one round of reports from any canary
    campaign_id = start(world, reports=needed)
    report_all(world, campaign_id)
    restarted = world.reopen()  # new service objects, same database and blobs
    assert restarted.rollout.active() == world.release.rollout.get(campaign_id)
    canary = restarted.rollout.get(campaign_id).canary_vehicles
    pending = restarted.rollout.evaluate(campaign_id)
    assert pending.outcome == "pending"
    assert f"{len(canary)} of {needed} canary reports" in pending.reason
    assert restarted.rollout.assignment_for(canary[0]).version == "m-2"  # type: ignore[union-attr]
    for _ in range(math.ceil(needed / len(canary)) - 1):
        report_all(world, campaign_id)
    assert world.reopen().rollout.evaluate(campaign_id).outcome == "promoted"


def test_one_campaign_at_a_time_and_manual_decisions(world: ReleaseWorld) -> None:
    campaign_id = start(world)
    rollout = world.release.rollout
    registry = world.release.registry
    registry.register(
        world.package("m-3"), run_id=None, dataset_digest=None, parent_version=None, metrics={}
    )
    record_gate(world.db, "m-3", rollout.get(campaign_id).baseline_version)
    with pytest.raises(ConflictError, match=f"rollout {campaign_id} of model m-2 is in canary"):
        rollout.start_campaign("m-3", canary_share=0.5, health_limits=LIMITS, min_canary_reports=1)
    baseline = rollout.get(campaign_id).baseline_version
    promoted = rollout.promote(campaign_id, actor="admin", note="looked fine")
    assert (
        promoted.state == "promoted"
        and promoted.decision_reason == "promoted by admin: looked fine"
    )
    with pytest.raises(ConflictError, match="not in canary"):
        rollout.promote(campaign_id, actor="admin")
    # a problem found after promotion: the champion it replaced returns
    back = rollout.rollback(campaign_id, actor="admin", note="field reports")
    assert back.state == "rolled_back"
    assert registry.alias(CHAMPION).version == baseline  # type: ignore[union-attr]
    assert registry.alias(PREVIOUS).version == "m-2"  # type: ignore[union-attr]
    with pytest.raises(ConflictError, match="nothing to roll back"):
        rollout.rollback(campaign_id, actor="admin")
    second = rollout.start_campaign(
        "m-3", canary_share=0.5, health_limits=LIMITS, min_canary_reports=1
    )
    assert second.id != campaign_id and rollout.active() == second
    withdrawn = rollout.rollback(second.id, actor="admin")
    assert withdrawn.state == "rolled_back" and registry.alias(CANDIDATE) is None
    with pytest.raises(ConflictError, match="already the champion"):
        rollout.start_campaign(
            baseline, canary_share=0.5, health_limits=LIMITS, min_canary_reports=1
        )


def test_bad_campaigns_and_reports_are_refused(world: ReleaseWorld) -> None:
    rollout = world.release.rollout
    world.vehicles("car-00")
    registry = world.release.registry
    registry.register(
        world.package("m-2"), run_id=None, dataset_digest=None, parent_version=None, metrics={}
    )
    with pytest.raises(NotFoundError, match="no champion"):
        rollout.start_campaign("m-2", canary_share=0.5, health_limits=LIMITS, min_canary_reports=1)
    with pytest.raises(InvalidInputError, match="canary_share"):
        rollout.start_campaign("m-2", canary_share=0.0, health_limits=LIMITS, min_canary_reports=1)
    with pytest.raises(InvalidInputError, match="max_error_rate"):
        HealthLimits(max_error_rate=float("nan"))
    with pytest.raises(NotFoundError, match="no vehicle 'ghost'"):
        rollout.report_health("ghost", healthy("m-2"))
    with pytest.raises(InvalidInputError, match="frames must be a count"):
        rollout.report_health("car-00", replace(healthy("m-2"), frames=-1))
    with pytest.raises(InvalidInputError, match="latency_ms_p99 must be finite"):
        rollout.report_health("car-00", HealthReport("m-2", 1, 0, 0, 1.0, float("inf"), 0.1, 0.2))


def test_no_rollout_without_a_passing_or_bypassed_gate_verdict(world: ReleaseWorld) -> None:
    world.vehicles(*FLEET)
    registry = world.release.registry
    rollout = world.release.rollout
    baseline = register_baseline(registry).version
    registry.register(
        world.package("m-2"), run_id="r", dataset_digest=None, parent_version=None, metrics={}
    )
    start = dict(canary_share=0.5, health_limits=LIMITS, min_canary_reports=1)
    with pytest.raises(ConflictError, match="has no release-gate verdict against champion"):
        rollout.start_campaign("m-2", **start)  # type: ignore[arg-type]
    record_gate(world.db, "m-2", "some-other-champion")  # a verdict on another pair counts not
    with pytest.raises(ConflictError, match="has no release-gate verdict"):
        rollout.start_campaign("m-2", **start)  # type: ignore[arg-type]
    failed = record_gate(world.db, "m-2", baseline, passed=False)
    with pytest.raises(
        ConflictError, match=rf"failed the release gate .*verdict {failed}; failed slices: class:st"
    ):
        rollout.start_campaign("m-2", **start)  # type: ignore[arg-type]
    assert rollout.active() is None and registry.alias(CANDIDATE) is None
    admin = Principal("root", Role.ADMIN, calibration="passed")
    bypass_gate(world.db, admin, failed, "field trial approved by the safety board", world.clock())
    campaign = rollout.start_campaign("m-2", **start)  # type: ignore[arg-type]
    assert campaign.state == "canary"
    # a newer passing verdict after a failed one releases too; a newer failure blocks again
    rollout.rollback(campaign.id, actor="admin")
    record_gate(world.db, "m-2", baseline, passed=False)
    with pytest.raises(ConflictError, match="failed the release gate"):
        rollout.start_campaign("m-2", **start)  # type: ignore[arg-type]
