"""``/ops``: the loop's operations KPIs for the operations dashboard (the QA figures per person
and tier are ``/qa/report``; both are also on ``/metrics``). Reading takes ``read_evidence``:
the KPIs are made of gate evidence, fleet frames and rollouts as well as the team's figures."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends

from backend.api.deps import OpsDep, require
from backend.api.schemas.operations import OpsOut
from backend.auth.people import Principal
from backend.auth.roles import Permission

router = APIRouter(prefix="/ops", tags=["operations"])

Reader = Annotated[Principal, Depends(require(Permission.READ_EVIDENCE))]


@router.get("/kpis", response_model=OpsOut)
def get_kpis(_who: Reader, ops: OpsDep) -> OpsOut:
    """Agreement over time, the model performance delta and the latency by stage of every loop
    (gate verdict), the capture rate per trigger and model version, and the drift of the fleet's
    frame scores."""
    return OpsOut.of(ops.kpis())
