"""Vehicles, frames and detections.

Revision ID: 0001
Revises:
Create Date: 2026-11-24
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    """Create the first tables."""
    op.create_table(
        "vehicles",
        sa.Column("name", sa.String(64), primary_key=True),
        sa.Column("token_hash", sa.String(64), nullable=False, unique=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
    )
    op.create_table(
        "frames",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("vehicle", sa.String(64), sa.ForeignKey("vehicles.name"), nullable=False),
        sa.Column("captured_at_ns", sa.BigInteger(), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("pose", sa.JSON(), nullable=False),
        sa.Column("sensor_name", sa.String(64), nullable=False),
        sa.Column("sensor_beams", sa.Integer(), nullable=False),
        sa.Column("sensor_max_range_m", sa.Float(), nullable=False),
        sa.Column("model_version", sa.String(128), nullable=False),
        sa.Column("frame_scores", sa.JSON(), nullable=False),
        sa.Column("rules_fired", sa.JSON(), nullable=False),
        sa.Column("priority", sa.Float(), nullable=False),
        sa.Column("blob_key", sa.String(255), nullable=False),
        sa.Column("payload_size", sa.BigInteger(), nullable=False),
        sa.Column("num_points", sa.Integer(), nullable=False),
        sa.Column("encoding", sa.String(32), nullable=False),
        sa.Column("quantization_step_m", sa.Float(), nullable=False),
    )
    op.create_index("ix_frames_vehicle_captured", "frames", ["vehicle", "captured_at_ns"])
    op.create_index("ix_frames_priority", "frames", ["priority"])
    op.create_index("ix_frames_received", "frames", ["received_at"])
    op.create_table(
        "detections",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column(
            "frame_id",
            sa.String(64),
            sa.ForeignKey("frames.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("index", sa.Integer(), nullable=False),
        sa.Column("class_name", sa.String(64), nullable=False),
        sa.Column("confidence", sa.Float(), nullable=False),
        sa.Column("x", sa.Float(), nullable=False),
        sa.Column("y", sa.Float(), nullable=False),
        sa.Column("z", sa.Float(), nullable=False),
        sa.Column("l", sa.Float(), nullable=False),
        sa.Column("w", sa.Float(), nullable=False),
        sa.Column("h", sa.Float(), nullable=False),
        sa.Column("yaw", sa.Float(), nullable=False),
        sa.Column("num_points", sa.Integer(), nullable=False),
        sa.Column("scores", sa.JSON(), nullable=False),
    )
    op.create_index("ix_detections_frame_id", "detections", ["frame_id"])
    op.create_index("ix_detections_class_name", "detections", ["class_name"])


def downgrade() -> None:
    """Drop the tables, children first."""
    op.drop_table("detections")
    op.drop_table("frames")
    op.drop_table("vehicles")
