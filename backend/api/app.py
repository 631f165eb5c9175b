"""The FastAPI application factory: ``create_app(repo)``; nothing is built at import time."""

from __future__ import annotations

import logging
from typing import Annotated

from fastapi import FastAPI, HTTPException, Query, Request
from fastapi.responses import JSONResponse

from backend.api.deps import RepoDep
from backend.api.schemas import FrameDetail, FramePage, FrameSummary, Health, VehicleOut
from backend.errors import StorageError
from backend.metadata.records import FrameFilter
from backend.metadata.repository import MAX_PAGE, MetadataRepository

log = logging.getLogger(__name__)


def create_app(repo: MetadataRepository) -> FastAPI:
    """The HTTP API over ``repo``; OpenAPI docs at ``/docs``."""
    app = FastAPI(
        title="Longtail backend",
        version="1",
        description="Frames uploaded by the fleet, their metadata and the registered vehicles.",
    )
    app.state.repo = repo

    @app.exception_handler(StorageError)
    async def storage_unavailable(_request: Request, exc: StorageError) -> JSONResponse:
        log.warning("API request failed on storage: %s", exc)
        return JSONResponse(status_code=503, content={"detail": str(exc)})

    @app.get("/health", response_model=Health, tags=["ops"])
    def health(repo: RepoDep) -> Health | JSONResponse:
        """Liveness; 503 with ``status = degraded`` when the database is unreachable."""
        try:
            return Health(status="ok", database="ok", frames=repo.count_frames())
        except StorageError as exc:
            body = Health(status="degraded", database=str(exc))
            return JSONResponse(status_code=503, content=body.model_dump())

    @app.get("/frames", response_model=FramePage, tags=["frames"])
    def list_frames(
        repo: RepoDep,
        vehicle: str | None = None,
        captured_from_ns: int | None = None,
        captured_to_ns: int | None = None,
        min_priority: float | None = None,
        sensor: str | None = None,
        model_version: str | None = None,
        rule: Annotated[
            str | None, Query(description="frames where this trigger rule fired")
        ] = None,
        class_name: Annotated[
            str | None, Query(description="frames with a detection of this class")
        ] = None,
        limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 100,
        offset: Annotated[int, Query(ge=0)] = 0,
    ) -> FramePage:
        """Frames matching every given filter, highest priority then newest first."""
        filters = FrameFilter(
            vehicle=vehicle,
            captured_from_ns=captured_from_ns,
            captured_to_ns=captured_to_ns,
            min_priority=min_priority,
            sensor_name=sensor,
            model_version=model_version,
            rule=rule,
            class_name=class_name,
        )
        records, total = repo.list_frames(filters, limit=limit, offset=offset)
        return FramePage(
            items=[FrameSummary.of(r) for r in records], total=total, limit=limit, offset=offset
        )

    @app.get("/frames/{frame_id}", response_model=FrameDetail, tags=["frames"])
    def get_frame(frame_id: str, repo: RepoDep) -> FrameDetail:
        """One frame with its detections; 404 if it is not stored."""
        record = repo.get_frame(frame_id)
        if record is None:
            raise HTTPException(status_code=404, detail=f"no frame with id {frame_id!r}")
        return FrameDetail.of(record)

    @app.get("/vehicles", response_model=list[VehicleOut], tags=["vehicles"])
    def list_vehicles(repo: RepoDep) -> list[VehicleOut]:
        """Registered vehicles and whether their tokens are revoked."""
        return [VehicleOut.of(v) for v in repo.list_vehicles()]

    return app
