"""Hand-made metadata records shared by the repository and API tests."""

from __future__ import annotations

from datetime import UTC, datetime

from backend.metadata.records import DetectionRecord, FrameRecord

T0 = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)


def frame(
    n: int, vehicle: str = "car-1", *, priority: float = 0.5, rules: list[str] | None = None
) -> FrameRecord:
    """Frame ``n`` of ``vehicle``: id and blob key from ``n``, two detections."""
    return FrameRecord(
        id=f"{n:064x}",
        vehicle=vehicle,
        captured_at_ns=1_700_000_000_000_000_000 + n,
        received_at=T0,
        pose={"x": 1.0, "y": 2.0, "z": 0.0, "roll": 0.0, "pitch": 0.0, "yaw": 0.5},
        sensor_name="hdl64",
        sensor_beams=64,
        sensor_max_range_m=120.0,
        model_version="m1",
        frame_scores={"entropy": 0.9},
        rules_fired=rules if rules is not None else ["high_entropy"],
        priority=priority,
        blob_key=f"frames/{n:064x}",
        payload_size=1000 + n,
        num_points=100,
        encoding="ENCODING_LOSSLESS",
        quantization_step_m=0.0,
        detections=[
            DetectionRecord("car", 0.8, (1, 2, 3, 4, 2, 1.5, 0.1), 50, {"entropy": 0.2}),
            DetectionRecord("pedestrian", 0.4, (5, 6, 0, 0.8, 0.8, 1.8, -3.0), 12, {}),
        ],
    )
