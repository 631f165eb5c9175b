"""Retraining runs: who or what started each one, why, its lease, and what it produced."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, DateTime, Index, Integer, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column

from backend.metadata.models.base import Base


class TrainingRunRow(Base):
    """One retraining turn (retrain -> evaluate -> gate -> canary) started by the trigger
    (``auto``), a person through the API (``requested``) or the CLI (``cli``).

    The ``running`` row is the lease that keeps two turns from running at once, in any process:
    a partial unique index admits one row in state ``running``; its holder renews
    ``lease_expires_at`` while it works, and a row whose lease ran out (its process died) is
    marked ``abandoned`` before the next run starts. ``labels_cutoff``: the run learnt from the
    labels accepted before it (None: a run on a given dataset version)."""

    __tablename__ = "training_runs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    trigger: Mapped[str] = mapped_column(String(16))
    actor: Mapped[str] = mapped_column(String(64))
    reasons: Mapped[list[str]] = mapped_column(JSON)
    state: Mapped[str] = mapped_column(String(16))
    holder: Mapped[str] = mapped_column(String(128))
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    lease_expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), default=None)
    labels_cutoff: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), default=None)
    new_labels: Mapped[dict[str, int]] = mapped_column(JSON)
    model_version: Mapped[str | None] = mapped_column(String(128), default=None)
    verdict_id: Mapped[int | None] = mapped_column(Integer, default=None)
    gate_passed: Mapped[bool | None] = mapped_column(Boolean, default=None)
    summary: Mapped[dict[str, Any] | None] = mapped_column(JSON, default=None)
    error: Mapped[str | None] = mapped_column(Text, default=None)

    __table_args__ = (
        Index(
            "ix_training_runs_one_running",
            "state",
            unique=True,
            sqlite_where=text("state = 'running'"),
            postgresql_where=text("state = 'running'"),
        ),
    )
