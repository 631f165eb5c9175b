"""The HTTP API on SQLite and PostgreSQL, served by uvicorn on loopback, called over real HTTP."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import httpx
import pytest

from backend.metadata.db import make_engine
from backend.metadata.unit_of_work import Database
from backend.wiring import build_api
from tests.backend.annotation.world import make_world
from tests.backend.metadata.records import frame
from tests.fixtures.http import serve


@pytest.fixture
def client(db_url: str, tmp_path: Path) -> Iterator[httpx.Client]:
    world = make_world(tmp_path, db_url)
    token = world.person("ops", "safety_engineer")
    with world.backend.db.transaction("t") as uow:
        uow.vehicles.add("car-1", "a" * 64)
        uow.vehicles.add("car-2", "b" * 64)
        for n in range(5):
            uow.frames.add(frame(n, "car-1" if n < 3 else "car-2", priority=n / 10))
    with serve(build_api(world.backend)) as http:
        http.headers["Authorization"] = f"Bearer {token}"
        yield http
    world.backend.close()


def test_health(client: httpx.Client) -> None:
    response = client.get("/health")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "database": "ok", "frames": 5}


def test_frames_list_filters_and_pages(client: httpx.Client) -> None:
    page = client.get("/frames", params={"limit": 2}).json()
    assert page["total"] == 5 and [f["priority"] for f in page["items"]] == [0.4, 0.3]
    page = client.get("/frames", params={"limit": 2, "offset": 4}).json()
    assert [f["priority"] for f in page["items"]] == [0.0]
    page = client.get("/frames", params={"vehicle": "car-2"}).json()
    assert page["total"] == 2 and {f["vehicle"] for f in page["items"]} == {"car-2"}
    page = client.get("/frames", params={"rule": "high_entropy", "min_priority": 0.2}).json()
    assert page["total"] == 3
    assert client.get("/frames", params={"limit": 0}).status_code == 422
    assert client.get("/frames", params={"limit": 100_000}).status_code == 422


def test_frame_detail_and_404(client: httpx.Client) -> None:
    frame_id = frame(2).id
    detail = client.get(f"/frames/{frame_id}").json()
    assert detail["id"] == frame_id and detail["pose"]["yaw"] == 0.5
    assert detail["detections"][0]["box"] == [1, 2, 3, 4, 2, 1.5, 0.1]
    missing = client.get("/frames/" + "f" * 64)
    assert missing.status_code == 404 and "f" * 64 in missing.json()["detail"]


def test_vehicles_never_expose_token_hashes(client: httpx.Client) -> None:
    vehicles = client.get("/vehicles").json()
    assert [v["name"] for v in vehicles] == ["car-1", "car-2"]
    assert "a" * 64 not in client.get("/vehicles").text


def test_openapi_documents_the_routes(client: httpx.Client) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    assert {"/health", "/frames", "/frames/{frame_id}", "/vehicles"} <= set(paths)
    assert client.get("/docs").status_code == 200


def test_an_unreachable_database_is_503_not_a_traceback(tmp_path: Path) -> None:
    world = make_world(tmp_path)
    token = world.person("ops", "safety_engineer")
    engine = make_engine("postgresql+psycopg://postgres@127.0.0.1:1/nope?connect_timeout=1")
    down = replace(world.backend, db=Database(engine))
    try:
        with serve(build_api(down)) as test_client:
            test_client.headers["Authorization"] = f"Bearer {token}"
            health = test_client.get("/health")
            assert health.status_code == 503 and health.json()["status"] == "degraded"
            frames = test_client.get("/frames")
            assert frames.status_code == 503 and "127.0.0.1:1" in frames.json()["detail"]
    finally:
        engine.dispose()


def test_timestamps_beyond_64_bits_are_422_not_500(client: httpx.Client) -> None:
    huge = str(2**64)
    for name in ("captured_from_ns", "captured_to_ns", "offset"):
        response = client.get("/frames", params={name: huge})
        assert response.status_code == 422, (name, response.text)
        assert name in response.text


def test_a_nul_character_in_a_text_filter_is_422_on_postgresql(
    client: httpx.Client, db_url: str
) -> None:
    # PostgreSQL cannot hold NUL in text (a 503 "retry" before); SQLite can, and finds nothing
    response = client.get("/frames", params={"vehicle": "car\x00-1", "sensor": "x"})
    if db_url.startswith("postgresql"):
        assert response.status_code == 422 and "NUL" in response.json()["detail"]
    else:
        assert response.status_code == 200 and response.json()["total"] == 0
