"""Plain, immutable records the repository takes and returns, so callers never hold ORM sessions."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any


def utc(value: datetime) -> datetime:
    """``value`` as an aware UTC datetime: SQLite returns naive datetimes even for
    ``timezone=True`` columns, and they were stored as UTC."""
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


@dataclass(frozen=True)
class VehicleRecord:
    """A registered vehicle (the token hash is deliberately not part of it)."""

    name: str
    created_at: datetime
    revoked_at: datetime | None

    @property
    def revoked(self) -> bool:
        """Whether the vehicle's token was revoked."""
        return self.revoked_at is not None


@dataclass(frozen=True)
class DetectionRecord:
    """One detection: class, confidence, box ``(x, y, z, l, w, h, yaw)``, points and scores."""

    class_name: str
    confidence: float
    box: tuple[float, float, float, float, float, float, float]
    num_points: int
    scores: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class FrameRecord:
    """Everything stored about one frame."""

    id: str
    vehicle: str
    captured_at_ns: int
    received_at: datetime
    pose: dict[str, float]
    sensor_name: str
    sensor_beams: int
    sensor_max_range_m: float
    model_version: str
    frame_scores: dict[str, float]
    rules_fired: list[str]
    priority: float
    blob_key: str
    payload_size: int
    num_points: int
    encoding: str
    quantization_step_m: float
    detections: list[DetectionRecord] = field(default_factory=list)


@dataclass(frozen=True)
class FrameFilter:
    """Filters for listing frames; None means no filter on that field."""

    vehicle: str | None = None
    captured_from_ns: int | None = None
    captured_to_ns: int | None = None
    min_priority: float | None = None
    sensor_name: str | None = None
    model_version: str | None = None
    rule: str | None = None
    class_name: str | None = None

    def as_dict(self) -> dict[str, Any]:
        """The filters that are set (for logs)."""
        return {k: v for k, v in self.__dict__.items() if v is not None}
