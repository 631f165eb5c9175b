"""``/auth``: log in with a password for a session token, log out, and who am I."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from backend.api.deps import CurrentUser, ServicesDep
from backend.api.schemas.annotation import LoginIn, MeOut, TokenOut
from backend.auth.roles import PERMISSIONS

router = APIRouter(prefix="/auth", tags=["people"])


@router.post("/login", response_model=TokenOut)
def login(body: LoginIn, services: ServicesDep) -> TokenOut:
    """A session token for a name and password (401 for either one wrong)."""
    token, expires = services.people.login(body.name, body.password)
    return TokenOut(token=token, expires_at=expires)


@router.post("/logout", status_code=204)
def logout(
    who: CurrentUser,
    services: ServicesDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(HTTPBearer())],
) -> None:
    """Revoke the token this request carries."""
    assert credentials is not None and who.name
    services.people.logout(credentials.credentials)


@router.get("/me", response_model=MeOut)
def me(who: CurrentUser) -> MeOut:
    """The person behind the token and what their role may do."""
    return MeOut(
        name=who.name,
        role=who.role.value,
        calibration=who.calibration,
        permissions=sorted(p.value for p in PERMISSIONS[who.role]),
    )
