"""``/tasks/queue/priorities`` over real HTTP: a senior reads the pending tasks in queue order
with the terms of their place; an admin re-scores on demand (refused without a champion)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from backend.release.registry import register_baseline
from backend.wiring import build_api
from tests.backend.annotation.world import CAR, PEDESTRIAN, World, make_world
from tests.fixtures.http import serve

WAIT_S = 240.0


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[World, httpx.Client]]:
    w = make_world(tmp_path)
    for name, role in (("sen", "senior"), ("adm", "admin"), ("ann", "annotator")):
        w.person(name, role)
    for i, boxes in enumerate([[CAR], [CAR, PEDESTRIAN], [PEDESTRIAN]]):
        w.store_frame(seed=i, detections=[("car", 0.5, b) for b in boxes], t_s=10.0 * i)
    w.backend.annotation.builder.sync()
    try:
        with serve(build_api(w.backend)) as client:
            yield w, client
    finally:
        w.backend.active.wait(WAIT_S)
        w.backend.close()


def auth(w: World, name: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {w.tokens[name]}"}


def test_seniors_read_the_order_and_admins_rescore(served: tuple[World, httpx.Client]) -> None:
    w, client = served
    path = "/tasks/queue/priorities"
    before = client.get(path, headers=auth(w, "sen"))
    assert before.status_code == 200, before.text
    body = before.json()
    assert body["champion"] is None and body["total"] == 3 and body["last_run"] is None
    assert body["setting"] == "mutual_info/foreground" and body["weights"]["batch_size"] == 20
    assert all(i["rank"] is None and not i["current"] for i in body["items"])
    refused = client.post(path, headers=auth(w, "adm"))
    assert refused.status_code == 409 and "champion" in refused.json()["detail"]
    assert client.post(path, headers=auth(w, "sen")).status_code == 403
    assert client.get(path, headers=auth(w, "ann")).status_code == 403

    version = register_baseline(w.backend.release.registry).version
    started = client.post(path, headers=auth(w, "adm"))
    assert started.status_code == 202, started.text
    assert started.json()["model_version"] == version and started.json()["pending"] == 3
    assert w.backend.active.wait(WAIT_S)
    after = client.get(path, headers=auth(w, "sen"), params={"limit": 2}).json()
    assert after["champion"] == version and after["total"] == 3 and len(after["items"]) == 2
    run = after["last_run"]
    assert (run["trigger"], run["actor"], run["scored"], run["placed"]) == ("request", "adm", 3, 3)
    every = client.get(path, headers=auth(w, "sen")).json()["items"]
    assert [i["rank"] for i in every] == [0, 1, 2]  # queue order is the active order
    priorities = [i["priority"] for i in every]
    assert priorities == sorted(priorities, reverse=True)
    for item in every:
        assert item["current"] and item["model_version"] == version
        assert item["candidates"] > 0 and item["uncertainty"] >= 0.0 and item["kind"]
        assert 0.0 <= item["uncertainty_norm"] <= 1.0 and 0.0 <= item["diversity"] <= 1.0
        assert item["builder_priority"] == pytest.approx(1.5)
    assert every[0]["distance"] is None  # the first has nothing to be compared with
    assert every[1]["distance"] is not None
