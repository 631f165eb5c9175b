"""Model release: model versions, their aliases, rollout campaigns and vehicles' health reports.

Revision ID: 0003_release
Revises: 0002
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0003_release"
down_revision: str | None = "0002"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    """Create the release tables."""
    op.create_table(
        "model_versions",
        sa.Column("version", sa.String(length=128), nullable=False),
        sa.Column("digest", sa.String(length=64), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("signature", sa.String(length=128), nullable=False),
        sa.Column("public_key", sa.String(length=64), nullable=False),
        sa.Column("blob_key", sa.String(length=255), nullable=False),
        sa.Column("run_id", sa.String(length=128), nullable=True),
        sa.Column("dataset_digest", sa.String(length=64), nullable=True),
        sa.Column("parent_version", sa.String(length=128), nullable=True),
        sa.Column("metrics", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(["parent_version"], ["model_versions.version"]),
        sa.PrimaryKeyConstraint("version"),
        sa.UniqueConstraint("digest"),
    )
    op.create_table(
        "model_aliases",
        sa.Column("name", sa.String(length=32), nullable=False),
        sa.Column("version", sa.String(length=128), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_by", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(["version"], ["model_versions.version"]),
        sa.PrimaryKeyConstraint("name"),
    )
    op.create_table(
        "rollout_campaigns",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("version", sa.String(length=128), nullable=False),
        sa.Column("baseline_version", sa.String(length=128), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("active_slot", sa.Integer(), nullable=True),
        sa.Column("canary_share", sa.Float(), nullable=False),
        sa.Column("canary_vehicles", sa.JSON(), nullable=False),
        sa.Column("health_limits", sa.JSON(), nullable=False),
        sa.Column("min_canary_reports", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.String(length=64), nullable=False),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("decided_by", sa.String(length=64), nullable=True),
        sa.Column("decision_reason", sa.Text(), nullable=False),
        sa.Column("decision_figures", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(["baseline_version"], ["model_versions.version"]),
        sa.ForeignKeyConstraint(["version"], ["model_versions.version"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("active_slot"),
    )
    with op.batch_alter_table("rollout_campaigns", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_rollout_campaigns_version"), ["version"], unique=False)
    op.create_table(
        "vehicle_model_reports",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("vehicle", sa.String(length=64), nullable=False),
        sa.Column("version", sa.String(length=128), nullable=False),
        sa.Column("campaign_id", sa.Integer(), nullable=True),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("frames", sa.BigInteger(), nullable=False),
        sa.Column("triggers", sa.BigInteger(), nullable=False),
        sa.Column("errors", sa.BigInteger(), nullable=False),
        sa.Column("latency_ms_p50", sa.Float(), nullable=False),
        sa.Column("latency_ms_p99", sa.Float(), nullable=False),
        sa.Column("score_mean", sa.Float(), nullable=False),
        sa.Column("score_p95", sa.Float(), nullable=False),
        sa.ForeignKeyConstraint(["campaign_id"], ["rollout_campaigns.id"]),
        sa.ForeignKeyConstraint(["vehicle"], ["vehicles.name"]),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("vehicle_model_reports", schema=None) as batch_op:
        batch_op.create_index(
            "ix_vehicle_model_reports_campaign", ["campaign_id", "version"], unique=False
        )
        batch_op.create_index(
            "ix_vehicle_model_reports_version", ["version", "received_at"], unique=False
        )


def downgrade() -> None:
    """Drop the release tables."""
    with op.batch_alter_table("vehicle_model_reports", schema=None) as batch_op:
        batch_op.drop_index("ix_vehicle_model_reports_version")
        batch_op.drop_index("ix_vehicle_model_reports_campaign")
    op.drop_table("vehicle_model_reports")
    with op.batch_alter_table("rollout_campaigns", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_rollout_campaigns_version"))
    op.drop_table("rollout_campaigns")
    op.drop_table("model_aliases")
    op.drop_table("model_versions")
