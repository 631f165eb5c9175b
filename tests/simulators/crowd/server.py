"""A live annotation server for crowd tests: a backend on SQLite or PostgreSQL holding the
frames of a small simulated drive (stored as ingest stores them, ``captured_at_ns`` = the
drive's ``timestamp_ns``), served over real HTTP by uvicorn on a free port."""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import timedelta
from pathlib import Path

from backend.auth.people import utcnow
from backend.config import AnnotationConfig
from backend.ingest.service import blob_key_for
from backend.metadata.records import FrameRecord
from backend.wiring import Backend, build_api, build_backend, local_config
from core.formats.codec import encode_frame
from core.formats.dataset import Dataset
from simulators.drive import write_drive
from simulators.scenario import builtin_scenario
from tests.fixtures.http import serve

#: a 32-beam sensor keeps frames small (about 45k points) and the tests quick
SCENARIO = dataclasses.replace(builtin_scenario("urban"), sensor="vlp32")


def make_drive(out: Path, frames: int, seed: int) -> Path:
    write_drive(SCENARIO, frames, seed, out, progress=False)
    return out


def store_drive(
    backend: Backend, drive: Path, frames: int | None = None, vehicle: str = "sim-car"
) -> int:
    """Store the first ``frames`` frames of ``drive`` (all if None) as ingest would, one key
    frame each; returns how many."""
    backend.add_vehicle(vehicle)
    dataset = Dataset(drive)
    indices = dataset.indices[:frames]
    now = utcnow()
    with backend.db.transaction("store drive frames") as uow:
        for index in indices:
            points, labels = dataset.points(index), dataset.labels(index)
            payload = encode_frame(points)
            frame_id = hashlib.sha256(payload).hexdigest()
            key = blob_key_for(frame_id)
            backend.blobs.put(key, payload)
            x, y, z, roll, pitch, yaw = labels.pose
            uow.frames.add(
                FrameRecord(
                    id=frame_id,
                    vehicle=vehicle,
                    captured_at_ns=labels.timestamp_ns,
                    received_at=now - timedelta(seconds=60),
                    pose={"x": x, "y": y, "z": z, "roll": roll, "pitch": pitch, "yaw": yaw},
                    sensor_name="vlp32",
                    sensor_beams=32,
                    sensor_max_range_m=200.0,
                    model_version="baseline-test",
                    frame_scores={"score": 0.5, "p_value": 0.5, "surprise": 0.5},
                    rules_fired=["novel_object"],
                    priority=1.0,
                    blob_key=key,
                    payload_size=len(payload),
                    num_points=int(points.shape[0]),
                    encoding="ENCODING_LOSSLESS",
                    quantization_step_m=0.0,
                    detections=[],
                )
            )
    return len(indices)


@dataclass(frozen=True)
class LiveServer:
    url: str
    admin_token: str
    backend: Backend


@contextmanager
def live_server(
    tmp_path: Path,
    drive: Path,
    db_url: str | None = None,
    frames: int | None = None,
    **annotation: object,
) -> Iterator[LiveServer]:
    """A served backend over the first ``frames`` of ``drive`` with annotation settings by
    keyword (defaults here: no routing rules, so every task takes ``default_tier``; seed 1; no
    settle time; no spot checks)."""
    settings: dict[str, object] = {"rules": (), "seed": 1, "settle_s": 0.0, "spot_check_share": 0.0}
    settings.update(annotation)
    base = local_config(tmp_path, metadata_url=db_url)
    config = replace(base, annotation=replace(AnnotationConfig(), **settings))  # type: ignore[arg-type]
    backend = build_backend(config)
    try:
        store_drive(backend, drive, frames)
        admin = backend.people.create("crowd-admin", "admin")
        with serve(build_api(backend)) as client:
            yield LiveServer(str(client.base_url), admin, backend)
    finally:
        backend.close()
