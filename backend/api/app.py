"""The FastAPI application factory: ``create_app(services)``; nothing is built at import time."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from fastapi import FastAPI

from backend.api import errors
from backend.api.annotator_app import serve_annotator
from backend.api.deps import ApiServices
from backend.api.docs import serve_docs_offline
from backend.api.limits import BodyLimit
from backend.api.routes import (
    assignments,
    audit,
    auth,
    datasets,
    evidence,
    frames,
    health,
    models,
    ontology,
    operations,
    people,
    quality,
    safety,
    tasks,
    training,
    vehicles,
    webhooks,
)

log = logging.getLogger(__name__)

#: routers in the order OpenAPI lists them
ROUTERS = (
    health,
    auth,
    people,
    assignments,
    tasks,
    quality,
    ontology,
    audit,
    webhooks,
    datasets,
    frames,
    vehicles,
    models,
    training,
    evidence,
    safety,
    operations,
)

DESCRIPTION = """\
The Longtail cloud: frames the fleet uploaded, and the annotation loop that turns them into
accepted labels (tasks, leases, versioned saves, review, consensus, gold checks, audit).

Authenticate with `Authorization: Bearer <token>` (an admin creates people with
`longtail backend people add`, or log in at `POST /auth/login`). Boxes are
`[x, y, z, l, w, h, yaw]` in the frame's sensor frame (metres, box centre, yaw about +z from +x).
"""


def _routes(max_body_bytes: int, annotator_dist: Path | None = None) -> FastAPI:
    app = FastAPI(
        title="Longtail backend",
        version="1",
        description=DESCRIPTION,
        responses=errors.RESPONSES,
    )
    errors.install(app)
    for module in ROUTERS:
        app.include_router(module.router)
    app.add_middleware(BodyLimit, max_bytes=max_body_bytes)
    serve_docs_offline(app)
    serve_annotator(app, annotator_dist)
    return app


def create_app(
    services: ApiServices, *, max_body_bytes: int = 64 * 2**20, annotator_dist: Path | None = None
) -> FastAPI:
    """The HTTP API over ``services``; OpenAPI docs at ``/docs`` and ``/redoc``, served offline;
    the labelling tool at ``/app`` (built into ``annotator_dist``, default ``annotator/dist``)."""
    app = _routes(max_body_bytes, annotator_dist)
    app.state.services = services
    return app


def openapi_document() -> dict[str, Any]:
    """The API's OpenAPI document (what ``GET /openapi.json`` serves), without any services:
    for client generators and schema-driven tests."""
    return _routes(64 * 2**20).openapi()
