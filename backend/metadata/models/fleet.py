"""The fleet's tables: vehicles allowed to upload, the frames they sent, and the detections the
vehicle's model reported for each frame. Frames are the hub every later stage references by
``frames.id``."""

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
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from backend.metadata.models.base import Base


class Vehicle(Base):
    """A vehicle allowed to upload; only the SHA-256 of its bearer token is stored."""

    __tablename__ = "vehicles"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), default=None)


class Frame(Base):
    """One stored frame; ``id`` is the hex SHA-256 of its payload, ``blob_key`` where it lives."""

    __tablename__ = "frames"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    vehicle: Mapped[str] = mapped_column(ForeignKey("vehicles.name"))
    captured_at_ns: Mapped[int] = mapped_column(BigInteger)
    received_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    pose: Mapped[dict[str, float]] = mapped_column(JSON)
    sensor_name: Mapped[str] = mapped_column(String(64))
    sensor_beams: Mapped[int] = mapped_column(Integer)
    sensor_max_range_m: Mapped[float] = mapped_column(Float)
    model_version: Mapped[str] = mapped_column(String(128))
    frame_scores: Mapped[dict[str, float]] = mapped_column(JSON)
    rules_fired: Mapped[list[str]] = mapped_column(JSON)
    priority: Mapped[float] = mapped_column(Float)
    blob_key: Mapped[str] = mapped_column(String(255))
    payload_size: Mapped[int] = mapped_column(BigInteger)
    num_points: Mapped[int] = mapped_column(Integer)
    encoding: Mapped[str] = mapped_column(String(32))
    quantization_step_m: Mapped[float] = mapped_column(Float)

    detections: Mapped[list[Detection]] = relationship(
        back_populates="frame", cascade="all, delete-orphan", order_by="Detection.index"
    )

    __table_args__ = (
        Index("ix_frames_vehicle_captured", "vehicle", "captured_at_ns"),
        Index("ix_frames_priority", "priority"),
        Index("ix_frames_received", "received_at"),
    )


class Detection(Base):
    """One detection the vehicle's model reported for a frame (box in the sensor frame)."""

    __tablename__ = "detections"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    frame_id: Mapped[str] = mapped_column(ForeignKey("frames.id", ondelete="CASCADE"), index=True)
    index: Mapped[int] = mapped_column(Integer)  # position in the uploaded list
    class_name: Mapped[str] = mapped_column(String(64), index=True)
    confidence: Mapped[float] = mapped_column(Float)
    x: Mapped[float] = mapped_column(Float)
    y: Mapped[float] = mapped_column(Float)
    z: Mapped[float] = mapped_column(Float)
    l: Mapped[float] = mapped_column(Float)  # noqa: E741 - the box convention's name
    w: Mapped[float] = mapped_column(Float)
    h: Mapped[float] = mapped_column(Float)
    yaw: Mapped[float] = mapped_column(Float)
    num_points: Mapped[int] = mapped_column(Integer)
    scores: Mapped[dict[str, Any]] = mapped_column(JSON)

    frame: Mapped[Frame] = relationship(back_populates="detections")
