"""Retraining runs: the trigger's history and the lease that keeps one turn running at a time.

Revision ID: 0006_training_triggers
Revises: 0005_safety
Create Date: 2026-12-08
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0006_training_triggers"
down_revision: str | None = "0005_safety"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    """Create ``training_runs`` with its one-running-row index."""
    op.create_table(
        "training_runs",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("trigger", sa.String(length=16), nullable=False),
        sa.Column("actor", sa.String(length=64), nullable=False),
        sa.Column("reasons", sa.JSON(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("holder", sa.String(length=128), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("lease_expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("labels_cutoff", sa.DateTime(timezone=True), nullable=True),
        sa.Column("new_labels", sa.JSON(), nullable=False),
        sa.Column("model_version", sa.String(length=128), nullable=True),
        sa.Column("verdict_id", sa.Integer(), nullable=True),
        sa.Column("gate_passed", sa.Boolean(), nullable=True),
        sa.Column("summary", sa.JSON(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("training_runs", schema=None) as batch_op:
        batch_op.create_index(
            "ix_training_runs_one_running",
            ["state"],
            unique=True,
            sqlite_where=sa.text("state = 'running'"),
            postgresql_where=sa.text("state = 'running'"),
        )


def downgrade() -> None:
    """Drop ``training_runs``."""
    with op.batch_alter_table("training_runs", schema=None) as batch_op:
        batch_op.drop_index("ix_training_runs_one_running")
    op.drop_table("training_runs")
