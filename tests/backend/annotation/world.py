"""A small annotation world for tests: a backend on SQLite or PostgreSQL with a movable clock,
stored frames with real encoded point clouds and the vehicle's detections, and people."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import numpy.typing as npt

from backend.auth.people import Principal
from backend.config import AnnotationConfig, BackendConfig
from backend.ingest.service import blob_key_for
from backend.metadata.records import DetectionRecord, FrameRecord
from backend.wiring import Backend, build_backend, local_config
from core.formats.codec import encode_frame

T0 = datetime(2026, 12, 1, 8, 0, 0, tzinfo=UTC)

CAR = (10.0, 2.0, -0.9, 4.2, 1.8, 1.6, 0.3)
PEDESTRIAN = (7.0, -3.0, -0.85, 0.6, 0.6, 1.75, -1.2)


@dataclass
class Clock:
    """A clock tests move by hand."""

    now: datetime = T0

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


def cloud(
    seed: int, boxes: Sequence[Sequence[float]], per_box: int = 200
) -> npt.NDArray[np.float32]:
    """A road plane at z = -1.73 m (the sensor 1.73 m up) and ``per_box`` points inside each box."""
    rng = np.random.default_rng(seed)
    ground = np.column_stack(
        [
            rng.uniform(-30, 30, 3000),
            rng.uniform(-30, 30, 3000),
            rng.normal(-1.73, 0.01, 3000),
            rng.uniform(0, 1, 3000),
        ]
    )
    parts = [ground]
    for x, y, z, length, width, height, yaw in boxes:
        local = rng.uniform(-0.45, 0.45, (per_box, 3)) * [length, width, height]
        c, s = np.cos(yaw), np.sin(yaw)
        world = np.column_stack(
            [
                x + c * local[:, 0] - s * local[:, 1],
                y + s * local[:, 0] + c * local[:, 1],
                z + local[:, 2],
                rng.uniform(0, 1, per_box),
            ]
        )
        parts.append(world)
    return np.ascontiguousarray(np.concatenate(parts), dtype=np.float32)


@dataclass
class World:
    """A backend and helpers to put frames and people into it."""

    backend: Backend
    clock: Clock
    tokens: dict[str, str] = field(default_factory=dict)
    vehicles: set[str] = field(default_factory=set)

    def store_frame(
        self,
        *,
        seed: int,
        detections: Sequence[tuple[str, float, Sequence[float]]],
        t_s: float = 0.0,
        vehicle: str = "car-1",
        rules: Sequence[str] = ("novel_object",),
        priority: float = 1.0,
        scores: dict[str, float] | None = None,
        received_ago_s: float = 60.0,
        model_version: str = "baseline-test",
    ) -> FrameRecord:
        """Encode a cloud with points in every detection's box and store it as ingest would."""
        if vehicle not in self.vehicles:
            self.backend.add_vehicle(vehicle)
            self.vehicles.add(vehicle)
        points = cloud(seed, [box for _, _, box in detections])
        payload = encode_frame(points)
        frame_id = hashlib.sha256(payload).hexdigest()
        key = blob_key_for(frame_id)
        self.backend.blobs.put(key, payload)
        record = FrameRecord(
            id=frame_id,
            vehicle=vehicle,
            captured_at_ns=1_764_576_000_000_000_000 + int(t_s * 1e9),
            received_at=self.clock() - timedelta(seconds=received_ago_s),
            pose={
                "x": 100.0 + 10.0 * t_s,
                "y": 5.0,
                "z": 0.0,
                "roll": 0.0,
                "pitch": 0.0,
                "yaw": 0.0,
            },
            sensor_name="hdl64",
            sensor_beams=64,
            sensor_max_range_m=120.0,
            model_version=model_version,
            frame_scores=scores or {"score": 0.5, "p_value": 0.5, "surprise": 0.5},
            rules_fired=list(rules),
            priority=priority,
            blob_key=key,
            payload_size=len(payload),
            num_points=int(points.shape[0]),
            encoding="ENCODING_LOSSLESS",
            quantization_step_m=0.0,
            detections=[
                DetectionRecord(cls, conf, tuple(box), 200, {"knn_tail": 0.5})  # type: ignore[arg-type]
                for cls, conf, box in detections
            ],
        )
        with self.backend.db.transaction("store a test frame") as uow:
            uow.frames.add(record)
        return record

    def person(self, name: str, role: str, *, calibrated: bool = True) -> str:
        """Create a person and return their token (calibration passed unless told otherwise)."""
        token = self.backend.people.create(name, role)
        if calibrated:
            with self.backend.db.transaction("calibrate") as uow:
                uow.people.set_calibration(name, "passed")
        self.tokens[name] = token
        return token

    def who(self, name: str) -> Principal:
        """The authenticated principal of ``name``."""
        return self.backend.people.authenticate(self.tokens[name])


def make_world(tmp_path: Path, db_url: str | None = None, **annotation: object) -> World:
    """A world on ``db_url`` (SQLite under ``tmp_path`` if None) with annotation settings
    overridden by keyword (defaults here: no gold interleave, no spot checks, seed 1)."""
    settings: dict[str, object] = {
        "gold_share": 0.0,
        "spot_check_share": 0.0,
        "seed": 1,
        "settle_s": 0.0,
    }
    settings.update(annotation)
    base = local_config(tmp_path, metadata_url=db_url)
    config: BackendConfig = replace(
        base,
        annotation=replace(AnnotationConfig(), **settings),  # type: ignore[arg-type]
    )
    clock = Clock()
    return World(build_backend(config, clock=clock), clock)
