"""Release gate verdicts and the evidence behind them (what the safety case cites)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, DateTime, Float, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from backend.metadata.models.base import Base


class GateVerdictRow(Base):
    """One run of the release gate: candidate against champion on one suite version."""

    __tablename__ = "gate_verdicts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    run_id: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    model_version: Mapped[str] = mapped_column(String(128), index=True)
    champion_version: Mapped[str] = mapped_column(String(128))
    dataset_digest: Mapped[str] = mapped_column(String(64))
    suite_version: Mapped[str] = mapped_column(String(64))
    passed: Mapped[bool] = mapped_column(Boolean)
    summary: Mapped[str] = mapped_column(Text)
    details: Mapped[dict[str, Any]] = mapped_column(JSON)


class EvidenceRow(Base):
    """One number behind a verdict (kind ``floor``, ``ceiling``, ``no_regression``,
    ``label_agreement``, ``drift``, ``missing``, ``verdict``), or a bypass (kind ``bypass``: who
    and why, in ``actor`` and ``note``). Undefined numbers are NULL."""

    __tablename__ = "evidence"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    verdict_id: Mapped[int] = mapped_column(
        ForeignKey("gate_verdicts.id", ondelete="CASCADE"), index=True
    )
    run_id: Mapped[str] = mapped_column(String(64))
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    kind: Mapped[str] = mapped_column(String(32))
    model_version: Mapped[str] = mapped_column(String(128))
    dataset_digest: Mapped[str] = mapped_column(String(64))
    suite_version: Mapped[str] = mapped_column(String(64))
    slice: Mapped[str] = mapped_column(String(128))
    metric: Mapped[str] = mapped_column(String(128))
    value: Mapped[float | None] = mapped_column(Float, default=None)
    lo: Mapped[float | None] = mapped_column(Float, default=None)
    hi: Mapped[float | None] = mapped_column(Float, default=None)
    threshold: Mapped[float | None] = mapped_column(Float, default=None)
    margin: Mapped[float | None] = mapped_column(Float, default=None)
    passed: Mapped[bool | None] = mapped_column(Boolean, default=None)
    gated: Mapped[bool] = mapped_column(Boolean, default=True)
    actor: Mapped[str | None] = mapped_column(String(64), default=None)
    note: Mapped[str] = mapped_column(Text, default="")
