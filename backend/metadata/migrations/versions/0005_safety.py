"""Safety case snapshots of released models and sign-offs of releases.

Revision ID: 0005_safety
Revises: 0004_gate
Create Date: 2026-12-08
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0005_safety"
down_revision: str | None = "0004_gate"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    """Create ``safety_snapshots`` and ``safety_signoffs``."""
    op.create_table(
        "safety_snapshots",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("model_version", sa.String(length=128), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.String(length=64), nullable=False),
        sa.Column("case_name", sa.String(length=128), nullable=False),
        sa.Column("case_digest", sa.String(length=64), nullable=False),
        sa.Column("digest", sa.String(length=64), nullable=False),
        sa.Column("top_status", sa.String(length=16), nullable=False),
        sa.Column("verdict_id", sa.Integer(), nullable=True),
        sa.Column("content", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(["model_version"], ["model_versions.version"]),
        sa.ForeignKeyConstraint(["verdict_id"], ["gate_verdicts.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("model_version"),
    )
    op.create_table(
        "safety_signoffs",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("model_version", sa.String(length=128), nullable=False),
        sa.Column("signed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("signed_by", sa.String(length=64), nullable=False),
        sa.Column("comment", sa.Text(), nullable=False),
        sa.Column("verdict_id", sa.Integer(), nullable=False),
        sa.Column("snapshot_id", sa.Integer(), nullable=True),
        sa.Column("case_digest", sa.String(length=64), nullable=False),
        sa.Column("snapshot_digest", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(["model_version"], ["model_versions.version"]),
        sa.ForeignKeyConstraint(["snapshot_id"], ["safety_snapshots.id"]),
        sa.ForeignKeyConstraint(["verdict_id"], ["gate_verdicts.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("model_version", "signed_by", name="uq_safety_signoff"),
    )
    with op.batch_alter_table("safety_signoffs", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_safety_signoffs_model_version"), ["model_version"], unique=False
        )


def downgrade() -> None:
    """Drop the safety tables."""
    with op.batch_alter_table("safety_signoffs", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_safety_signoffs_model_version"))
    op.drop_table("safety_signoffs")
    op.drop_table("safety_snapshots")
