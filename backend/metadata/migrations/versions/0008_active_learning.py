"""Active learning: each pending task's key frame as the champion scored it, and the terms of
the order its queue priority came from.

Revision ID: 0008_active_learning
Revises: 0007_model_refusals
Create Date: 2026-12-09
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0008_active_learning"
down_revision: str | None = "0007_model_refusals"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    """Create ``task_scores``."""
    op.create_table(
        "task_scores",
        sa.Column("task_id", sa.Integer(), nullable=False),
        sa.Column("frame_id", sa.String(length=64), nullable=False),
        sa.Column("model_version", sa.String(length=128), nullable=False),
        sa.Column("score_name", sa.String(length=32), nullable=False),
        sa.Column("scored_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("candidates", sa.Integer(), nullable=False),
        sa.Column("uncertainty", sa.Float(), nullable=False),
        sa.Column("kind", sa.String(length=64), nullable=False),
        sa.Column("embedding", sa.LargeBinary(), nullable=True),
        sa.Column("builder_priority", sa.Float(), nullable=False),
        sa.Column("ordered_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("queue_rank", sa.Integer(), nullable=True),
        sa.Column("queue_batch", sa.Integer(), nullable=True),
        sa.Column("uncertainty_norm", sa.Float(), nullable=True),
        sa.Column("distance", sa.Float(), nullable=True),
        sa.Column("diversity", sa.Float(), nullable=True),
        sa.Column("same_kind", sa.Integer(), nullable=True),
        sa.Column("value", sa.Float(), nullable=True),
        sa.Column("priority", sa.Float(), nullable=True),
        sa.ForeignKeyConstraint(["frame_id"], ["frames.id"]),
        sa.ForeignKeyConstraint(["task_id"], ["tasks.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("task_id"),
    )
    with op.batch_alter_table("task_scores", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_task_scores_model_version"), ["model_version"], unique=False
        )


def downgrade() -> None:
    """Drop ``task_scores``."""
    with op.batch_alter_table("task_scores", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_task_scores_model_version"))
    op.drop_table("task_scores")
