"""``/models`` and ``/rollouts`` over real HTTP: who may read and who may decide, a campaign
started, judged and decided through the API, and refusals that name the problem."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from backend.release.registry import register_baseline
from backend.release.types import HealthReport
from backend.wiring import build_api
from tests.backend.annotation.world import World, make_world
from tests.backend.release.conftest import make_package, record_gate
from tests.fixtures.http import serve

ROLES = ("annotator", "reviewer", "senior", "admin", "safety_engineer")


@pytest.fixture
def api(tmp_path: Path) -> Iterator[tuple[World, httpx.Client]]:
    w = make_world(tmp_path)
    for role in ROLES:
        w.person(role.replace("_", "-"), role)
    for vehicle in ("car-1", "car-2", "car-3"):
        w.backend.add_vehicle(vehicle)
    registry = w.backend.release.registry
    register_baseline(registry)
    (tmp_path / "packages").mkdir()
    w.clock.advance(60)
    registry.register(
        make_package(tmp_path / "packages", "m-2"),
        run_id="run-7",
        dataset_digest=None,
        parent_version=None,
        metrics={"recall": 0.81},
    )
    record_gate(w.backend.db, "m-2", registry_baseline(w))
    with serve(build_api(w.backend)) as client:
        yield w, client
    w.backend.close()


def registry_baseline(w: World) -> str:
    champion = w.backend.release.registry.alias("champion")
    assert champion is not None
    return champion.version


def auth(w: World, role: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {w.tokens[role.replace('_', '-')]}"}


def test_readers_see_versions_and_aliases_and_labellers_do_not(
    api: tuple[World, httpx.Client],
) -> None:
    w, client = api
    for role in ("admin", "senior", "safety_engineer"):
        listed = client.get("/models", headers=auth(w, role))
        assert listed.status_code == 200
        assert [m["version"] for m in listed.json()] == ["m-2", registry_baseline(w)]
    one = client.get("/models/m-2", headers=auth(w, "safety_engineer")).json()
    record = w.backend.release.registry.get("m-2")
    assert one["digest"] == record.digest and one["signature"] == record.signature.hex()
    assert one["public_key"] == w.backend.release.signer.public_key_hex
    aliases = client.get("/models/aliases", headers=auth(w, "senior")).json()
    assert [a["name"] for a in aliases] == ["champion"]
    for role in ("annotator", "reviewer"):
        refused = client.get("/models", headers=auth(w, role))
        assert refused.status_code == 403 and role in refused.json()["detail"]
    assert client.get("/models/nope", headers=auth(w, "admin")).status_code == 404
    assert client.get("/models/..%2F..", headers=auth(w, "admin")).status_code in {404, 422}


def test_only_admins_start_and_decide_campaigns(api: tuple[World, httpx.Client]) -> None:
    w, client = api
    body = {"version": "m-2", "canary_share": 0.34, "min_canary_reports": 1}
    for role in ("annotator", "reviewer", "senior", "safety_engineer"):
        refused = client.post("/rollouts", json=body, headers=auth(w, role))
        assert refused.status_code == 403, role
    assert w.backend.release.rollout.active() is None
    started = client.post("/rollouts", json=body, headers=auth(w, "admin"))
    assert started.status_code == 201, started.text
    campaign = started.json()
    assert campaign["state"] == "canary" and campaign["canary_vehicles"]
    assert campaign["health_limits"]["max_error_rate"] == w.backend.config.release.max_error_rate
    again = client.post("/rollouts", json=body, headers=auth(w, "admin"))
    assert again.status_code == 409 and "is in canary" in again.json()["detail"]

    rollout = w.backend.release.rollout
    for vehicle in ("car-1", "car-2", "car-3"):
        assignment = rollout.assignment_for(vehicle)
        assert assignment is not None
        errors = 100 if assignment.version == "m-2" else 0
        rollout.report_health(
            vehicle, HealthReport(assignment.version, 1000, 10, errors, 20.0, 40.0, 0.3, 0.8)
        )
    path = f"/rollouts/{campaign['id']}"
    status = client.get(path, headers=auth(w, "safety_engineer")).json()
    assert status["state"] == "canary" and status["evaluation"]["outcome"] == "rolled_back"
    assert client.post(f"{path}/evaluate", headers=auth(w, "senior")).status_code == 403
    decided = client.post(f"{path}/evaluate", headers=auth(w, "admin")).json()
    assert decided["state"] == "rolled_back"
    assert "error_rate 0.1 ABOVE limit 0.01" in decided["decision_reason"]
    error_check = next(c for c in decided["evaluation"]["checks"] if c["name"] == "error_rate")
    assert error_check == {"name": "error_rate", "value": 0.1, "limit": 0.01, "passed": False}
    late = client.post(f"{path}/promote", json={"note": "x"}, headers=auth(w, "admin"))
    assert late.status_code == 409 and "rolled_back" in late.json()["detail"]
    page = client.get("/rollouts", headers=auth(w, "senior")).json()
    assert page["total"] == 1 and page["items"][0]["state"] == "rolled_back"


def test_a_rollout_shows_the_packages_its_canary_refused(api: tuple[World, httpx.Client]) -> None:
    w, client = api
    body = {"version": "m-2", "canary_share": 1.0, "min_canary_reports": 1}
    campaign = client.post("/rollouts", json=body, headers=auth(w, "admin")).json()
    assert campaign["health_limits"]["max_refusals"] == w.backend.config.release.max_refusals
    path = f"/rollouts/{campaign['id']}"
    assert client.get(path, headers=auth(w, "senior")).json()["refusals"] == []
    refusal = HealthReport(
        registry_baseline(w), 50, 1, 0, 20.0, 40.0, 0.3, 0.8, "m-2", "package would not load"
    )
    w.backend.release.rollout.report_health("car-2", refusal)
    status = client.get(path, headers=auth(w, "safety_engineer")).json()
    assert [(r["vehicle"], r["version"], r["reason"]) for r in status["refusals"]] == [
        ("car-2", "m-2", "package would not load")
    ]
    check = next(c for c in status["evaluation"]["checks"] if c["name"] == "refusals")
    assert check == {"name": "refusals", "value": 1.0, "limit": 0.0, "passed": False}
    assert status["evaluation"]["canary"]["refusals"] == 1
    assert status["evaluation"]["outcome"] == "rolled_back"  # what the next judgement does
    decided = client.post(f"{path}/evaluate", headers=auth(w, "admin")).json()
    assert (
        decided["state"] == "rolled_back"
        and "refusals 1 ABOVE limit 0" in (decided["decision_reason"])
    )
    assert len(decided["refusals"]) == 1


def test_bad_campaign_requests_are_refused_not_crashed(api: tuple[World, httpx.Client]) -> None:
    w, client = api
    admin = auth(w, "admin")
    missing = client.post("/rollouts", json={"version": "m-9"}, headers=admin)
    assert missing.status_code == 404 and "m-9" in missing.json()["detail"]
    for bad in (
        {"version": "m-2", "canary_share": 0},
        {"version": "m-2", "canary_share": 1.5},
        {"version": "../m-2"},
        {"version": "m-2", "health_limits": {"max_error_rate": -1}},
        {"version": "m-2", "health_limits": {"bogus": 1}},
        {"version": "m-2", "health_limits": {"max_refusals": -1}},
    ):
        assert client.post("/rollouts", json=bad, headers=admin).status_code == 422, bad
    assert client.get("/rollouts/99", headers=admin).status_code == 404
    assert client.post("/rollouts/99/rollback", json={}, headers=admin).status_code == 404
