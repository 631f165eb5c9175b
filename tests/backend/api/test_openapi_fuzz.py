"""schemathesis over the whole OpenAPI document of the app: every operation (``/frames`` and
``/vehicles`` included), valid and invalid inputs, over real HTTP against a world with stored
frames, tasks, leases and saved labels. No request may answer 5xx, and every answer must be
documented (status code, content type, body schema; the refusals are documented once for every
operation by ``backend.api.errors.RESPONSES``).

Deterministic: hypothesis is derandomized (a fixed seed per operation) with a bounded number of
examples, so a failure replays. The admin walks every operation on SQLite and on PostgreSQL
(which refuses NUL in text, where SQLite does not); an annotator walks the annotation, quality
and people operations on SQLite, so the refusals and the annotator-only paths run too.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis import Case
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)

from backend.api.app import openapi_document
from backend.release.evidence import record_verdict
from backend.release.gate import load_gate
from backend.release.registry import register_baseline
from backend.wiring import build_api
from tests.backend.annotation.world import CAR, PEDESTRIAN, World, make_world
from tests.backend.conftest import empty_database
from tests.backend.safety.conftest import row, verdict_of
from tests.fixtures.http import serve

#: seconds a request may take: generous, as big generated bodies on a loaded 2-core CI machine
#: are slow to validate (requests' default of 10 s timed out there)
TIMEOUT_S = 60.0
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]
#: derandomized (a fixed seed per test), no example database, no deadline (a shared CPU)
FUZZ = settings(
    max_examples=8,
    derandomize=True,
    deadline=None,
    database=None,
    suppress_health_check=list(HealthCheck),
)


def populate(w: World) -> None:
    """Frames of two vehicles, their tasks, people of every role, one lease with a saved
    revision and one submitted task, so ids 1, 2, ... name real rows; the baseline as champion
    with a gate verdict and its evidence (so the safety case has figures to answer with)."""
    for role in ("admin", "annotator", "reviewer", "senior", "safety_engineer"):
        w.person(f"fuzz-{role.replace('_', '-')}", role)
    w.person("fuzz-second", "annotator")
    for seed in range(4):
        w.store_frame(
            seed=seed,
            detections=[("car", 0.8, CAR), ("pedestrian", 0.4, PEDESTRIAN)],
            t_s=float(seed),
            vehicle=f"car-{seed % 2 + 1}",
        )
    w.backend.annotation.builder.sync()
    annotation = w.backend.annotation
    second = annotation.queue.next(w.who("fuzz-second"), "annotate")
    frame = second.task.key_frame_id
    labels = {
        "boxes": [
            {"id": "b1", "frame_id": frame, "track_id": 1, "class_name": "car", "box": list(CAR)}
        ],
        "points": {},
    }
    version = annotation.editor.save(
        w.who("fuzz-second"), second.assignment.id, 0, labels, draft=False
    )
    annotation.workflow.submit(w.who("fuzz-second"), second.assignment.id, version, None)
    mine = annotation.queue.next(w.who("fuzz-annotator"), "annotate")
    annotation.editor.save(w.who("fuzz-annotator"), mine.assignment.id, 0, labels, draft=True)
    champion = register_baseline(w.backend.release.registry).version
    rows = [row("all", "recall", 0.5, 0.6), row("class:deer", "recall", 0.2, 0.5)]
    verdict = verdict_of(champion, champion, rows, gate=load_gate())
    record_verdict(w.backend.db, verdict, run_id="fuzz-gate", at=w.clock(), details={})


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def served(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[World, str]]:
    """A populated world on each database and its API over real HTTP (uvicorn, loopback)."""
    engine = None
    if request.param == "postgresql":
        engine = request.getfixturevalue("migrated_postgres")
        empty_database(engine)
    url = None if engine is None else engine.url.render_as_string(hide_password=False)
    w = make_world(tmp_path_factory.mktemp("fuzz"), url)
    try:
        populate(w)
        with serve(build_api(w.backend)) as client:
            yield w, str(client.base_url)
    finally:
        w.backend.close()
        if engine is not None:
            empty_database(engine)


#: an import upload is a zip archive: random bytes exercise the archive reader's refusals
schemathesis.serializer.alias("application/zip", "application/octet-stream")

#: the document the app serves at /openapi.json (built without services, so at import time)
schema = schemathesis.openapi.from_dict(openapi_document())


def bearer(world: World, case: Case[Any], name: str) -> dict[str, str]:
    """``name``'s token; logging out gets a fresh token each time so the others stay valid."""
    if case.operation.path == "/auth/logout":
        return {"Authorization": f"Bearer {world.backend.people.issue_token(name, 'fuzz')}"}
    return {"Authorization": f"Bearer {world.tokens[name]}"}


@schema.parametrize()
@FUZZ
@pytest.mark.slow
def test_every_answer_to_an_admin_is_documented_and_none_is_5xx(
    case: Case[Any], served: tuple[World, str]
) -> None:
    world, base_url = served
    case.call_and_validate(
        base_url=base_url,
        headers=bearer(world, case, "fuzz-admin"),
        checks=CHECKS,
        timeout=TIMEOUT_S,
    )


@schema.include(tag_regex="annotation|quality|people").parametrize()
@pytest.mark.parametrize("served", ["sqlite"], indirect=True)
@settings(FUZZ, max_examples=5)
@pytest.mark.slow
def test_every_answer_to_an_annotator_is_documented_and_none_is_5xx(
    case: Case[Any], served: tuple[World, str]
) -> None:
    world, base_url = served
    case.call_and_validate(
        base_url=base_url,
        headers=bearer(world, case, "fuzz-annotator"),
        checks=CHECKS,
        timeout=TIMEOUT_S,
    )
