"""Model release: registered model versions, their aliases, rollout campaigns and the health
reports vehicles send about the model they run."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
)
from sqlalchemy.orm import Mapped, mapped_column

from backend.metadata.models.base import Base


class ModelVersion(Base):
    """One registered model: its signed archive lives in the blob store under ``blob_key``;
    ``digest`` is the SHA-256 of those bytes, ``signature`` the hex Ed25519 signature of it made
    by the key ``public_key`` (hex). Rows are written once, after the archive is stored."""

    __tablename__ = "model_versions"

    version: Mapped[str] = mapped_column(String(128), primary_key=True)
    digest: Mapped[str] = mapped_column(String(64), unique=True)
    size: Mapped[int] = mapped_column(BigInteger)
    signature: Mapped[str] = mapped_column(String(128))
    public_key: Mapped[str] = mapped_column(String(64))
    blob_key: Mapped[str] = mapped_column(String(255))
    run_id: Mapped[str | None] = mapped_column(String(128), default=None)
    dataset_digest: Mapped[str | None] = mapped_column(String(64), default=None)
    parent_version: Mapped[str | None] = mapped_column(
        ForeignKey("model_versions.version"), default=None
    )
    metrics: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    created_by: Mapped[str] = mapped_column(String(64))


class ModelAlias(Base):
    """A named pointer to a version: ``champion`` (what the fleet runs), ``candidate`` (under
    rollout), ``previous`` (the champion before the last promotion)."""

    __tablename__ = "model_aliases"

    name: Mapped[str] = mapped_column(String(32), primary_key=True)
    version: Mapped[str] = mapped_column(ForeignKey("model_versions.version"))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    updated_by: Mapped[str] = mapped_column(String(64))


class RolloutCampaign(Base):
    """One rollout of ``version`` against the champion it started from (``baseline_version``).

    ``active_slot`` is 1 while the campaign is in canary and NULL once decided: a unique column,
    so the database itself refuses a second active campaign (NULLs never collide, on SQLite and
    PostgreSQL alike). ``canary_vehicles`` is the canary set frozen at the start."""

    __tablename__ = "rollout_campaigns"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    version: Mapped[str] = mapped_column(ForeignKey("model_versions.version"), index=True)
    baseline_version: Mapped[str] = mapped_column(ForeignKey("model_versions.version"))
    state: Mapped[str] = mapped_column(String(16))
    active_slot: Mapped[int | None] = mapped_column(Integer, unique=True, default=None)
    canary_share: Mapped[float] = mapped_column(Float)
    canary_vehicles: Mapped[list[str]] = mapped_column(JSON)
    health_limits: Mapped[dict[str, float]] = mapped_column(JSON)
    min_canary_reports: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    created_by: Mapped[str] = mapped_column(String(64))
    decided_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), default=None)
    decided_by: Mapped[str | None] = mapped_column(String(64), default=None)
    decision_reason: Mapped[str] = mapped_column(Text, default="")
    decision_figures: Mapped[dict[str, Any]] = mapped_column(JSON)


class VehicleModelReport(Base):
    """One health report of a vehicle about the model ``version`` it ran over an interval
    (counts in that interval, latency in milliseconds); ``campaign_id`` is the campaign active
    when it arrived, if any."""

    __tablename__ = "vehicle_model_reports"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    vehicle: Mapped[str] = mapped_column(ForeignKey("vehicles.name"))
    version: Mapped[str] = mapped_column(String(128))
    campaign_id: Mapped[int | None] = mapped_column(
        ForeignKey("rollout_campaigns.id"), default=None
    )
    received_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    frames: Mapped[int] = mapped_column(BigInteger)
    triggers: Mapped[int] = mapped_column(BigInteger)
    errors: Mapped[int] = mapped_column(BigInteger)
    latency_ms_p50: Mapped[float] = mapped_column(Float)
    latency_ms_p99: Mapped[float] = mapped_column(Float)
    score_mean: Mapped[float] = mapped_column(Float)
    score_p95: Mapped[float] = mapped_column(Float)

    __table_args__ = (
        Index("ix_vehicle_model_reports_campaign", "campaign_id", "version"),
        Index("ix_vehicle_model_reports_version", "version", "received_at"),
    )


class ModelRefusal(Base):
    """A vehicle refused the package of model ``version`` (a tampered, unsigned or wrongly
    signed archive, or one that would not load) and said why; ``campaign_id`` is the campaign
    active when the report arrived, if any. A canary's refusals are a health check of its own
    (``backend.release.health``)."""

    __tablename__ = "model_refusals"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    vehicle: Mapped[str] = mapped_column(ForeignKey("vehicles.name"))
    version: Mapped[str] = mapped_column(String(128))
    campaign_id: Mapped[int | None] = mapped_column(
        ForeignKey("rollout_campaigns.id"), default=None
    )
    received_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    reason: Mapped[str] = mapped_column(Text)

    __table_args__ = (Index("ix_model_refusals_campaign", "campaign_id", "version"),)
