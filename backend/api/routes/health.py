"""``/health``: liveness and the state of the metadata database."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from backend.api.deps import DbDep
from backend.api.schemas.frames import Health
from backend.errors import StorageError

router = APIRouter(tags=["ops"])


@router.get("/health", response_model=Health)
def health(db: DbDep) -> Health | JSONResponse:
    """Liveness; 503 with ``status = degraded`` when the database is unreachable."""
    try:
        with db.transaction("count frames") as uow:
            frames = uow.frames.count()
        return Health(status="ok", database="ok", frames=frames)
    except StorageError as exc:
        body = Health(status="degraded", database=str(exc))
        return JSONResponse(status_code=503, content=body.model_dump())
