"""Response models of the HTTP API (what OpenAPI documents)."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field

from backend.metadata.records import DetectionRecord, FrameRecord, VehicleRecord


class Health(BaseModel):
    """Liveness plus the state of the metadata database."""

    status: str = Field(description="'ok', or 'degraded' when the database is unreachable")
    database: str
    frames: int | None = None


class VehicleOut(BaseModel):
    """A registered vehicle (never its token or token hash)."""

    name: str
    created_at: datetime
    revoked_at: datetime | None
    revoked: bool

    @classmethod
    def of(cls, record: VehicleRecord) -> VehicleOut:
        """Build from a repository record."""
        return cls(
            name=record.name,
            created_at=record.created_at,
            revoked_at=record.revoked_at,
            revoked=record.revoked,
        )


class DetectionOut(BaseModel):
    """One detection: box ``[x, y, z, l, w, h, yaw]`` in the sensor frame (centre, radians)."""

    class_name: str
    confidence: float
    box: list[float]
    num_points: int
    scores: dict[str, float]

    @classmethod
    def of(cls, record: DetectionRecord) -> DetectionOut:
        """Build from a repository record."""
        return cls(
            class_name=record.class_name,
            confidence=record.confidence,
            box=list(record.box),
            num_points=record.num_points,
            scores=record.scores,
        )


class FrameSummary(BaseModel):
    """A frame in a list."""

    id: str = Field(description="hex SHA-256 of the encoded payload")
    vehicle: str
    captured_at_ns: int
    received_at: datetime
    sensor_name: str
    model_version: str
    priority: float
    rules_fired: list[str]
    payload_size: int
    num_points: int
    encoding: str
    num_detections: int

    @classmethod
    def of(cls, record: FrameRecord) -> FrameSummary:
        """Build from a repository record."""
        return cls(
            id=record.id,
            vehicle=record.vehicle,
            captured_at_ns=record.captured_at_ns,
            received_at=record.received_at,
            sensor_name=record.sensor_name,
            model_version=record.model_version,
            priority=record.priority,
            rules_fired=record.rules_fired,
            payload_size=record.payload_size,
            num_points=record.num_points,
            encoding=record.encoding,
            num_detections=len(record.detections),
        )


class FrameDetail(FrameSummary):
    """Everything stored about a frame."""

    pose: dict[str, float]
    sensor_beams: int
    sensor_max_range_m: float
    frame_scores: dict[str, float]
    quantization_step_m: float
    blob_key: str
    detections: list[DetectionOut]

    @classmethod
    def of(cls, record: FrameRecord) -> FrameDetail:
        """Build from a repository record."""
        return cls(
            **FrameSummary.of(record).model_dump(),
            pose=record.pose,
            sensor_beams=record.sensor_beams,
            sensor_max_range_m=record.sensor_max_range_m,
            frame_scores=record.frame_scores,
            quantization_step_m=record.quantization_step_m,
            blob_key=record.blob_key,
            detections=[DetectionOut.of(d) for d in record.detections],
        )


class FramePage(BaseModel):
    """One page of frames and the total number matching the filters."""

    items: list[FrameSummary]
    total: int
    limit: int
    offset: int
