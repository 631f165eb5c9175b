"""``/vehicles``: the registered fleet (names and token state, never tokens)."""

from __future__ import annotations

from fastapi import APIRouter, Depends

from backend.api.deps import DbDep, require
from backend.api.schemas.frames import VehicleOut
from backend.auth.roles import Permission

router = APIRouter(
    prefix="/vehicles", tags=["vehicles"], dependencies=[Depends(require(Permission.READ_FRAMES))]
)


@router.get("", response_model=list[VehicleOut])
def list_vehicles(db: DbDep) -> list[VehicleOut]:
    """Registered vehicles and whether their tokens are revoked."""
    with db.transaction("list vehicles") as uow:
        return [VehicleOut.of(v) for v in uow.vehicles.list()]
