"""The annotation API over real HTTP on SQLite and PostgreSQL: precise 4xx for bad input (and
nothing stored), 409 with the current version for a stale save, 409 for an expired lease, 413
for an oversize body, 204 for an empty queue, and the frame's points as binary."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
import zstandard

from backend.wiring import build_api
from tests.backend.annotation.world import CAR, World, make_world
from tests.fixtures.http import serve


@pytest.fixture
def api(db_url: str, tmp_path: Path) -> Iterator[tuple[World, httpx.Client]]:
    w = make_world(tmp_path, db_url)
    w.person("ann", "annotator")
    w.person("rev", "reviewer")
    w.person("boss", "admin")
    w.store_frame(seed=1, detections=[("car", 0.7, CAR)])
    w.backend.annotation.builder.sync()
    with serve(build_api(w.backend)) as client:
        yield w, client
    w.backend.close()


def auth(w: World, name: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {w.tokens[name]}"}


def lease(w: World, client: httpx.Client) -> dict[str, Any]:
    response = client.post("/work/next", headers=auth(w, "ann"))
    assert response.status_code == 200, response.text
    return dict(response.json())


def box(frame_id: str, **changes: Any) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "id": "b1",
        "frame_id": frame_id,
        "track_id": 1,
        "class_name": "car",
        "box": list(CAR),
    }
    entry.update(changes)
    return entry


def test_save_then_stale_save_is_409_with_the_current_version(
    api: tuple[World, httpx.Client],
) -> None:
    w, client = api
    work = lease(w, client)
    frame = work["frames"][0]["id"]
    url = f"/work/{work['assignment_id']}/labels"
    body = {"base_version": 0, "labels": {"boxes": [box(frame)]}}
    first = client.put(url, json=body, headers=auth(w, "ann"))
    assert first.status_code == 200 and first.json()["version"] == 1
    stale = client.put(url, json=body, headers=auth(w, "ann"))
    assert stale.status_code == 409
    assert stale.json()["current_version"] == 1 and "version 1" in stale.json()["detail"]
    reread = client.get(f"/work/{work['assignment_id']}", headers=auth(w, "ann")).json()
    assert reread["working"]["version"] == 1


@pytest.mark.parametrize(
    ("change", "status", "fragment"),
    [
        ({"box": [10, 2, -0.9, -1, 1.8, 1.6, 0.3]}, 422, "l must be in"),
        ({"box": [10, 2, -0.9, 4, 1.8, 1.6]}, 422, "box"),
        ({"class_name": "unicorn"}, 422, "'unicorn' is not an object class"),
        ({"attributes": {"occluded": "very"}}, 422, "occluded='very'"),
        ({"box": [5000, 2, -0.9, 4, 1.8, 1.6, 0.3]}, 422, "outside the frame"),
        ({"track_id": -3}, 422, "track_id"),
    ],
)
def test_bad_labels_are_precise_4xx_and_store_nothing(
    api: tuple[World, httpx.Client], change: dict[str, Any], status: int, fragment: str
) -> None:
    w, client = api
    work = lease(w, client)
    body = {"base_version": 0, "labels": {"boxes": [box(work["frames"][0]["id"], **change)]}}
    response = client.put(
        f"/work/{work['assignment_id']}/labels", json=body, headers=auth(w, "ann")
    )
    assert response.status_code == status, response.text
    assert fragment in response.text
    assert (
        client.get(f"/work/{work['assignment_id']}", headers=auth(w, "ann")).json()["working"][
            "version"
        ]
        == 0
    )


def test_nan_in_a_box_is_refused(api: tuple[World, httpx.Client]) -> None:
    w, client = api
    work = lease(w, client)
    entry = box(work["frames"][0]["id"], box=[float("nan"), 2, -0.9, 4, 1.8, 1.6, 0.3])
    raw = json.dumps({"base_version": 0, "labels": {"boxes": [entry]}})  # JSON with NaN
    response = client.put(
        f"/work/{work['assignment_id']}/labels",
        content=raw,
        headers={**auth(w, "ann"), "Content-Type": "application/json"},
    )
    assert response.status_code == 422 and "finite" in response.text


def test_point_labels_of_the_wrong_length_are_refused(api: tuple[World, httpx.Client]) -> None:
    w, client = api
    work = lease(w, client)
    frame = work["frames"][0]
    words = np.ones(frame["num_points"] - 1, dtype="<u4").tobytes()
    data = base64.b64encode(zstandard.ZstdCompressor().compress(words)).decode()
    body = {"base_version": 0, "labels": {"points": {frame["id"]: {"data": data}}}}
    response = client.put(
        f"/work/{work['assignment_id']}/labels", json=body, headers=auth(w, "ann")
    )
    assert response.status_code == 422
    assert (
        f"{frame['num_points'] - 1} labels for a frame of {frame['num_points']} points"
        in response.text
    )


def test_an_expired_lease_is_409_and_the_queue_hands_the_task_on(
    api: tuple[World, httpx.Client],
) -> None:
    w, client = api
    work = lease(w, client)
    w.clock.advance(w.backend.config.annotation.lease_s + 1)
    body = {"base_version": 0, "labels": {"boxes": []}}
    late = client.put(f"/work/{work['assignment_id']}/labels", json=body, headers=auth(w, "ann"))
    assert late.status_code == 409 and "expired" in late.json()["detail"]
    w.person("other", "annotator")
    handed = client.post("/work/next", headers=auth(w, "other"))
    assert handed.status_code == 200 and handed.json()["task_id"] == work["task_id"]


def test_empty_queue_is_204_with_the_reason(api: tuple[World, httpx.Client]) -> None:
    w, client = api
    response = client.post("/work/next", params={"stage": "review"}, headers=auth(w, "rev"))
    assert response.status_code == 204
    assert "no review task is waiting for rev" in response.headers["X-Longtail-Reason"]


def test_an_oversize_body_is_413_before_it_is_read(api: tuple[World, httpx.Client]) -> None:
    w, client = api
    work = lease(w, client)
    limit = w.backend.config.api.max_body_bytes
    response = client.put(
        f"/work/{work['assignment_id']}/labels",
        content=b"x" * (limit + 1),
        headers={**auth(w, "ann"), "Content-Type": "application/json"},
    )
    assert response.status_code == 413 and str(limit) in response.json()["detail"]


def test_points_arrive_as_binary_float32(api: tuple[World, httpx.Client]) -> None:
    w, client = api
    work = lease(w, client)
    frame = work["frames"][0]
    response = client.get(
        f"/work/{work['assignment_id']}/frames/{frame['id']}/points", headers=auth(w, "ann")
    )
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/octet-stream"
    points = np.frombuffer(response.content, dtype="<f4").reshape(-1, 4)
    assert points.shape[0] == frame["num_points"] == int(response.headers["X-Longtail-Points"])
    other = client.get(
        f"/work/{work['assignment_id']}/frames/{'0' * 64}/points", headers=auth(w, "ann")
    )
    assert other.status_code == 404
    stranger = client.get(
        f"/work/{work['assignment_id']}/frames/{frame['id']}/points", headers=auth(w, "rev")
    )
    assert stranger.status_code == 409  # not their lease


def test_fit_returns_the_box_of_the_points_inside_a_rough_one(
    api: tuple[World, httpx.Client],
) -> None:
    w, client = api
    work = lease(w, client)
    frame = work["frames"][0]["id"]
    url = f"/work/{work['assignment_id']}/fit"
    rough = [10.3, 2.1, 0.0, 5.5, 5.0, 1.0, 0.0]
    fitted = client.post(url, json={"frame_id": frame, "box": rough}, headers=auth(w, "ann"))
    assert fitted.status_code == 200, fitted.text
    box = fitted.json()["box"]
    assert np.hypot(box[0] - CAR[0], box[1] - CAR[1]) < 0.1
    assert fitted.json()["num_points"] > 150
    empty = [-20.0, -20.0, 0.0, 2.0, 2.0, 1.0, 0.0]
    bare = client.post(url, json={"frame_id": frame, "box": empty}, headers=auth(w, "ann"))
    assert bare.status_code == 422 and "found 0 points above the ground" in bare.text
    other = client.post(url, json={"frame_id": "0" * 64, "box": rough}, headers=auth(w, "ann"))
    assert other.status_code == 404
    stranger = client.post(url, json={"frame_id": frame, "box": rough}, headers=auth(w, "rev"))
    assert stranger.status_code == 409  # not their lease


def test_structure_and_inside_answer_binary_for_the_segmentation_tools(
    api: tuple[World, httpx.Client],
) -> None:
    w, client = api
    work = lease(w, client)
    frame = work["frames"][0]
    base = f"/work/{work['assignment_id']}"
    got = client.get(f"{base}/frames/{frame['id']}/structure", headers=auth(w, "ann"))
    assert got.status_code == 200 and got.headers["content-type"] == "application/octet-stream"
    n = frame["num_points"]
    assert len(got.content) == 8 * n
    heights = np.frombuffer(got.content[: 4 * n], "<f4")
    clusters = np.frombuffer(got.content[4 * n :], "<i4")
    points = np.frombuffer(
        client.get(f"{base}/frames/{frame['id']}/points", headers=auth(w, "ann")).content, "<f4"
    ).reshape(-1, 4)
    road = np.abs(points[:, 2] + 1.73) < 0.05  # world.cloud's road plane
    assert np.nanmax(np.abs(heights[road])) < 0.1 and (clusters[road] == -1).all()
    inside = client.post(
        f"{base}/inside", json={"frame_id": frame["id"], "box": list(CAR)}, headers=auth(w, "ann")
    )
    assert inside.status_code == 200, inside.text
    indices = np.frombuffer(inside.content, "<u4")
    assert int(inside.headers["X-Longtail-Points"]) == indices.size >= 150
    x, y = points[indices, 0], points[indices, 1]
    assert np.hypot(x.mean() - CAR[0], y.mean() - CAR[1]) < 0.2
    # the car's points are one cluster, except its lowest tenth (up to the vehicle's 0.25 m
    # ground threshold: the car's points start 0.11 m above the road)
    ids, counts = np.unique(clusters[indices], return_counts=True)
    assert ids[np.argmax(counts)] >= 0 and counts.max() > 0.8 * indices.size
    bad = client.post(
        f"{base}/inside",
        json={"frame_id": frame["id"], "box": [0, 0, 0, 0, 1, 1, 0]},
        headers=auth(w, "ann"),
    )
    assert bad.status_code == 422 and "l, w, h > 0" in bad.text
    stranger = client.get(f"{base}/frames/{frame['id']}/structure", headers=auth(w, "rev"))
    assert stranger.status_code == 409  # not their lease


def test_point_labels_saved_gzip_come_back_zstd(api: tuple[World, httpx.Client]) -> None:
    import gzip

    w, client = api
    work = lease(w, client)
    frame = work["frames"][0]
    words = np.zeros(frame["num_points"], dtype="<u4")
    words[:10] = 20 | (3 << 16)  # car, instance 3
    data = base64.b64encode(gzip.compress(words.tobytes())).decode()
    body = {
        "base_version": 0,
        "labels": {"points": {frame["id"]: {"encoding": "gzip-u32le-base64", "data": data}}},
    }
    saved = client.put(f"/work/{work['assignment_id']}/labels", json=body, headers=auth(w, "ann"))
    assert saved.status_code == 200, saved.text
    back = lease(w, client)["working"]["labels"]["points"][frame["id"]]
    assert back["encoding"] == "zstd-u32le-base64" and back["count"] == frame["num_points"]
    raw = zstandard.ZstdDecompressor().decompress(base64.b64decode(back["data"]))
    np.testing.assert_array_equal(np.frombuffer(raw, "<u4"), words)
