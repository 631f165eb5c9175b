"""``/qa``: the QA figures (per person, per tier, per batch), gold tasks, and ``/metrics`` for
Prometheus."""

from __future__ import annotations

import math
from typing import Annotated, Any

from fastapi import APIRouter, Depends
from fastapi.responses import Response
from pydantic import BaseModel, Field

from backend.annotation.reports import report
from backend.api.deps import CurrentUser, ServicesDep, TaskId, require
from backend.api.prometheus import exposition
from backend.api.schemas.annotation import LabelsIn, TaskOut
from backend.auth.people import Principal, utcnow
from backend.auth.roles import Permission, allows
from backend.errors import NotFoundError

router = APIRouter(tags=["quality"])

TeamReader = Annotated[Principal, Depends(require(Permission.READ_TEAM_FIGURES))]
Manager = Annotated[Principal, Depends(require(Permission.MANAGE_TASKS))]


def _finite(value: Any) -> Any:
    """JSON has no NaN: figures with nothing to measure become null."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_finite(v) for v in value]
    return value


class GoldIn(BaseModel):
    """A gold task: stored frames and the known answer."""

    frame_ids: list[str] = Field(min_length=1, max_length=50)
    labels: LabelsIn
    calibration: bool = False


@router.get("/qa/report")
def qa_report(_who: TeamReader, services: ServicesDep) -> dict[str, Any]:
    """Every person's, tier's and the batch's figures (NaN figures are null)."""
    with services.db.transaction("compute the QA report") as uow:
        body = report(uow, services.config.annotation, utcnow()).as_dict()
    return dict(_finite(body))


@router.get("/qa/me")
def my_figures(who: CurrentUser, services: ServicesDep) -> dict[str, Any]:
    """The caller's own figures."""
    who.require(Permission.READ_OWN_FIGURES)
    with services.db.transaction("compute the QA report") as uow:
        people = report(uow, services.config.annotation, utcnow()).as_dict()["people"]
    mine = [p for p in people if p["name"] == who.name]
    if not mine:
        raise NotFoundError(f"no figures for {who.name}")
    return dict(_finite(mine[0]))


@router.get("/metrics", response_class=Response)
def metrics(who: TeamReader, services: ServicesDep) -> Response:
    """Prometheus exposition of the QA figures (scrape with a bearer token), and of the loop's
    operations KPIs (``/ops/kpis``) when the token's role reads evidence (senior, admin,
    safety engineer): the KPIs are made of gate evidence, fleet frames and rollouts."""
    with services.db.transaction("compute the QA report") as uow:
        qa = report(uow, services.config.annotation, utcnow())
    ops = services.ops.kpis() if allows(who.role, Permission.READ_EVIDENCE) else None
    text, content_type = exposition(qa, ops)
    return Response(text, media_type=content_type)


@router.post("/gold", response_model=TaskOut, status_code=201)
def create_gold(body: GoldIn, who: Manager, services: ServicesDep) -> TaskOut:
    """A gold task over stored frames with a known answer (``calibration``: for new people)."""
    task = services.annotation.gold.create(
        body.frame_ids, body.labels.body(), calibration=body.calibration, author=who.name
    )
    return TaskOut.of(task)


@router.post("/tasks/{task_id}/gold", response_model=TaskOut, status_code=201)
def promote_to_gold(
    task_id: TaskId, who: Manager, services: ServicesDep, calibration: bool = False
) -> TaskOut:
    """A gold task whose answer is this accepted task's labels."""
    return TaskOut.of(
        services.annotation.gold.promote(task_id, calibration=calibration, author=who.name)
    )
