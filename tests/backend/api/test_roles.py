"""Every route, called by every role over real HTTP: the permission table below is the contract,
and a route missing from it fails the test (a new route must be classified)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from backend.api.app import openapi_document
from backend.auth.roles import PERMISSIONS, Permission, Role
from backend.wiring import build_api
from tests.backend.annotation.world import World, make_world
from tests.fixtures.http import serve

PUBLIC = "public"
ANY = "any authenticated person"

#: (method, path) -> what it requires
TABLE: dict[tuple[str, str], str | Permission] = {
    ("GET", "/health"): PUBLIC,
    ("POST", "/auth/login"): PUBLIC,
    ("POST", "/auth/logout"): ANY,
    ("GET", "/auth/me"): ANY,
    ("GET", "/people"): Permission.READ_TEAM_FIGURES,
    ("POST", "/people"): Permission.MANAGE_PEOPLE,
    ("POST", "/people/{name}/disable"): Permission.MANAGE_PEOPLE,
    ("PUT", "/people/{name}/calibration"): Permission.MANAGE_PEOPLE,
    ("POST", "/work/next"): Permission.LABEL,
    ("GET", "/work/{assignment_id}"): ANY,
    ("PUT", "/work/{assignment_id}/labels"): Permission.LABEL,
    ("POST", "/work/{assignment_id}/submit"): Permission.LABEL,
    ("POST", "/work/{assignment_id}/renew"): ANY,
    ("POST", "/work/{assignment_id}/release"): ANY,
    ("POST", "/work/{assignment_id}/review"): Permission.REVIEW,
    ("POST", "/work/{assignment_id}/adjudicate"): Permission.ADJUDICATE,
    ("GET", "/work/{assignment_id}/frames/{frame_id}/points"): ANY,
    ("POST", "/work/{assignment_id}/fit"): ANY,
    ("GET", "/work/{assignment_id}/frames/{frame_id}/structure"): ANY,
    ("POST", "/work/{assignment_id}/inside"): ANY,
    ("GET", "/work/{assignment_id}/agreement"): ANY,
    ("GET", "/work/{assignment_id}/upcoming"): ANY,
    ("GET", "/work/{assignment_id}/upcoming/frames/{frame_id}/points"): ANY,
    ("GET", "/tasks"): Permission.READ_TEAM_FIGURES,
    ("GET", "/tasks/{task_id}"): Permission.READ_TEAM_FIGURES,
    ("POST", "/tasks/sync"): Permission.MANAGE_TASKS,
    ("GET", "/tasks/queue/priorities"): Permission.READ_QUEUE,
    ("POST", "/tasks/queue/priorities"): Permission.MANAGE_TASKS,
    ("POST", "/tasks/{task_id}/gold"): Permission.MANAGE_TASKS,
    ("POST", "/gold"): Permission.MANAGE_TASKS,
    ("GET", "/qa/report"): Permission.READ_TEAM_FIGURES,
    ("GET", "/qa/me"): Permission.READ_OWN_FIGURES,
    ("GET", "/metrics"): Permission.READ_TEAM_FIGURES,
    ("GET", "/ontology"): ANY,
    ("GET", "/ontology/{version}"): ANY,
    ("POST", "/ontology/classes"): Permission.MANAGE_ONTOLOGY,
    ("GET", "/audit"): Permission.READ_AUDIT,
    ("POST", "/webhooks"): Permission.MANAGE_WEBHOOKS,
    ("GET", "/webhooks"): Permission.MANAGE_WEBHOOKS,
    ("DELETE", "/webhooks/{webhook_id}"): Permission.MANAGE_WEBHOOKS,
    ("GET", "/webhooks/{webhook_id}/deliveries"): Permission.MANAGE_WEBHOOKS,
    ("POST", "/datasets"): Permission.MANAGE_DATASETS,
    ("GET", "/datasets"): Permission.READ_DATASETS,
    ("GET", "/datasets/{digest}"): Permission.READ_DATASETS,
    ("GET", "/datasets/{digest}/manifest"): Permission.READ_DATASETS,
    ("GET", "/datasets/{digest}/export"): Permission.READ_DATASETS,
    ("POST", "/imports"): Permission.MANAGE_TASKS,
    ("GET", "/frames"): Permission.READ_FRAMES,
    ("GET", "/frames/{frame_id}"): Permission.READ_FRAMES,
    ("GET", "/vehicles"): Permission.READ_FRAMES,
    ("GET", "/models"): Permission.READ_RELEASES,
    ("GET", "/models/aliases"): Permission.READ_RELEASES,
    ("GET", "/models/{version}"): Permission.READ_RELEASES,
    ("POST", "/rollouts"): Permission.MANAGE_RELEASES,
    ("GET", "/rollouts"): Permission.READ_RELEASES,
    ("GET", "/rollouts/{campaign_id}"): Permission.READ_RELEASES,
    ("POST", "/rollouts/{campaign_id}/evaluate"): Permission.MANAGE_RELEASES,
    ("POST", "/rollouts/{campaign_id}/promote"): Permission.MANAGE_RELEASES,
    ("POST", "/rollouts/{campaign_id}/rollback"): Permission.MANAGE_RELEASES,
    ("GET", "/training/trigger"): Permission.READ_RELEASES,
    ("POST", "/training/retrain"): Permission.MANAGE_RELEASES,
    ("GET", "/training/runs"): Permission.READ_RELEASES,
    ("GET", "/training/runs/{run_id}"): Permission.READ_RELEASES,
    ("GET", "/evidence/verdicts"): Permission.READ_EVIDENCE,
    ("GET", "/evidence/verdicts/{verdict_id}"): Permission.READ_EVIDENCE,
    ("POST", "/evidence/verdicts/{verdict_id}/bypass"): Permission.BYPASS_GATE,
    ("GET", "/safety/case"): Permission.READ_EVIDENCE,
    ("GET", "/safety/spis"): Permission.READ_EVIDENCE,
    ("GET", "/safety/snapshots"): Permission.READ_EVIDENCE,
    ("GET", "/safety/snapshots/{version}"): Permission.READ_EVIDENCE,
    ("GET", "/safety/snapshots/{base}/diff/{target}"): Permission.READ_EVIDENCE,
    ("GET", "/safety/sotif"): Permission.READ_EVIDENCE,
    ("GET", "/safety/releases/{version}"): Permission.READ_EVIDENCE,
    ("POST", "/safety/releases/{version}/signoffs"): Permission.SIGN_OFF_RELEASE,
    ("GET", "/safety/releases/{version}/report.html"): Permission.READ_EVIDENCE,
    ("GET", "/ops/kpis"): Permission.READ_EVIDENCE,
}

#: a JSON body that passes each route's schema, so the answer is about the role, not the body
BODIES: dict[tuple[str, str], object] = {
    ("POST", "/auth/login"): {"name": "nobody", "password": "x"},
    ("POST", "/people"): {"name": "new-person", "role": "annotator"},
    ("PUT", "/people/{name}/calibration"): {"state": "passed"},
    ("PUT", "/work/{assignment_id}/labels"): {"base_version": 0, "labels": {}},
    ("POST", "/work/{assignment_id}/submit"): {"base_version": 0},
    ("POST", "/work/{assignment_id}/review"): {"decision": "approve"},
    ("POST", "/work/{assignment_id}/adjudicate"): {"accept_label_set": 1},
    ("POST", "/work/{assignment_id}/fit"): {"frame_id": "f", "box": [0, 0, 0, 1, 1, 1, 0]},
    ("POST", "/work/{assignment_id}/inside"): {"frame_id": "f", "box": [0, 0, 0, 1, 1, 1, 0]},
    ("POST", "/gold"): {"frame_ids": ["0" * 64], "labels": {}},
    ("POST", "/ontology/classes"): {"name": "pram", "group": "rare"},
    ("POST", "/webhooks"): {"url": "http://127.0.0.1:9/hook", "events": ["qa.alert"]},
    ("POST", "/datasets"): {"vehicles": ["nobody"]},
    ("POST", "/imports"): {"files": {}},
    ("POST", "/rollouts"): {"version": "no-such-model"},
    ("POST", "/rollouts/{campaign_id}/promote"): {},
    ("POST", "/rollouts/{campaign_id}/rollback"): {},
    ("POST", "/training/retrain"): {"note": "role check"},
    ("POST", "/evidence/verdicts/{verdict_id}/bypass"): {"reason": "role check"},
    ("POST", "/safety/releases/{version}/signoffs"): {"comment": "role check"},
}


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[World, httpx.Client]]:
    w = make_world(tmp_path_factory.mktemp("roles"))
    for role in Role:
        w.person(f"p-{role.value.replace('_', '-')}", role.value)
    with serve(build_api(w.backend)) as client:
        yield w, client
    w.backend.close()


def routes() -> list[tuple[str, str]]:
    """Every (method, path) of the app's OpenAPI document (FastAPI may register routes lazily,
    so the document, which the server answers with, is the list to trust)."""
    paths = openapi_document()["paths"]
    return [(method.upper(), path) for path, operations in paths.items() for method in operations]


def test_every_route_is_classified() -> None:
    served = routes()
    assert len(served) >= len(TABLE), f"only {len(served)} routes found: {served}"
    unclassified = sorted(set(served) - set(TABLE))
    assert not unclassified, f"routes missing from the permission table: {unclassified}"


def concrete(path: str) -> str:
    return re.sub(r"\{[a-z_]+\}", lambda m: {"{name}": "not-a-person"}.get(m.group(0), "1"), path)


@pytest.mark.parametrize(("method", "path"), sorted(TABLE))
def test_the_role_matrix_holds_for_every_route(
    world: tuple[World, httpx.Client], method: str, path: str
) -> None:
    w, client = world
    need = TABLE[(method, path)]
    body = BODIES.get((method, path))
    anonymous = client.request(method, concrete(path), json=body)
    if need == PUBLIC:  # no credential needed (a login with a wrong password is still 401)
        assert anonymous.status_code != 403 and "Authorization" not in anonymous.text
        return
    assert anonymous.status_code == 401, (method, path, anonymous.status_code)
    for role in Role:
        name = f"p-{role.value.replace('_', '-')}"
        if (method, path) == ("POST", "/auth/logout"):
            continue  # would revoke the token the other cases use; covered below
        response = client.request(
            method,
            concrete(path),
            json=body,
            headers={"Authorization": f"Bearer {w.tokens[name]}"},
        )
        allowed = need == ANY or need in PERMISSIONS[role]
        if allowed:
            assert response.status_code != 403 and response.status_code != 401, (
                method,
                path,
                role,
                response.status_code,
                response.text,
            )
        else:
            assert response.status_code == 403, (method, path, role, response.status_code)
            assert role.value in response.json()["detail"]


def test_logout_revokes_the_token(world: tuple[World, httpx.Client]) -> None:
    w, client = world
    token = w.backend.people.issue_token("p-annotator", "a second session")
    headers = {"Authorization": f"Bearer {token}"}
    assert client.get("/auth/me", headers=headers).json()["name"] == "p-annotator"
    assert client.post("/auth/logout", headers=headers).status_code == 204
    refused = client.get("/auth/me", headers=headers)
    assert refused.status_code == 401 and "revoked" in refused.json()["detail"]


def test_tokens_and_hashes_never_leave_the_backend(world: tuple[World, httpx.Client]) -> None:
    w, client = world
    admin = {"Authorization": f"Bearer {w.tokens['p-admin']}"}
    for path in ("/people", "/vehicles", "/audit"):
        text = client.get(path, headers=admin).text
        for token in w.tokens.values():
            assert token not in text
        assert "token_hash" not in text and "password" not in text


def test_disabled_people_are_locked_out(world: tuple[World, httpx.Client], tmp_path: Path) -> None:
    w, client = world
    token = w.person("leaver", "annotator")
    admin = {"Authorization": f"Bearer {w.tokens['p-admin']}"}
    assert client.post("/people/leaver/disable", headers=admin).status_code == 200
    refused = client.get("/auth/me", headers={"Authorization": f"Bearer {token}"})
    assert refused.status_code == 401
