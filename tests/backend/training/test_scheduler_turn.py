"""A retraining turn asked for over HTTP runs the real stages: a dataset version of the
accepted labels, the Retrainer (spawned worker), the edge-case suite comparison and the gate
with its evidence, recorded as a turn; the trigger then counts from its cutoff."""

from __future__ import annotations

from pathlib import Path

import pytest

from backend.wiring import build_api
from tests.backend.annotation.world import World
from tests.backend.datasets.conftest import stock
from tests.backend.training.turn_world import turn_world
from tests.fixtures.http import serve


@pytest.fixture
def world(tiny_package: Path, drives: dict[str, Path], tmp_path: Path) -> World:
    return turn_world(tiny_package, drives, tmp_path)


def test_a_requested_turn_retrains_gates_and_is_recorded(world: World) -> None:
    stock(world)
    world.person("boss", "admin")
    world.person("sam", "senior")
    world.clock.advance(1)
    admin = {"Authorization": f"Bearer {world.tokens['boss']}"}
    senior = {"Authorization": f"Bearer {world.tokens['sam']}"}
    try:
        with serve(build_api(world.backend)) as client:
            before = client.get("/training/trigger", headers=senior).json()
            assert before["blocked"] is None and before["since"] is None
            assert before["new_labels"] == before["total_labels"] and before["new_total"] > 0
            refused = client.post("/training/retrain", json={}, headers=senior)
            assert refused.status_code == 403 and "senior" in refused.json()["detail"]
            started = client.post("/training/retrain", json={"note": "first turn"}, headers=admin)
            assert started.status_code == 202, started.text
            run = started.json()
            assert run["state"] == "running" and run["trigger"] == "requested"
            assert run["reasons"][0] == "requested by boss: first turn"
            assert run["new_labels"] == before["new_labels"]
            assert world.backend.training.wait(600), "the turn did not finish"
            done = client.get(f"/training/runs/{run['id']}", headers=senior).json()
            assert done["state"] == "finished", done["error"]
            summary = done["summary"]
            # the stages are the product's: a registered candidate, a stored verdict, a version
            assert done["model_version"] == summary["candidate"]
            model = client.get(f"/models/{done['model_version']}", headers=admin).json()
            assert model["parent_version"] == summary["champion"]
            verdict = client.get(f"/evidence/verdicts/{done['verdict_id']}", headers=admin)
            assert verdict.status_code == 200
            assert verdict.json()["passed"] == done["gate_passed"] == summary["gate_passed"]
            # the fleet's monitoring sample was asked for the drift (none of it here: no drift)
            assert verdict.json()["details"]["drift_fleet_frames"] == 0
            assert not [e for e in verdict.json()["evidence"] if e["kind"] == "drift"]
            # the champion was judged alone on the same suite just before, as evidence of its own
            alone = client.get(
                "/evidence/verdicts",
                params={"model_version": summary["champion"]},
                headers=admin,
            ).json()["items"]
            assert [v["champion_version"] for v in alone] == [summary["champion"]]
            assert alone[0]["id"] < done["verdict_id"]
            assert alone[0]["suite_version"] == verdict.json()["suite_version"]
            version = client.get(f"/datasets/{summary['dataset_version']}", headers=admin).json()
            assert version["name"] == f"retrain-turn-{run['id']}"
            assert version["task_count"] == 4  # the stock's accepted tasks
            after = client.get("/training/trigger", headers=senior).json()
            assert after["since"] == done["labels_cutoff"] and after["new_labels"] == {}
            assert after["last_run"]["id"] == run["id"] and after["running"] is None
            listed = client.get("/training/runs", headers=senior).json()
            assert [r["id"] for r in listed] == [run["id"]]
    finally:
        world.backend.close()
