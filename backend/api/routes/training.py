"""``/training``: the retraining trigger (accepted labels since the last turn, each rule of the
policy on them) and its turns; ``POST /training/retrain`` starts a turn now (retrain -> suite
-> gate -> canary, ``backend.training.scheduler``). Reading needs ``read_releases``; starting a
turn needs ``manage_releases`` (admins), like starting a rollout."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query

from backend.api.deps import TrainingDep, require, row_id
from backend.api.schemas.training import RetrainIn, TrainingRunOut, TriggerStatusOut
from backend.auth.people import Principal
from backend.auth.roles import Permission

router = APIRouter(tags=["training"])

Reader = Annotated[Principal, Depends(require(Permission.READ_RELEASES))]
Manager = Annotated[Principal, Depends(require(Permission.MANAGE_RELEASES))]
RunId = Annotated[int, row_id("retraining turn")]


@router.get("/training/trigger", response_model=TriggerStatusOut)
def trigger_status(_who: Reader, training: TrainingDep) -> TriggerStatusOut:
    """Accepted boxes per class since the last turn's cutoff (and in all), each rule of the
    policy on them, whether a turn is due and which rules fire, and what blocks one."""
    return TriggerStatusOut.of(training.status())


@router.post("/training/retrain", response_model=TrainingRunOut, status_code=202)
def request_retrain(body: RetrainIn, who: Manager, training: TrainingDep) -> TrainingRunOut:
    """Start a retraining turn now on every label accepted so far, whatever the trigger's
    counts; it runs in the background (follow it at ``GET /training/runs/{run_id}``). 409
    while another turn runs or when the backend has no edge-case suite (``[training] suite``)."""
    return TrainingRunOut.of(training.request(who.name, body.note))


@router.get("/training/runs", response_model=list[TrainingRunOut])
def list_runs(
    _who: Reader, training: TrainingDep, limit: Annotated[int, Query(ge=1, le=1000)] = 20
) -> list[TrainingRunOut]:
    """Retraining turns, newest first."""
    return [TrainingRunOut.of(r) for r in training.runs(limit)]


@router.get("/training/runs/{run_id}", response_model=TrainingRunOut)
def get_run(run_id: RunId, _who: Reader, training: TrainingDep) -> TrainingRunOut:
    """One retraining turn (404 if there is none)."""
    return TrainingRunOut.of(training.run(run_id))
