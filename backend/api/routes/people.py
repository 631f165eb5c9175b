"""``/people``: accounts and roles (admins), calibration state."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends

from backend.api.deps import ServicesDep, require
from backend.api.schemas.annotation import CalibrationIn, CreatedUserOut, UserIn, UserOut
from backend.auth.people import Principal
from backend.auth.roles import Permission
from backend.errors import NotFoundError

router = APIRouter(prefix="/people", tags=["people"])

Admin = Annotated[Principal, Depends(require(Permission.MANAGE_PEOPLE))]
TeamReader = Annotated[Principal, Depends(require(Permission.READ_TEAM_FIGURES))]


@router.get("", response_model=list[UserOut])
def list_people(_who: TeamReader, services: ServicesDep) -> list[UserOut]:
    """Every account with its role and calibration state."""
    with services.db.transaction("list people") as uow:
        return [UserOut.of(u) for u in uow.people.list()]


@router.post("", response_model=CreatedUserOut, status_code=201)
def create_person(body: UserIn, who: Admin, services: ServicesDep) -> CreatedUserOut:
    """Create an account; the answer carries its first API token, shown once."""
    token = services.people.create(body.name, body.role, body.password)
    with services.db.transaction("read the new user") as uow:
        user = uow.people.require(body.name)
        uow.audit.record(
            user.created_at,
            who.name,
            "person.created",
            details={"name": body.name, "role": body.role},
        )
    return CreatedUserOut(user=UserOut.of(user), token=token)


@router.post("/{name}/disable", response_model=UserOut)
def disable_person(name: str, who: Admin, services: ServicesDep) -> UserOut:
    """Disable an account and revoke its tokens."""
    services.people.disable(name)
    with services.db.transaction("read the user") as uow:
        user = uow.people.require(name)
        uow.audit.record(user.created_at, who.name, "person.disabled", details={"name": name})
        return UserOut.of(user)


@router.put("/{name}/calibration", response_model=UserOut)
def set_calibration(name: str, body: CalibrationIn, who: Admin, services: ServicesDep) -> UserOut:
    """Set a labeller's calibration state (e.g. clear a flag after retraining them)."""
    with services.db.transaction(f"set calibration of {name!r}") as uow:
        if uow.people.get(name) is None:
            raise NotFoundError(f"no user named {name!r}")
        uow.people.set_calibration(name, body.state)
        user = uow.people.require(name)
        uow.audit.record(
            user.created_at,
            who.name,
            "person.calibration",
            details={"name": name, "state": body.state},
        )
        return UserOut.of(user)
