"""The datasets routes over real HTTP on SQLite and PostgreSQL: create (201, then 200 for the same
content), list, detail, the manifest's exact bytes, zip exports in every format, imports of an
uploaded zip or JSON, roles, and precise 4xx answers that store nothing."""

from __future__ import annotations

import hashlib
import io
import json
import zipfile
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from backend.datasets.exports import FORMATS
from backend.wiring import build_api
from tests.backend.annotation.world import CAR, T0, World, make_world
from tests.backend.datasets.conftest import RULES, stock
from tests.fixtures.http import serve


@pytest.fixture
def api(db_url: str, tmp_path: Path) -> Iterator[tuple[World, httpx.Client]]:
    w = make_world(tmp_path, db_url, rules=RULES)
    stock(w)
    for name, role in (("boss", "admin"), ("safe", "safety_engineer"), ("senior", "senior")):
        w.person(name, role)
    with serve(build_api(w.backend)) as client:
        yield w, client
    w.backend.close()


def auth(w: World, name: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {w.tokens[name]}"}


def test_create_list_read_and_export_a_version(api: tuple[World, httpx.Client]) -> None:
    w, client = api
    hook = client.post(
        "/webhooks",
        json={"url": "http://127.0.0.1:9/hook", "events": ["dataset.created"]},
        headers=auth(w, "boss"),
    )
    assert hook.status_code == 201
    created = client.post("/datasets", json={"name": "first"}, headers=auth(w, "boss"))
    assert created.status_code == 201, created.text
    digest = created.json()["digest"]
    assert created.json()["frame_count"] == 6 and created.json()["name"] == "first"
    again = client.post("/datasets", json={"tiers": [1, 2]}, headers=auth(w, "boss"))
    assert again.status_code == 200 and again.json()["digest"] == digest
    listed = client.get("/datasets", headers=auth(w, "safe")).json()
    assert listed["total"] == 1 and listed["items"][0]["digest"] == digest
    detail = client.get(f"/datasets/{digest}", headers=auth(w, "senior")).json()
    assert detail["summary"]["boxes_by_class"] == {"car": 4, "pedestrian": 1, "truck": 4}
    manifest = client.get(f"/datasets/{digest}/manifest", headers=auth(w, "safe"))
    assert hashlib.sha256(manifest.content).hexdigest() == digest
    assert len(manifest.json()["frames"]) == 6
    for fmt in FORMATS:
        response = client.get(
            f"/datasets/{digest}/export", params={"format": fmt}, headers=auth(w, "safe")
        )
        assert response.status_code == 200 and response.headers["content-type"] == "application/zip"
        assert f"longtail-{digest[:12]}-{fmt}.zip" in response.headers["content-disposition"]
        with zipfile.ZipFile(io.BytesIO(response.content)) as archive:
            assert archive.testzip() is None
            assert json.loads(archive.read("longtail.json"))["dataset"] == digest
    deliveries = client.get(f"/webhooks/{hook.json()['id']}/deliveries", headers=auth(w, "boss"))
    assert [d["payload"]["digest"] for d in deliveries.json()] == [digest]


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        ({"classes": ["unicorn"]}, "'unicorn' is not a class of ontology v1"),
        ({"tiers": [5]}, "tiers"),
        ({"accepted_from": "2026-01-01T00:00:00"}, "timezone"),
        ({"colour": "red"}, "colour"),
        ({"vehicles": ["nobody"]}, "no accepted task matches the filters"),
        ({"captured_from_ns": 2**64}, "captured_from_ns"),
        ({"name": ""}, "name"),
        ({"name": "a\x00b"}, "name"),
        ({"accepted_from": T0.isoformat(), "accepted_to": T0.isoformat()}, "must be before"),
    ],
)
def test_bad_filters_are_precise_4xx_and_store_nothing(
    api: tuple[World, httpx.Client], body: dict[str, object], fragment: str
) -> None:
    w, client = api
    response = client.post("/datasets", json=body, headers=auth(w, "boss"))
    assert response.status_code == 422, response.text
    assert fragment in response.text
    assert client.get("/datasets", headers=auth(w, "boss")).json()["total"] == 0
    assert list(w.backend.blobs.list("datasets/")) == []


def test_unknown_versions_formats_and_damaged_stores(api: tuple[World, httpx.Client]) -> None:
    w, client = api
    digest = client.post("/datasets", json={}, headers=auth(w, "boss")).json()["digest"]
    missing = client.get(f"/datasets/{'0' * 64}", headers=auth(w, "boss"))
    assert missing.status_code == 404 and "no dataset version" in missing.json()["detail"]
    assert client.get("/datasets/not-a-digest", headers=auth(w, "boss")).status_code == 422
    las = client.get(
        f"/datasets/{digest}/export", params={"format": "las"}, headers=auth(w, "boss")
    )
    assert las.status_code == 422 and "kitti" in las.text
    manifest = client.get(f"/datasets/{digest}/manifest", headers=auth(w, "boss")).json()
    w.backend.blobs.delete(manifest["frames"][0]["blob_key"])
    damaged = client.get(
        f"/datasets/{digest}/export", params={"format": "kitti"}, headers=auth(w, "boss")
    )
    assert damaged.status_code == 503 and manifest["frames"][0]["id"] in damaged.json()["detail"]


def test_roles(api: tuple[World, httpx.Client]) -> None:
    w, client = api
    assert client.post("/datasets", json={}, headers=auth(w, "safe")).status_code == 403
    assert client.post("/datasets", json={}, headers=auth(w, "senior")).status_code == 403
    assert client.get("/datasets", headers=auth(w, "ann")).status_code == 403
    upload = client.post(
        "/imports",
        params={"format": "kitti", "target": "gold"},
        content=b"x",
        headers=auth(w, "safe"),
    )
    assert upload.status_code == 403


def test_imports_from_a_zip_and_from_json(api: tuple[World, httpx.Client]) -> None:
    w, client = api
    digest = client.post("/datasets", json={"vehicles": ["car-2"]}, headers=auth(w, "boss")).json()[
        "digest"
    ]
    archive = client.get(
        f"/datasets/{digest}/export", params={"format": "kitti"}, headers=auth(w, "boss")
    ).content
    made = client.post(
        "/imports",
        params={"format": "kitti", "target": "gold", "calibration": "true"},
        content=archive,
        headers={**auth(w, "boss"), "Content-Type": "application/zip"},
    )
    assert made.status_code == 201, made.text
    assert made.json()["frames"] == 1 and made.json()["classes"] == {"Truck": "truck"}
    task = client.get(f"/tasks/{made.json()['tasks'][0]}", headers=auth(w, "boss")).json()["task"]
    assert task["is_gold"] and task["is_calibration"]

    fresh = w.store_frame(seed=77, t_s=300.0, detections=[])
    label = [
        {
            "obj_type": "Car",
            "obj_id": "1",
            "psr": {
                "position": dict(zip("xyz", CAR[:3], strict=True)),
                "scale": dict(zip("xyz", CAR[3:6], strict=True)),
                "rotation": {"x": 0, "y": 0, "z": CAR[6]},
            },
        }
    ]
    body = {"files": {f"label/{fresh.id}.json": label}}
    made = client.post(
        "/imports",
        params={"format": "sustechpoints", "target": "gold"},
        json=body,
        headers=auth(w, "boss"),
    )
    assert made.status_code == 201 and made.json()["boxes"] == 1

    before = client.get("/tasks", params={"gold": "true"}, headers=auth(w, "boss")).json()["total"]
    for params, content, fragment in (
        ({"format": "kitti", "target": "gold"}, b"\x00garbage", "neither a zip archive nor JSON"),
        (
            {"format": "sustechpoints", "target": "gold"},
            json.dumps(
                {"files": {f"label/{fresh.id}.json": [{**label[0], "obj_type": "Zeppelin"}]}}
            ).encode(),
            "'Zeppelin'",
        ),
        (
            {"format": "sustechpoints", "target": "gold"},
            json.dumps({"files": {f"label/{'a' * 64}.json": label}}).encode(),
            "is not stored",
        ),
        ({"format": "las", "target": "gold"}, b"{}", "format"),
        ({"format": "kitti", "target": "train"}, b"{}", "target"),
    ):
        refused = client.post(
            "/imports",
            params=params,
            content=content,
            headers={**auth(w, "boss"), "Content-Type": "application/json"},
        )
        assert refused.status_code == 422 and fragment in refused.text, refused.text
    assert (
        client.get("/tasks", params={"gold": "true"}, headers=auth(w, "boss")).json()["total"]
        == before
    )
