"""Request and response models of ``/models`` and ``/rollouts`` (model release)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from backend.metadata.repositories.model_versions import AliasRecord, ModelVersionRecord
from backend.metadata.repositories.rollouts import CampaignRecord, RefusalRecord
from backend.release.rollout import Evaluation

#: printable text (PostgreSQL text refuses NUL; control characters only garble listings)
PRINTABLE = r"^[^\x00-\x1f\x7f]*$"
#: the characters of a model version (they name a blob folder)
VERSION = r"^[A-Za-z0-9._-]{1,128}$"


class ModelVersionOut(BaseModel):
    """A registered model: its archive's SHA-256 and size, the Ed25519 signature of the digest
    and the public key that made it (hex), and where it came from."""

    version: str
    digest: str
    size: int = Field(description="archive bytes")
    signature: str = Field(description="Ed25519 signature of the digest, hex (64 bytes)")
    public_key: str = Field(description="the signing key's public half, hex (32 bytes)")
    run_id: str | None
    dataset_digest: str | None
    parent_version: str | None
    metrics: dict[str, Any]
    created_at: datetime
    created_by: str

    @classmethod
    def of(cls, r: ModelVersionRecord) -> ModelVersionOut:
        return cls(
            version=r.version,
            digest=r.digest,
            size=r.size,
            signature=r.signature.hex(),
            public_key=r.public_key.hex(),
            run_id=r.run_id,
            dataset_digest=r.dataset_digest,
            parent_version=r.parent_version,
            metrics=r.metrics,
            created_at=r.created_at,
            created_by=r.created_by,
        )


class AliasOut(BaseModel):
    """An alias (champion, candidate, previous) and the version it names."""

    name: str
    version: str
    updated_at: datetime
    updated_by: str

    @classmethod
    def of(cls, r: AliasRecord) -> AliasOut:
        return cls(**r.__dict__)


class HealthLimitsIn(BaseModel):
    """Limits a canary must stay inside; an omitted one takes the ``[release]`` default."""

    model_config = ConfigDict(extra="forbid")

    max_error_rate: float | None = Field(default=None, ge=0, le=1, description="errors per frame")
    max_trigger_rate_ratio: float | None = Field(
        default=None, ge=0, le=1e6, description="canary triggers per frame / the fleet's"
    )
    max_latency_p99_ms: float | None = Field(default=None, ge=0, le=1e7, description="ms")
    max_score_shift: float | None = Field(
        default=None, ge=0, le=1e6, description="relative change of score mean or p95"
    )
    max_refusals: float | None = Field(
        default=None, ge=0, le=1e6, description="candidate packages canary vehicles refused"
    )


class CampaignIn(BaseModel):
    """Start rolling ``version`` out to a canary share of the fleet."""

    model_config = ConfigDict(extra="forbid")

    version: str = Field(pattern=VERSION)
    canary_share: float | None = Field(
        default=None, gt=0, le=1, description="share of the fleet that gets it first"
    )
    min_canary_reports: int | None = Field(default=None, ge=1, le=100_000)
    health_limits: HealthLimitsIn = Field(default_factory=HealthLimitsIn)


class DecisionIn(BaseModel):
    """A manual decision and why."""

    model_config = ConfigDict(extra="forbid")

    note: str = Field(default="", max_length=2000, pattern=PRINTABLE)


class CheckOut(BaseModel):
    name: str
    value: float | str | None = Field(description="measured; 'inf' when unbounded; null: not yet")
    limit: float
    passed: bool | None


class EvaluationOut(BaseModel):
    """How the canary stands against its limits now (or how it stood when decided)."""

    outcome: str = Field(description="pending, promoted or rolled_back")
    reason: str
    checks: list[CheckOut]
    canary: dict[str, Any]
    fleet: dict[str, Any]
    fleet_source: str

    @classmethod
    def of(cls, e: Evaluation) -> EvaluationOut:
        figures = e.figures()
        return cls(
            outcome=e.outcome,
            reason=e.reason,
            checks=[CheckOut(**c) for c in figures["checks"]],
            canary=figures["canary"],
            fleet=figures["fleet"],
            fleet_source=e.fleet_source,
        )


class CampaignOut(BaseModel):
    """A rollout campaign and, once decided, why."""

    id: int
    version: str
    baseline_version: str
    state: str = Field(description="canary, promoted or rolled_back")
    canary_share: float
    canary_vehicles: list[str]
    health_limits: dict[str, float]
    min_canary_reports: int
    created_at: datetime
    created_by: str
    decided_at: datetime | None
    decided_by: str | None
    decision_reason: str
    decision_figures: dict[str, Any]

    @classmethod
    def of(cls, r: CampaignRecord) -> CampaignOut:
        fields = dict(r.__dict__)
        fields["canary_vehicles"] = list(r.canary_vehicles)
        return cls(**fields)


class RefusalOut(BaseModel):
    """A package a vehicle refused during the campaign, and the vehicle's reason."""

    vehicle: str
    version: str
    received_at: datetime
    reason: str

    @classmethod
    def of(cls, r: RefusalRecord) -> RefusalOut:
        return cls(vehicle=r.vehicle, version=r.version, received_at=r.received_at, reason=r.reason)


class CampaignStatusOut(CampaignOut):
    evaluation: EvaluationOut
    refusals: list[RefusalOut] = Field(
        description="packages vehicles refused during the campaign, newest first"
    )


class CampaignPage(BaseModel):
    items: list[CampaignOut]
    total: int
    limit: int
    offset: int
