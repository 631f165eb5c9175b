"""``/audit``: who changed which box or which points, when, before and after."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query

from backend.api.deps import DbDep, require
from backend.api.schemas.annotation import AuditOut
from backend.auth.people import Principal
from backend.auth.roles import Permission
from backend.metadata.models.base import ID_MAX

router = APIRouter(prefix="/audit", tags=["quality"])


@router.get("", response_model=list[AuditOut])
def list_audit(
    _who: Annotated[Principal, Depends(require(Permission.READ_AUDIT))],
    db: DbDep,
    task_id: Annotated[int | None, Query(ge=1, le=ID_MAX)] = None,
    actor: Annotated[str | None, Query(max_length=128)] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 200,
    offset: Annotated[int, Query(ge=0, lt=2**63)] = 0,
) -> list[AuditOut]:
    """Audit events, oldest first, by task and/or person."""
    with db.transaction("read the audit log") as uow:
        events = uow.audit.list(task_id=task_id, actor=actor, limit=limit, offset=offset)
    return [AuditOut.of(e) for e in events]
