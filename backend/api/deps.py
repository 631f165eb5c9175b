"""What the routes depend on, injected per request from the app's state (set by ``create_app``).

Routes declare ``db: DbDep``, ``who: CurrentUser`` or ``who: Annotated[Principal,
Depends(require(Permission.X))]``; nothing here is built at import time.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any, cast

from fastapi import Depends, Path, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from backend.annotation.rescoring import ActiveRescorer
from backend.annotation.services import AnnotationServices
from backend.auth.people import People, Principal
from backend.auth.roles import Permission
from backend.config import BackendConfig
from backend.errors import AuthenticationError
from backend.metadata.models.base import ID_MAX
from backend.metadata.unit_of_work import Database
from backend.ops.service import OpsService
from backend.release.services import ReleaseServices
from backend.safety.service import SafetyService
from backend.storage.base import BlobStore
from backend.training.scheduler import RetrainScheduler


@dataclass(frozen=True)
class ApiServices:
    """Everything the HTTP API needs, assembled by ``backend.wiring``."""

    db: Database
    people: People
    blobs: BlobStore
    annotation: AnnotationServices
    config: BackendConfig
    release: ReleaseServices
    safety: SafetyService
    training: RetrainScheduler
    ops: OpsService
    active: ActiveRescorer


def get_services(request: Request) -> ApiServices:
    """The services the app was created with."""
    return cast(ApiServices, request.app.state.services)


def get_db(request: Request) -> Database:
    """The metadata database."""
    return get_services(request).db


def get_annotation(request: Request) -> AnnotationServices:
    return get_services(request).annotation


def get_release(request: Request) -> ReleaseServices:
    return get_services(request).release


def get_safety(request: Request) -> SafetyService:
    return get_services(request).safety


def get_training(request: Request) -> RetrainScheduler:
    return get_services(request).training


def get_ops(request: Request) -> OpsService:
    return get_services(request).ops


def get_active(request: Request) -> ActiveRescorer:
    return get_services(request).active


def row_id(what: str) -> Any:
    """A path parameter naming a row by id: 1..ID_MAX, so a larger number is refused (422)
    before it reaches SQL (SQLite cannot bind one past 64 bits, PostgreSQL's INTEGER columns
    refuse one past 32 bits)."""
    return Path(ge=1, le=ID_MAX, description=f"the {what}'s id")


AssignmentId = Annotated[int, row_id("assignment")]
TaskId = Annotated[int, row_id("task")]
WebhookId = Annotated[int, row_id("webhook")]
CampaignId = Annotated[int, row_id("rollout campaign")]

DbDep = Annotated[Database, Depends(get_db)]
ServicesDep = Annotated[ApiServices, Depends(get_services)]
AnnotationDep = Annotated[AnnotationServices, Depends(get_annotation)]
ReleaseDep = Annotated[ReleaseServices, Depends(get_release)]
SafetyDep = Annotated[SafetyService, Depends(get_safety)]
TrainingDep = Annotated[RetrainScheduler, Depends(get_training)]
OpsDep = Annotated[OpsService, Depends(get_ops)]
ActiveDep = Annotated[ActiveRescorer, Depends(get_active)]

_bearer = HTTPBearer(auto_error=False, description="a person's API token")


def current_user(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Principal:
    """The person behind the request's bearer token; 401 without a valid one."""
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise AuthenticationError("missing 'Authorization: Bearer <token>' header")
    return get_services(request).people.authenticate(credentials.credentials)


CurrentUser = Annotated[Principal, Depends(current_user)]


def require(permission: Permission) -> Callable[[Principal], Principal]:
    """A dependency: the current person, if their role holds ``permission`` (403 otherwise)."""

    def check(who: CurrentUser) -> Principal:
        who.require(permission)
        return who

    check.__name__ = f"require_{permission.value}"
    return check
