"""``/models``: registered model versions and their aliases; ``/rollouts``: rollout campaigns
(a candidate to a canary share of the fleet, its health against stated limits, then promotion
or rollback). Reading needs ``read_releases``; starting and deciding a campaign needs
``manage_releases`` (admins). Registering a model is the training run's or the CLI's job."""

from __future__ import annotations

from dataclasses import replace
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query

from backend.api.deps import CampaignId, ReleaseDep, require
from backend.api.schemas.release import (
    VERSION,
    AliasOut,
    CampaignIn,
    CampaignOut,
    CampaignPage,
    CampaignStatusOut,
    DecisionIn,
    EvaluationOut,
    ModelVersionOut,
    RefusalOut,
)
from backend.auth.people import Principal
from backend.auth.roles import Permission
from backend.release.rollout import Evaluation
from backend.release.services import ReleaseServices

router = APIRouter(tags=["release"])

Reader = Annotated[Principal, Depends(require(Permission.READ_RELEASES))]
Manager = Annotated[Principal, Depends(require(Permission.MANAGE_RELEASES))]
Version = Annotated[str, Path(pattern=VERSION, description="the model version")]
#: offsets are bound like every other listing (a signed 64-bit number in SQL)
OFFSET_MAX = 2**63 - 1


@router.get("/models", response_model=list[ModelVersionOut])
def list_models(
    _who: Reader,
    release: ReleaseDep,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0, le=OFFSET_MAX)] = 0,
) -> list[ModelVersionOut]:
    """Registered model versions, newest first."""
    return [ModelVersionOut.of(r) for r in release.registry.list(limit=limit, offset=offset)]


@router.get("/models/aliases", response_model=list[AliasOut])
def list_aliases(_who: Reader, release: ReleaseDep) -> list[AliasOut]:
    """Which version is the champion, the candidate and the previous champion."""
    return [AliasOut.of(a) for a in release.registry.aliases()]


@router.get("/models/{version}", response_model=ModelVersionOut)
def get_model(version: Version, _who: Reader, release: ReleaseDep) -> ModelVersionOut:
    """One registered version."""
    return ModelVersionOut.of(release.registry.get(version))


@router.post("/rollouts", response_model=CampaignOut, status_code=201)
def start_rollout(body: CampaignIn, who: Manager, release: ReleaseDep) -> CampaignOut:
    """Start rolling ``version`` out against the champion: a canary share of the fleet gets it
    first (409 while another campaign is active). Omitted settings take the ``[release]``
    defaults."""
    overrides = {k: v for k, v in body.health_limits.model_dump().items() if v is not None}
    limits = replace(release.default_limits(), **overrides)
    campaign = release.rollout.start_campaign(
        body.version,
        canary_share=body.canary_share or release.config.canary_share,
        health_limits=limits,
        min_canary_reports=body.min_canary_reports or release.config.min_canary_reports,
        actor=who.name,
    )
    return CampaignOut.of(campaign)


@router.get("/rollouts", response_model=CampaignPage)
def list_rollouts(
    _who: Reader,
    release: ReleaseDep,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0, le=OFFSET_MAX)] = 0,
) -> CampaignPage:
    """Campaigns, newest first."""
    items, total = release.rollout.page(limit=limit, offset=offset)
    return CampaignPage(
        items=[CampaignOut.of(c) for c in items], total=total, limit=limit, offset=offset
    )


@router.get("/rollouts/{campaign_id}", response_model=CampaignStatusOut)
def rollout_status(campaign_id: CampaignId, _who: Reader, release: ReleaseDep) -> CampaignStatusOut:
    """A campaign, how its canary stands against the limits now (nothing is decided), and the
    packages vehicles refused during it (a canary's refusals are the ``refusals`` check)."""
    evaluation = release.rollout.evaluate(campaign_id, decide=False)
    return _status(release, campaign_id, evaluation)


@router.post("/rollouts/{campaign_id}/evaluate", response_model=CampaignStatusOut)
def evaluate_rollout(
    campaign_id: CampaignId, _who: Manager, release: ReleaseDep
) -> CampaignStatusOut:
    """Judge the campaign now: promoted when the canary is healthy, rolled back when a limit
    is broken, unchanged while pending (the server also does this periodically)."""
    evaluation = release.rollout.evaluate(campaign_id)
    return _status(release, campaign_id, evaluation)


def _status(
    release: ReleaseServices, campaign_id: int, evaluation: Evaluation
) -> CampaignStatusOut:
    campaign = release.rollout.get(campaign_id)
    return CampaignStatusOut(
        **CampaignOut.of(campaign).model_dump(),
        evaluation=EvaluationOut.of(evaluation),
        refusals=[RefusalOut.of(r) for r in release.rollout.refusals(campaign_id)],
    )


@router.post("/rollouts/{campaign_id}/promote", response_model=CampaignOut)
def promote_rollout(
    campaign_id: CampaignId, body: DecisionIn, who: Manager, release: ReleaseDep
) -> CampaignOut:
    """Promote the campaign's candidate to the whole fleet now (recorded with the figures so
    far and ``note``); 409 unless the campaign is in canary."""
    return CampaignOut.of(release.rollout.promote(campaign_id, actor=who.name, note=body.note))


@router.post("/rollouts/{campaign_id}/rollback", response_model=CampaignOut)
def rollback_rollout(
    campaign_id: CampaignId, body: DecisionIn, who: Manager, release: ReleaseDep
) -> CampaignOut:
    """Withdraw the candidate (in canary), or return the champion it replaced (after its
    promotion); 409 when there is nothing to roll back."""
    return CampaignOut.of(release.rollout.rollback(campaign_id, actor=who.name, note=body.note))
