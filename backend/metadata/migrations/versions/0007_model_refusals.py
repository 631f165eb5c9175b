"""Model refusals: a vehicle refused a package and said why (a canary health input).

Revision ID: 0007_model_refusals
Revises: 0006_training_triggers
Create Date: 2026-12-08
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0007_model_refusals"
down_revision: str | None = "0006_training_triggers"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    """Create ``model_refusals``."""
    op.create_table(
        "model_refusals",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("vehicle", sa.String(length=64), nullable=False),
        sa.Column("version", sa.String(length=128), nullable=False),
        sa.Column("campaign_id", sa.Integer(), nullable=True),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(["campaign_id"], ["rollout_campaigns.id"]),
        sa.ForeignKeyConstraint(["vehicle"], ["vehicles.name"]),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("model_refusals", schema=None) as batch_op:
        batch_op.create_index(
            "ix_model_refusals_campaign", ["campaign_id", "version"], unique=False
        )


def downgrade() -> None:
    """Drop ``model_refusals``."""
    with op.batch_alter_table("model_refusals", schema=None) as batch_op:
        batch_op.drop_index("ix_model_refusals_campaign")
    op.drop_table("model_refusals")
