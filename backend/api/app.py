"""The FastAPI application factory: ``create_app(services)``; nothing is built at import time."""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from backend.api.deps import ApiServices
from backend.api.routes import frames, health, vehicles
from backend.errors import StorageError

log = logging.getLogger(__name__)


def create_app(services: ApiServices) -> FastAPI:
    """The HTTP API over ``services``; OpenAPI docs at ``/docs``."""
    app = FastAPI(
        title="Longtail backend",
        version="1",
        description="Frames uploaded by the fleet, their metadata and the registered vehicles.",
    )
    app.state.services = services

    @app.exception_handler(StorageError)
    async def storage_unavailable(_request: Request, exc: StorageError) -> JSONResponse:
        log.warning("API request failed on storage: %s", exc)
        return JSONResponse(status_code=503, content={"detail": str(exc)})

    for module in (health, frames, vehicles):
        app.include_router(module.router)
    return app
