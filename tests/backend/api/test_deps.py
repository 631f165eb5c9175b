"""Row ids in paths, queries and bodies are bounded by what the columns hold (``ID_MAX``, the
32-bit INTEGER of PostgreSQL): a larger id is a 422 that names the parameter, on SQLite (which
could not even bind one past 64 bits: OverflowError, a 500 before) and on PostgreSQL ("integer
out of range", a 503 before). The largest id that fits reaches the
route: a 404, a 409 (no lease) or an empty list."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from backend.metadata.models.base import ID_MAX
from backend.wiring import build_api
from tests.backend.annotation.world import CAR, World, make_world
from tests.fixtures.http import serve

#: (method, path template, JSON body): every route that takes a row id in its path
ID_ROUTES = [
    ("GET", "/work/{id}", None),
    ("PUT", "/work/{id}/labels", {"base_version": 0, "labels": {}}),
    ("POST", "/work/{id}/submit", {"base_version": 0}),
    ("POST", "/work/{id}/renew", None),
    ("POST", "/work/{id}/release", None),
    ("POST", "/work/{id}/review", {"decision": "approve"}),
    ("POST", "/work/{id}/adjudicate", {"accept_label_set": 1}),
    ("GET", "/work/{id}/frames/f/points", None),
    ("GET", "/tasks/{id}", None),
    ("POST", "/tasks/{id}/gold", None),
    ("GET", "/ontology/{id}", None),
    ("DELETE", "/webhooks/{id}", None),
    ("GET", "/webhooks/{id}/deliveries", None),
]


@pytest.fixture
def api(db_url: str, tmp_path: Path) -> Iterator[tuple[World, httpx.Client]]:
    w = make_world(tmp_path, db_url)
    w.person("boss", "admin")
    w.person("ann", "annotator")
    w.store_frame(seed=1, detections=[("car", 0.7, CAR)])
    w.backend.annotation.builder.sync()
    with serve(build_api(w.backend)) as client:
        yield w, client
    w.backend.close()


def as_(w: World, name: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {w.tokens[name]}"}


@pytest.mark.parametrize(("method", "path", "body"), ID_ROUTES)
def test_ids_past_the_column_are_422_and_the_largest_that_fits_is_404(
    api: tuple[World, httpx.Client], method: str, path: str, body: object
) -> None:
    w, client = api
    for too_big in (ID_MAX + 1, 2**63, 2**70):
        refused = client.request(method, path.format(id=too_big), json=body, headers=as_(w, "boss"))
        assert refused.status_code == 422, (too_big, refused.text)
        assert "less than or equal to 2147483647" in refused.text
    for nonsense in (0, -1):
        assert (
            client.request(
                method, path.format(id=nonsense), json=body, headers=as_(w, "boss")
            ).status_code
            == 422
        )
    largest = client.request(method, path.format(id=ID_MAX), json=body, headers=as_(w, "boss"))
    # no such row (404), no lease on it (409), or an empty listing (deliveries: 200)
    assert largest.status_code in (200, 404, 409), largest.text


def test_versions_and_label_set_ids_in_bodies_are_bounded(
    api: tuple[World, httpx.Client],
) -> None:
    w, client = api
    work = client.post("/work/next", headers=as_(w, "ann")).json()
    url = f"/work/{work['assignment_id']}"
    for body_url, body in (
        (f"{url}/labels", {"base_version": 2**63, "labels": {}}),
        (f"{url}/submit", {"base_version": ID_MAX + 1}),
    ):
        refused = client.request(
            "PUT" if body_url.endswith("labels") else "POST",
            body_url,
            json=body,
            headers=as_(w, "ann"),
        )
        assert refused.status_code == 422 and "base_version" in refused.text, refused.text
    stale = client.put(
        f"{url}/labels", json={"base_version": ID_MAX, "labels": {}}, headers=as_(w, "ann")
    )
    assert stale.status_code == 409 and stale.json()["current_version"] == 0
    adjudicate = client.post(
        f"{url}/adjudicate", json={"accept_label_set": 2**64}, headers=as_(w, "boss")
    )
    assert adjudicate.status_code == 422 and "accept_label_set" in adjudicate.text


def test_audit_task_filter_past_the_column_is_422(api: tuple[World, httpx.Client]) -> None:
    w, client = api
    refused = client.get("/audit", params={"task_id": ID_MAX + 1}, headers=as_(w, "boss"))
    assert refused.status_code == 422 and "task_id" in refused.text
    fits = client.get("/audit", params={"task_id": ID_MAX}, headers=as_(w, "boss"))
    assert fits.status_code == 200 and fits.json() == []
