"""Rollout campaigns: a candidate goes to a canary share of the fleet first, its health is
watched against stated limits, then it is promoted to the whole fleet or rolled back.

::

    rollout = RolloutService(db, registry, clock)
    campaign = rollout.start_campaign("m-2", canary_share=0.1, health_limits=HealthLimits(),
                                      min_canary_reports=3)
    rollout.assignment_for("car-7")        # canary: m-2; everyone else: the champion
    rollout.report_health("car-7", HealthReport(...))
    rollout.evaluate(campaign.id)          # pending, or promoted / rolled back with the numbers

The canary set is chosen when a campaign starts, from the registered, unrevoked vehicles: a
vehicle is a canary when ``sha256("<campaign id>:<vehicle>")``, read as a fraction of 2**64, is
below the share (deterministic; independent between campaigns), and when none is, the vehicle
with the smallest hash is. The set is stored with the campaign; vehicles registered later run
the champion until the campaign is decided.

Health: the canary figures are the reports of canary vehicles about the candidate during the
campaign; the fleet reference is the reports of the other vehicles about the champion during the
campaign, or, when there are none (a one-vehicle fleet), the newest reports about the champion
from before it (``REFERENCE_REPORTS``). See ``backend.release.health`` for the checks. A limit
broken rolls back at once (a canary vehicle that refuses the candidate's package breaks the
``refusals`` limit, 0 by default); the campaign is promoted once ``min_canary_reports`` canary
reports arrived and every check was measured and passed.

Everything lives in the database: new service objects over the same database resume a campaign
where it was. One campaign at a time (the database refuses a second one).
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final, Literal

from sqlalchemy.exc import IntegrityError

from backend.errors import ConflictError, InvalidInputError, NotFoundError
from backend.metadata.repositories.rollouts import (
    PROMOTED,
    ROLLED_BACK,
    CampaignRecord,
    RefusalRecord,
    ReportRecord,
)
from backend.metadata.unit_of_work import Database, UnitOfWork
from backend.release.health import Check, HealthFigures, HealthLimits, check_report, judge
from backend.release.registry import CANDIDATE, CHAMPION, ModelRegistry
from backend.release.types import Assignment, HealthReport

log = logging.getLogger(__name__)

#: pre-campaign champion reports used as the fleet reference when no other vehicle reports
REFERENCE_REPORTS: Final = 500

Outcome = Literal["pending", "promoted", "rolled_back"]


def canary_fraction(campaign_id: int, vehicle: str) -> float:
    """Where ``vehicle`` falls in [0, 1) for campaign ``campaign_id`` (uniform, deterministic)."""
    digest = hashlib.sha256(f"{campaign_id}:{vehicle}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2.0**64


def select_canary(campaign_id: int, vehicles: Sequence[str], share: float) -> list[str]:
    """The canary vehicles of a campaign (module docstring): sorted, at least one when
    ``vehicles`` is not empty."""
    chosen = sorted(v for v in vehicles if canary_fraction(campaign_id, v) < share)
    if not chosen and vehicles:
        chosen = [min(vehicles, key=lambda v: (canary_fraction(campaign_id, v), v))]
    return chosen


@dataclass(frozen=True)
class Evaluation:
    """A campaign judged: the outcome, why (one line), each check, and the figures behind it."""

    campaign_id: int
    outcome: Outcome
    reason: str
    checks: tuple[Check, ...]
    canary: HealthFigures
    fleet: HealthFigures
    fleet_source: str

    def figures(self) -> dict[str, Any]:
        """Everything as plain JSON data (what the campaign row stores)."""
        return {
            "checks": [c.as_dict() for c in self.checks],
            "canary": self.canary.as_dict(),
            "fleet": self.fleet.as_dict(),
            "fleet_source": self.fleet_source,
        }


class RolloutService:
    """Campaigns, assignments and health reports over one database and registry; ``clock``
    returns aware UTC datetimes. Satisfies ``backend.release.types.UpdateSource``."""

    def __init__(
        self, db: Database, registry: ModelRegistry, clock: Callable[[], datetime]
    ) -> None:
        self._db = db
        self._registry = registry
        self._clock = clock

    # -- campaigns ---------------------------------------------------------------------------

    def start_campaign(
        self,
        version: str,
        *,
        canary_share: float,
        health_limits: HealthLimits,
        min_canary_reports: int,
        actor: str = "system",
    ) -> CampaignRecord:
        """Start rolling ``version`` out against the current champion: the canary set is chosen
        and ``version`` becomes the candidate. ConflictError while another campaign is active,
        when ``version`` is the champion, or when the newest gate verdict on ``version`` against
        the champion neither passed nor was bypassed by an admin; NotFoundError without a
        champion."""
        if not 0.0 < canary_share <= 1.0:
            raise InvalidInputError(f"canary_share must be in (0, 1], got {canary_share}")
        if not 1 <= min_canary_reports <= 100_000:
            raise InvalidInputError(
                f"min_canary_reports must be in 1..100000, got {min_canary_reports}"
            )
        try:
            with self._db.transaction(f"start a rollout of {version}") as uow:
                active = uow.rollouts.active()
                if active is not None:
                    raise ConflictError(_busy(active))
                uow.models.require(version)
                champion = uow.models.alias(CHAMPION, lock=True)
                if champion is None:
                    raise NotFoundError(
                        "no champion model to roll out against: register a baseline first "
                        "(`longtail release seed-baseline`)"
                    )
                if champion.version == version:
                    raise ConflictError(f"model {version} is already the champion")
                verdict_id = _release_verdict(uow, version, champion.version)
                now = self._clock()
                campaign_id = uow.rollouts.create(
                    version=version,
                    baseline_version=champion.version,
                    canary_share=canary_share,
                    health_limits=health_limits.as_dict(),
                    min_canary_reports=min_canary_reports,
                    at=now,
                    by=actor,
                )
                fleet = [v.name for v in uow.vehicles.list() if not v.revoked]
                canary = select_canary(campaign_id, fleet, canary_share)
                uow.rollouts.set_canary(campaign_id, canary)
                uow.models.set_alias(CANDIDATE, version, now, actor)
                uow.audit.record(
                    now,
                    actor,
                    "rollout.start",
                    details={
                        "campaign": campaign_id,
                        "version": version,
                        "baseline": champion.version,
                        "canary": canary,
                        "fleet": len(fleet),
                        "gate_verdict": verdict_id,
                    },
                )
                record = uow.rollouts.require(campaign_id)
        except IntegrityError:
            with self._db.transaction("read the active rollout") as uow:
                active = uow.rollouts.active()
            raise ConflictError(
                _busy(active) if active else "another rollout started at the same time"
            ) from None
        log.info(
            "rollout %d of %s started by %s: canary %s of %d vehicles",
            record.id,
            version,
            actor,
            list(record.canary_vehicles),
            len(fleet),
        )
        return record

    def get(self, campaign_id: int) -> CampaignRecord:
        with self._db.transaction(f"read rollout {campaign_id}") as uow:
            return uow.rollouts.require(campaign_id)

    def active(self) -> CampaignRecord | None:
        """The campaign in canary, if any."""
        with self._db.transaction("read the active rollout") as uow:
            return uow.rollouts.active()

    def page(self, *, limit: int = 100, offset: int = 0) -> tuple[list[CampaignRecord], int]:
        """Campaigns, newest first, and how many there are."""
        with self._db.transaction("list rollouts") as uow:
            return uow.rollouts.page(limit=limit, offset=offset)

    # -- what vehicles ask -------------------------------------------------------------------

    def assignment_for(self, vehicle_name: str) -> Assignment | None:
        """The model ``vehicle_name`` should run: the candidate for a canary vehicle while its
        campaign is in canary, the champion otherwise; None when no model is released."""
        with self._db.transaction(f"assign a model to {vehicle_name}") as uow:
            champion = uow.models.alias(CHAMPION)
            if champion is None:
                return None
            version = champion.version
            active = uow.rollouts.active()
            if active is not None and vehicle_name in active.canary_vehicles:
                version = active.version
            record = uow.models.require(version)
        return Assignment(
            version=record.version,
            digest=record.digest,
            size=record.size,
            signature=record.signature,
            public_key=record.public_key,
        )

    def open_archive(self, version: str) -> bytes:
        """The signed archive of ``version`` (``ModelRegistry.open_archive``)."""
        return self._registry.open_archive(version)

    def report_health(self, vehicle_name: str, report: HealthReport) -> None:
        """Store one health report and the refusal it carries; both join the active campaign,
        if any. NotFoundError for an unknown vehicle, InvalidInputError for a negative or
        non-finite figure."""
        check_report(report)
        with self._db.transaction(f"store a health report of {vehicle_name}") as uow:
            if uow.vehicles.get(vehicle_name) is None:
                raise NotFoundError(f"no vehicle {vehicle_name!r} is registered")
            active = uow.rollouts.active()
            if report.refused_version is not None:
                log.warning(
                    "vehicle %s refused model %r%s: %s",
                    vehicle_name,
                    report.refused_version,
                    "" if active is None else f" (rollout {active.id})",
                    report.refused_reason,
                )
                uow.rollouts.add_refusal(
                    vehicle_name,
                    report.refused_version,
                    None if active is None else active.id,
                    self._clock(),
                    report.refused_reason,
                )
            uow.rollouts.add_report(
                vehicle_name,
                None if active is None else active.id,
                self._clock(),
                {
                    "version": report.version,
                    "frames": report.frames,
                    "triggers": report.triggers,
                    "errors": report.errors,
                    "latency_ms_p50": float(report.latency_ms_p50),
                    "latency_ms_p99": float(report.latency_ms_p99),
                    "score_mean": float(report.score_mean),
                    "score_p95": float(report.score_p95),
                },
            )

    # -- decisions ---------------------------------------------------------------------------

    def refusals(self, campaign_id: int) -> list[RefusalRecord]:
        """The packages vehicles refused while campaign ``campaign_id`` was active, newest
        first."""
        with self._db.transaction(f"list the refusals of rollout {campaign_id}") as uow:
            uow.rollouts.require(campaign_id)
            return uow.rollouts.refusals(campaign_id=campaign_id)

    def evaluate(self, campaign_id: int, *, decide: bool = True) -> Evaluation:
        """Judge the campaign's canary health (module docstring). With ``decide`` a broken limit
        rolls it back and a healthy canary promotes it, recorded with the numbers; without, it
        only reports what it would do. A decided campaign returns its stored outcome."""
        with self._db.transaction(f"evaluate rollout {campaign_id}") as uow:
            campaign = uow.rollouts.require(campaign_id, lock=decide)
            result = self._judge(uow, campaign)
            if not campaign.active:
                return result
            if decide and result.outcome != "pending":
                self._close(
                    uow, campaign, result.outcome, "rollout", result.reason, result.figures()
                )
        if decide and result.outcome != "pending":
            log.warning(
                "rollout %d of %s %s: %s",
                campaign_id,
                campaign.version,
                result.outcome,
                result.reason,
            )
        return result

    def evaluate_active(self) -> Evaluation | None:
        """Evaluate the active campaign, if any (the serving process runs this periodically)."""
        active = self.active()
        return None if active is None else self.evaluate(active.id)

    def promote(self, campaign_id: int, *, actor: str, note: str = "") -> CampaignRecord:
        """Promote the campaign's candidate to the whole fleet now, whatever its health (the
        figures so far are recorded with the decision)."""
        with self._db.transaction(f"promote rollout {campaign_id}") as uow:
            campaign = uow.rollouts.require(campaign_id, lock=True)
            if not campaign.active:
                raise ConflictError(f"rollout {campaign_id} is {campaign.state}, not in canary")
            figures = self._judge(uow, campaign).figures()
            reason = f"promoted by {actor}" + (f": {note}" if note else "")
            return self._close(uow, campaign, "promoted", actor, reason, figures)

    def rollback(self, campaign_id: int, *, actor: str, note: str = "") -> CampaignRecord:
        """Roll the campaign back: in canary, the candidate is withdrawn; after its promotion
        (while its version is still the champion), the champion it replaced returns."""
        with self._db.transaction(f"roll back rollout {campaign_id}") as uow:
            campaign = uow.rollouts.require(campaign_id, lock=True)
            reason = f"rolled back by {actor}" + (f": {note}" if note else "")
            if campaign.active:
                figures = self._judge(uow, campaign).figures()
                return self._close(uow, campaign, "rolled_back", actor, reason, figures)
            champion = uow.models.alias(CHAMPION, lock=True)
            if (
                campaign.state != PROMOTED
                or champion is None
                or champion.version != campaign.version
            ):
                raise ConflictError(
                    f"rollout {campaign_id} is {campaign.state} and model {campaign.version} is "
                    f"not the champion ({champion.version if champion else 'none'}): nothing to "
                    "roll back"
                )
            self._registry.promote_in(uow, campaign.baseline_version, actor=actor, note=reason)
            now = self._clock()
            record = uow.rollouts.decide(
                campaign_id,
                ROLLED_BACK,
                at=now,
                by=actor,
                reason=reason,
                figures=campaign.decision_figures,
            )
            uow.audit.record(
                now, actor, "rollout.rollback", details={"campaign": campaign_id}, note=reason
            )
            return record

    def _close(
        self,
        uow: UnitOfWork,
        campaign: CampaignRecord,
        outcome: str,
        actor: str,
        reason: str,
        figures: dict[str, Any],
    ) -> CampaignRecord:
        now = self._clock()
        if outcome == "promoted":
            self._registry.promote_in(uow, campaign.version, actor=actor, note=reason)
            state = PROMOTED
        else:
            candidate = uow.models.alias(CANDIDATE)
            if candidate is not None and candidate.version == campaign.version:
                uow.models.clear_alias(CANDIDATE)
            state = ROLLED_BACK
        record = uow.rollouts.decide(
            campaign.id, state, at=now, by=actor, reason=reason, figures=figures
        )
        uow.audit.record(
            now,
            actor,
            f"rollout.{'promote' if state == PROMOTED else 'rollback'}",
            details={"campaign": campaign.id, "version": campaign.version, **figures},
            note=reason,
        )
        return record

    def _judge(self, uow: UnitOfWork, campaign: CampaignRecord) -> Evaluation:
        canary_set = set(campaign.canary_vehicles)
        canary = [
            r
            for r in uow.rollouts.reports(version=campaign.version, campaign_id=campaign.id)
            if r.vehicle in canary_set
        ]
        fleet: list[ReportRecord] = [
            r
            for r in uow.rollouts.reports(
                version=campaign.baseline_version, campaign_id=campaign.id
            )
            if r.vehicle not in canary_set
        ]
        source = "other vehicles on the champion during the campaign"
        if not fleet:
            fleet = uow.rollouts.reports(
                version=campaign.baseline_version,
                before=campaign.created_at,
                limit=REFERENCE_REPORTS,
            )
            source = "the champion's reports before the campaign"
        refused = uow.rollouts.refusals(campaign_id=campaign.id)
        canary_figures = HealthFigures.of(
            canary,
            sum(1 for r in refused if r.version == campaign.version and r.vehicle in canary_set),
        )
        fleet_figures = HealthFigures.of(
            fleet,
            sum(
                1
                for r in refused
                if r.version == campaign.baseline_version and r.vehicle not in canary_set
            ),
        )
        limits = HealthLimits.from_dict(campaign.health_limits)
        checks = tuple(judge(canary_figures, fleet_figures, limits))
        if not campaign.active:
            outcome: Outcome = "promoted" if campaign.state == PROMOTED else "rolled_back"
            reason = campaign.decision_reason
        else:
            outcome, reason = _verdict(checks, len(canary), campaign.min_canary_reports)
        return Evaluation(
            campaign.id, outcome, reason, checks, canary_figures, fleet_figures, source
        )


def _verdict(checks: Sequence[Check], reports: int, needed: int) -> tuple[Outcome, str]:
    broken = [c for c in checks if c.passed is False]
    if broken:
        return "rolled_back", "canary health outside limits: " + "; ".join(
            c.describe() for c in broken
        )
    if reports < needed:
        return "pending", f"{reports} of {needed} canary reports so far"
    unmeasured = [c for c in checks if c.passed is None]
    if unmeasured:
        return "pending", "waiting: " + "; ".join(c.describe() for c in unmeasured)
    return "promoted", "canary healthy: " + "; ".join(c.describe() for c in checks)


def _release_verdict(uow: UnitOfWork, version: str, champion: str) -> int:
    """The id of the gate verdict that lets ``version`` replace ``champion``: the newest verdict
    on the pair must have passed or been bypassed by an admin. ConflictError otherwise, so no
    route, CLI or script can roll out a model the gate has not let through."""
    verdict = uow.evidence.latest_verdict(version, champion)
    if verdict is None:
        raise ConflictError(
            f"model {version} has no release-gate verdict against champion {champion}: "
            "compare it on the edge-case suite and record the verdict first"
        )
    if not (verdict.passed or verdict.bypassed):
        failed = ", ".join(verdict.details.get("failed_slices", [])) or "see its evidence"
        raise ConflictError(
            f"model {version} failed the release gate against {champion} (verdict "
            f"{verdict.id}; failed slices: {failed}); only an admin may release it, by "
            f"bypassing the verdict with a reason (POST /evidence/verdicts/{verdict.id}/bypass)"
        )
    return verdict.id


def _busy(active: CampaignRecord) -> str:
    return (
        f"rollout {active.id} of model {active.version} is in canary since "
        f"{active.created_at:%Y-%m-%dT%H:%M:%SZ}: promote or roll it back first"
    )
