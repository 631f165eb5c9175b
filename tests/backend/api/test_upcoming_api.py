"""Prefetching the next task over real HTTP: ``/work/{id}/upcoming`` names the task the
person gets after this one (without leasing it), its frames' points come coarse level first,
and other frames, other people's assignments and an empty queue are refused."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import pytest

from backend.wiring import build_api
from tests.backend.annotation.test_lod import decode_lod
from tests.backend.annotation.world import CAR, PEDESTRIAN, World, make_world
from tests.fixtures.http import serve


@pytest.fixture
def api(db_url: str, tmp_path: Path) -> Iterator[tuple[World, httpx.Client]]:
    w = make_world(tmp_path, db_url)
    w.person("ann", "annotator")
    w.person("other", "annotator")
    # two tasks, far apart in time (not one sequence); the car's is the more urgent
    w.store_frame(seed=1, detections=[("car", 0.7, CAR)], priority=2.0)
    w.store_frame(seed=2, t_s=600, detections=[("pedestrian", 0.6, PEDESTRIAN)], priority=1.0)
    w.backend.annotation.builder.sync()
    with serve(build_api(w.backend)) as client:
        yield w, client
    w.backend.close()


def auth(w: World, name: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {w.tokens[name]}"}


def test_upcoming_names_the_next_task_and_sends_its_points(api: tuple[World, httpx.Client]) -> None:
    w, client = api
    first = client.post("/work/next", headers=auth(w, "ann")).json()
    work = first["assignment_id"]
    guess = client.get(f"/work/{work}/upcoming", headers=auth(w, "ann"))
    assert guess.status_code == 200, guess.text
    upcoming = guess.json()
    assert upcoming["task_id"] != first["task_id"]
    assert upcoming["key_frame_id"] in upcoming["frame_ids"]
    with w.backend.db.transaction("who holds the upcoming task") as uow:  # a guess, not a lease
        task = uow.tasks.require(upcoming["task_id"])
        assert uow.assignments.of_task(task.id, "annotate", task.round) == []
    sent = client.get(
        f"/work/{work}/upcoming/frames/{upcoming['key_frame_id']}/points", headers=auth(w, "ann")
    )
    assert sent.status_code == 200 and sent.headers["content-type"] == "application/octet-stream"
    _, prefetched = decode_lod(sent.content)

    # the guess comes true: once this task is submitted, the next one is the upcoming task
    saved = client.put(
        f"/work/{work}/labels",
        json={"base_version": 0, "labels": {"boxes": []}},
        headers=auth(w, "ann"),
    )
    assert saved.status_code == 200, saved.text
    done = client.post(f"/work/{work}/submit", json={"base_version": 1}, headers=auth(w, "ann"))
    assert done.status_code == 200, done.text
    second = client.post("/work/next", headers=auth(w, "ann")).json()
    assert second["task_id"] == upcoming["task_id"]
    leased = client.get(
        f"/work/{second['assignment_id']}/frames/{upcoming['key_frame_id']}/points",
        headers=auth(w, "ann"),
    )
    assert np.frombuffer(leased.content, "<f4").tobytes() == prefetched.tobytes()

    # nothing after the last task; a frame of no upcoming task is 404
    last = client.get(f"/work/{second['assignment_id']}/upcoming", headers=auth(w, "ann"))
    assert last.status_code == 204 and "nothing else" in last.headers["X-Longtail-Reason"]
    stray = client.get(
        f"/work/{second['assignment_id']}/upcoming/frames/{first['frames'][0]['id']}/points",
        headers=auth(w, "ann"),
    )
    assert stray.status_code == 404


def test_upcoming_needs_the_callers_own_live_lease(api: tuple[World, httpx.Client]) -> None:
    w, client = api
    work = client.post("/work/next", headers=auth(w, "ann")).json()["assignment_id"]
    assert client.get(f"/work/{work}/upcoming", headers=auth(w, "other")).status_code == 409
    assert client.get(f"/work/{work}/upcoming").status_code == 401
