"""The vehicle against the real release stage: the registry packs and signs, the rollout
assigns the champion through the default wiring (``start_ingest`` serves ModelUpdates over
``backend.release.rollout``), the vehicle verifies with the registry's public key, installs,
swaps and reports health where the rollout stores it."""

from __future__ import annotations

from pathlib import Path

from agent.perception.package import ModelPackage, default_package_path
from backend.wiring import build_backend, local_config, start_ingest
from tests.agent.updates.vehicle import POLL_S, Vehicle
from tests.backend.release.conftest import make_package


def test_the_champion_reaches_the_vehicle_signed_by_the_registry(tmp_path: Path) -> None:
    backend = build_backend(local_config(tmp_path / "backend"))
    token = backend.add_vehicle("car-1")
    server = start_ingest(backend)
    registry = backend.release.registry
    car = Vehicle.start(server.target, token, tmp_path / "models", registry.public_key)
    baseline = ModelPackage.load(default_package_path()).version
    try:
        assert car.poll() == POLL_S and car.version == baseline  # nothing released yet
        registry.register(
            make_package(tmp_path / "packages", "v2"),
            run_id=None,
            dataset_digest=None,
            parent_version=None,
            metrics={},
        )
        registry.promote("v2")
        car.health.frame(baseline, 0.02, 0.4, triggered=True)
        assert car.poll() == POLL_S
        assert car.version == "v2"
        assert car.metric("longtail_agent_model_updates_total", outcome="installed") == 1
        with backend.db.transaction("read reports") as uow:
            reports = uow.rollouts.reports(version=baseline)
        assert [(r.vehicle, r.frames, r.triggers) for r in reports] == [("car-1", 1, 1)]
    finally:
        car.close()
        server.stop(grace_s=0.5)
        backend.close()


def test_a_canary_that_refuses_the_candidate_rolls_the_campaign_back(tmp_path: Path) -> None:
    """The canary was configured with another release key: it refuses the candidate's
    signature, keeps the champion running, says so in its next health report, and the rollout
    rolls the campaign back on that refusal alone."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from backend.release.registry import register_baseline
    from tests.backend.release.conftest import record_gate
    from tests.backend.release.fake_delivery import raw_public_key

    backend = build_backend(local_config(tmp_path / "backend"))
    token = backend.add_vehicle("car-1")
    server = start_ingest(backend)
    registry = backend.release.registry
    baseline = register_baseline(registry).version
    registry.register(
        make_package(tmp_path / "packages", "v2"),
        run_id=None,
        dataset_digest=None,
        parent_version=None,
        metrics={},
    )
    record_gate(backend.db, "v2", baseline)
    rollout = backend.release.rollout
    campaign = rollout.start_campaign(
        "v2",
        canary_share=1.0,
        health_limits=backend.release.default_limits(),
        min_canary_reports=1,
        actor="admin",
    )
    wrong_key = raw_public_key(Ed25519PrivateKey.generate())
    car = Vehicle.start(server.target, token, tmp_path / "models", wrong_key)
    try:
        assert car.poll() == POLL_S and car.version == baseline  # v2 refused, baseline runs
        assert car.metric("longtail_agent_model_updates_total", outcome="refused") == 1
        assert rollout.evaluate(campaign.id, decide=False).outcome == "pending"  # not told yet
        assert car.poll() == POLL_S  # the next poll reports the refusal
        result = rollout.evaluate(campaign.id)
        assert result.outcome == "rolled_back" and result.canary.refusals == 1
        assert "refusals 1 ABOVE limit 0" in result.reason
        (refusal,) = rollout.refusals(campaign.id)
        assert (refusal.vehicle, refusal.version) == ("car-1", "v2")
        assert "signature" in refusal.reason or "key" in refusal.reason, refusal.reason
        assert rollout.assignment_for("car-1").version == baseline  # type: ignore[union-attr]
    finally:
        car.close()
        server.stop(grace_s=0.5)
        backend.close()
