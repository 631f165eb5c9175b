"""``/evidence``: release-gate verdicts and every number behind them (what the safety case
cites); a failed gate can be bypassed by an admin only, and the bypass becomes evidence itself."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query

from backend.api.deps import DbDep, require, row_id
from backend.api.schemas.evidence import (
    BypassIn,
    EvidenceOut,
    VerdictDetailOut,
    VerdictOut,
    VerdictPage,
)
from backend.auth.people import Principal, utcnow
from backend.auth.roles import Permission
from backend.release.evidence import bypass_gate

router = APIRouter(prefix="/evidence", tags=["release"])

Reader = Annotated[Principal, Depends(require(Permission.READ_EVIDENCE))]
Admin = Annotated[Principal, Depends(require(Permission.BYPASS_GATE))]
VerdictId = Annotated[int, row_id("gate verdict")]


@router.get("/verdicts", response_model=VerdictPage)
def list_verdicts(
    _who: Reader,
    db: DbDep,
    model_version: Annotated[str | None, Query(min_length=1, max_length=128)] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0, le=2**31 - 1)] = 0,
) -> VerdictPage:
    """Gate verdicts, newest first, optionally of one candidate version."""
    with db.transaction("list gate verdicts") as uow:
        items, total = uow.evidence.verdicts(
            model_version=model_version, limit=limit, offset=offset
        )
    return VerdictPage(
        items=[VerdictOut.of(v) for v in items], total=total, limit=limit, offset=offset
    )


@router.get("/verdicts/{verdict_id}", response_model=VerdictDetailOut)
def get_verdict(_who: Reader, db: DbDep, verdict_id: VerdictId) -> VerdictDetailOut:
    """One verdict with all its evidence rows, in the order written."""
    with db.transaction(f"read gate verdict {verdict_id}") as uow:
        verdict = uow.evidence.verdict(verdict_id)
        rows = uow.evidence.evidence(verdict_id)
    return VerdictDetailOut(
        **VerdictOut.of(verdict).model_dump(), evidence=[EvidenceOut.of(r) for r in rows]
    )


@router.post("/verdicts/{verdict_id}/bypass", response_model=EvidenceOut, status_code=201)
def bypass(who: Admin, db: DbDep, verdict_id: VerdictId, body: BypassIn) -> EvidenceOut:
    """Release a failed verdict anyway (admins only); answers the bypass's evidence row.
    409 for a verdict that passed or was bypassed already."""
    return EvidenceOut.of(bypass_gate(db, who, verdict_id, body.reason, utcnow()))
