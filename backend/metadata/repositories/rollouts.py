"""Rollout campaigns, the health reports vehicles send about the model they run, and the
packages they refused."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from backend.errors import NotFoundError
from backend.metadata.models.release import ModelRefusal, RolloutCampaign, VehicleModelReport
from backend.metadata.records import utc

#: campaign states: ``canary`` is the only active one
CANARY = "canary"
PROMOTED = "promoted"
ROLLED_BACK = "rolled_back"
STATES = (CANARY, PROMOTED, ROLLED_BACK)


@dataclass(frozen=True)
class CampaignRecord:
    """A rollout campaign of ``version`` against the champion ``baseline_version`` it started
    from; ``canary_vehicles`` were frozen at the start; ``health_limits`` by name (see
    ``backend.release.health.HealthLimits``); the decision's reason and figures once decided."""

    id: int
    version: str
    baseline_version: str
    state: str
    canary_share: float
    canary_vehicles: tuple[str, ...]
    health_limits: dict[str, float]
    min_canary_reports: int
    created_at: datetime
    created_by: str
    decided_at: datetime | None
    decided_by: str | None
    decision_reason: str
    decision_figures: dict[str, Any]

    @property
    def active(self) -> bool:
        return self.state == CANARY


@dataclass(frozen=True)
class ReportRecord:
    """One stored health report (counts over the vehicle's interval, latency in ms)."""

    id: int
    vehicle: str
    version: str
    campaign_id: int | None
    received_at: datetime
    frames: int
    triggers: int
    errors: int
    latency_ms_p50: float
    latency_ms_p99: float
    score_mean: float
    score_p95: float


@dataclass(frozen=True)
class RefusalRecord:
    """A package a vehicle refused, why, and the campaign active when it was reported."""

    id: int
    vehicle: str
    version: str
    campaign_id: int | None
    received_at: datetime
    reason: str


def _campaign(row: RolloutCampaign) -> CampaignRecord:
    return CampaignRecord(
        id=row.id,
        version=row.version,
        baseline_version=row.baseline_version,
        state=row.state,
        canary_share=row.canary_share,
        canary_vehicles=tuple(row.canary_vehicles),
        health_limits={k: float(v) for k, v in row.health_limits.items()},
        min_canary_reports=row.min_canary_reports,
        created_at=utc(row.created_at),
        created_by=row.created_by,
        decided_at=None if row.decided_at is None else utc(row.decided_at),
        decided_by=row.decided_by,
        decision_reason=row.decision_reason,
        decision_figures=dict(row.decision_figures),
    )


def _report(row: VehicleModelReport) -> ReportRecord:
    return ReportRecord(
        id=row.id,
        vehicle=row.vehicle,
        version=row.version,
        campaign_id=row.campaign_id,
        received_at=utc(row.received_at),
        frames=row.frames,
        triggers=row.triggers,
        errors=row.errors,
        latency_ms_p50=row.latency_ms_p50,
        latency_ms_p99=row.latency_ms_p99,
        score_mean=row.score_mean,
        score_p95=row.score_p95,
    )


class RolloutRepository:
    """Campaigns and health reports in one unit of work."""

    def __init__(self, session: Session) -> None:
        self._session = session

    def create(
        self,
        *,
        version: str,
        baseline_version: str,
        canary_share: float,
        health_limits: dict[str, float],
        min_canary_reports: int,
        at: datetime,
        by: str,
    ) -> int:
        """Insert an active campaign (empty canary set) and return its id. A second active
        campaign raises ``IntegrityError`` at flush (the unique ``active_slot``)."""
        row = RolloutCampaign(
            version=version,
            baseline_version=baseline_version,
            state=CANARY,
            active_slot=1,
            canary_share=canary_share,
            canary_vehicles=[],
            health_limits=dict(health_limits),
            min_canary_reports=min_canary_reports,
            created_at=at,
            created_by=by,
            decision_reason="",
            decision_figures={},
        )
        self._session.add(row)
        self._session.flush()
        return row.id

    def set_canary(self, campaign_id: int, vehicles: list[str]) -> None:
        row = self._row(campaign_id, lock=False)
        row.canary_vehicles = list(vehicles)
        self._session.flush()

    def _row(self, campaign_id: int, *, lock: bool) -> RolloutCampaign:
        stmt = select(RolloutCampaign).where(RolloutCampaign.id == campaign_id)
        if lock:
            stmt = stmt.with_for_update()
        row = self._session.scalars(stmt).first()
        if row is None:
            raise NotFoundError(f"no rollout campaign {campaign_id}")
        return row

    def require(self, campaign_id: int, *, lock: bool = False) -> CampaignRecord:
        """The campaign; ``lock`` holds its row until the transaction ends (PostgreSQL)."""
        return _campaign(self._row(campaign_id, lock=lock))

    def active(self) -> CampaignRecord | None:
        row = self._session.scalars(
            select(RolloutCampaign).where(RolloutCampaign.active_slot.is_not(None))
        ).first()
        return None if row is None else _campaign(row)

    def page(self, *, limit: int = 100, offset: int = 0) -> tuple[list[CampaignRecord], int]:
        """Campaigns, newest first, and how many there are."""
        total = int(self._session.scalar(select(func.count()).select_from(RolloutCampaign)) or 0)
        rows = self._session.scalars(
            select(RolloutCampaign).order_by(RolloutCampaign.id.desc()).limit(limit).offset(offset)
        )
        return [_campaign(r) for r in rows], total

    def decide(
        self,
        campaign_id: int,
        state: str,
        *,
        at: datetime,
        by: str,
        reason: str,
        figures: dict[str, Any],
    ) -> CampaignRecord:
        """Close the campaign with ``state`` (it stops being active) and its reason."""
        row = self._row(campaign_id, lock=False)
        row.state, row.active_slot = state, None
        row.decided_at, row.decided_by = at, by
        row.decision_reason, row.decision_figures = reason, dict(figures)
        self._session.flush()
        return _campaign(row)

    def add_report(
        self, vehicle: str, campaign_id: int | None, at: datetime, fields: dict[str, Any]
    ) -> int:
        """Store one health report (``fields``: the HealthReport's values) and return its id."""
        row = VehicleModelReport(vehicle=vehicle, campaign_id=campaign_id, received_at=at, **fields)
        self._session.add(row)
        self._session.flush()
        return row.id

    def add_refusal(
        self, vehicle: str, version: str, campaign_id: int | None, at: datetime, reason: str
    ) -> int:
        """Store that ``vehicle`` refused the package of ``version``; returns its id."""
        row = ModelRefusal(
            vehicle=vehicle, version=version, campaign_id=campaign_id, received_at=at, reason=reason
        )
        self._session.add(row)
        self._session.flush()
        return row.id

    def refusals(
        self, *, campaign_id: int | None = None, version: str | None = None, limit: int = 1000
    ) -> list[RefusalRecord]:
        """Refusals (of one campaign, of one version), newest first."""
        stmt = select(ModelRefusal)
        if campaign_id is not None:
            stmt = stmt.where(ModelRefusal.campaign_id == campaign_id)
        if version is not None:
            stmt = stmt.where(ModelRefusal.version == version)
        stmt = stmt.order_by(ModelRefusal.received_at.desc(), ModelRefusal.id.desc()).limit(limit)
        return [
            RefusalRecord(
                id=r.id,
                vehicle=r.vehicle,
                version=r.version,
                campaign_id=r.campaign_id,
                received_at=utc(r.received_at),
                reason=r.reason,
            )
            for r in self._session.scalars(stmt)
        ]

    def report_history(self, limit: int = 100_000) -> list[ReportRecord]:
        """The newest ``limit`` health reports of every version and vehicle, oldest first."""
        stmt = (
            select(VehicleModelReport)
            .order_by(VehicleModelReport.received_at.desc(), VehicleModelReport.id.desc())
            .limit(limit)
        )
        return [_report(r) for r in self._session.scalars(stmt)][::-1]

    def reports(
        self,
        *,
        version: str,
        campaign_id: int | None = None,
        before: datetime | None = None,
        limit: int | None = None,
    ) -> list[ReportRecord]:
        """Reports about ``version``: of one campaign, or (with ``before``) the newest ones
        received before a time, newest first."""
        stmt = select(VehicleModelReport).where(VehicleModelReport.version == version)
        if campaign_id is not None:
            stmt = stmt.where(VehicleModelReport.campaign_id == campaign_id)
        if before is not None:
            stmt = stmt.where(VehicleModelReport.received_at < before)
        stmt = stmt.order_by(VehicleModelReport.received_at.desc(), VehicleModelReport.id.desc())
        if limit is not None:
            stmt = stmt.limit(limit)
        return [_report(r) for r in self._session.scalars(stmt)]
