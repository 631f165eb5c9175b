"""A real backend process for the labelling tool's browser tests.

The world is prepared in-process (people with passwords, stored frames with their point clouds
and the vehicle's detections, tasks), then ``longtail backend serve`` runs as a subprocess on
the same SQLite file and blob folder, and the tests drive the built app at ``/app`` through
headless Chromium. Ground truth: the frame holds a car at :data:`CAR` that the vehicle missed
(the annotator draws it) and a pedestrian it found with low confidence (the pre-label).
Sequence tests pass their own frames (:class:`StoredFrame`: a key frame and its context frames).
"""

from __future__ import annotations

import hashlib
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import numpy as np
import numpy.typing as npt

from backend.annotation.builder import CONTEXT_PREFIX
from backend.config import load_config
from backend.ingest.service import blob_key_for
from backend.metadata.records import DetectionRecord, FrameRecord
from backend.wiring import Backend, build_backend
from core.formats.codec import encode_frame
from tests.backend.annotation.world import CAR, PEDESTRIAN, cloud

ROOT = Path(__file__).resolve().parents[2]
DIST = ROOT / "annotator" / "dist" / "index.html"

#: every person's password (the login form needs one)
PASSWORD = "correct horse battery"

#: the pedestrian's pre-label: the vehicle found it, unsure
PRELABEL_SCORE = 0.42


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class RunningBackend:
    """The served backend: its base URL, the frame's ground truth, and its log."""

    url: str
    frame_id: str
    log: Path
    config: Path
    #: every stored frame's id, in the order they were given
    frame_ids: list[str] = field(default_factory=list)

    def token(self, name: str) -> str:
        response = httpx.post(
            f"{self.url}/auth/login", json={"name": name, "password": PASSWORD}, timeout=10
        )
        response.raise_for_status()
        return str(response.json()["token"])

    def api(self, name: str) -> httpx.Client:
        return httpx.Client(
            base_url=self.url, headers={"Authorization": f"Bearer {self.token(name)}"}, timeout=10
        )


#: a detection of the vehicle's model: (class, confidence, box)
Detection = tuple[str, float, tuple[float, float, float, float, float, float, float]]

#: when the default test frame was captured (Unix epoch nanoseconds)
CAPTURED_AT_NS = 1_764_576_000_000_000_000


@dataclass(frozen=True)
class StoredFrame:
    """A frame the vehicle uploaded: points (N, 4) in the sensor frame, capture time, the
    sensor's pose in the world (x, y, z m; roll, pitch, yaw rad), the trigger rules that fired
    (``context:...`` only: a context frame) and the vehicle's detections."""

    points: npt.NDArray[np.float32]
    captured_at_ns: int = CAPTURED_AT_NS
    pose: tuple[float, float, float, float, float, float] = (100.0, 5.0, 0.0, 0.0, 0.0, 0.0)
    rules_fired: tuple[str, ...] = ("novel_object",)
    detections: Sequence[Detection] = ()


def _prepare(
    config_path: Path, people: dict[str, str], frames: Sequence[StoredFrame], tasks: int
) -> list[str]:
    backend = build_backend(load_config(config_path))
    try:
        for name, role in people.items():
            backend.people.create(name, role, password=PASSWORD)
            with backend.db.transaction("calibrate") as uow:
                uow.people.set_calibration(name, "passed")
        backend.add_vehicle("car-1")
        ids = [_store(backend, frame) for frame in frames]
        created = backend.annotation.builder.sync(settle=False).created
        assert len(created) == tasks, f"expected {tasks} task(s), got {created}"
        return ids
    finally:
        backend.close()


def _store(backend: Backend, frame: StoredFrame) -> str:
    """Store one frame (payload and record) as the ingest service would; its id."""
    payload = encode_frame(frame.points)
    frame_id = hashlib.sha256(payload).hexdigest()
    key = blob_key_for(frame_id)
    backend.blobs.put(key, payload)
    record = FrameRecord(
        id=frame_id,
        vehicle="car-1",
        captured_at_ns=frame.captured_at_ns,
        received_at=datetime.now(UTC) - timedelta(seconds=60),
        pose=dict(zip(("x", "y", "z", "roll", "pitch", "yaw"), frame.pose, strict=True)),
        sensor_name="hdl64",
        sensor_beams=64,
        sensor_max_range_m=120.0,
        model_version="baseline-test",
        frame_scores={"score": 0.5, "p_value": 0.5, "surprise": 0.5},
        rules_fired=list(frame.rules_fired),
        priority=1.0,
        blob_key=key,
        payload_size=len(payload),
        num_points=int(frame.points.shape[0]),
        encoding="ENCODING_LOSSLESS",
        quantization_step_m=0.0,
        detections=[
            DetectionRecord(name, score, box, 400, {"knn_tail": 0.5})
            for name, score, box in frame.detections
        ],
    )
    with backend.db.transaction("store a test frame") as uow:
        uow.frames.add(record)
    return frame_id


@contextmanager
def running_backend(
    tmp_path: Path,
    people: dict[str, str],
    *,
    lease_s: float = 900.0,
    points: npt.NDArray[np.float32] | None = None,
    detections: Sequence[Detection] = (("pedestrian", PRELABEL_SCORE, PEDESTRIAN),),
    tasks: int = 1,
    overlap: int = 1,
    sequence: Sequence[StoredFrame] = (),
) -> Iterator[RunningBackend]:
    """``longtail backend serve`` on loopback with labelling tasks waiting (leases of ``lease_s``
    seconds): ``tasks`` tasks, each a frame of ``points`` (default: the car and the pedestrian
    of the module docstring) with the vehicle's ``detections`` as pre-labels, ten minutes apart
    (``frame_id`` is the first task's); or one task of the frames of ``sequence`` (``frame_id``
    is then its key frame's). ``overlap`` > 1: every task goes to that many annotators (tier 3),
    and any disagreement at all sends it to the senior panel (what the adjudication view
    shows)."""
    assert DIST.is_file(), f"{DIST} is missing: run `make setup` (builds annotator/)"
    api_port = free_port()
    config = tmp_path / "backend.toml"
    config.write_text(
        f"[ingest]\nport = {free_port()}\n[api]\nport = {api_port}\n"
        f'[storage]\npath = "{tmp_path / "blobs"}"\nstaging_path = "{tmp_path / "staging"}"\n'
        f'[metadata]\nurl = "sqlite:///{tmp_path / "meta.db"}"\n'
        "[annotation]\ngold_share = 0.0\nspot_check_share = 0.0\nsettle_s = 0.0\nseed = 1\n"
        f"calibration_tasks = 0\nlease_s = {lease_s}\n"
        + (
            "rules = []\n"  # every task at the default tier 2: one annotator, then one reviewer
            if overlap == 1
            else f'rules = [{{ name = "overlap", when = "priority >= 0", tier = 3, overlap = {overlap} }}]\n'
            "min_agreement = 1.0\n"
        )
    )
    if sequence:
        assert tasks == 1, "a sequence is one task"
    else:
        default = cloud(7, [CAR, PEDESTRIAN], per_box=400) if points is None else points
        # each task its own frame: ten minutes apart (not one sequence), its last point moved
        # by a millimetre per copy (a frame's id is the hash of its payload)
        sequence = [
            StoredFrame(
                _moved_last_point(default, 1e-3 * copy),
                captured_at_ns=CAPTURED_AT_NS + copy * 600_000_000_000,
                detections=detections,
            )
            for copy in range(tasks)
        ]
    ids = _prepare(config, people, sequence, tasks)
    key = next(i for i, f in zip(ids, sequence, strict=True) if not is_context_rules(f))
    with serve_backend(config, api_port, tmp_path / "backend.log") as url:
        yield RunningBackend(url, key, tmp_path / "backend.log", config, ids)


def _moved_last_point(points: npt.NDArray[np.float32], dx_m: float) -> npt.NDArray[np.float32]:
    moved = points.copy()
    moved[-1, 0] += dx_m
    return moved


def is_context_rules(frame: StoredFrame) -> bool:
    """Whether only ``context:`` rules fired on ``frame`` (it joins a key frame's task)."""
    return all(r.startswith(CONTEXT_PREFIX) for r in frame.rules_fired)


@contextmanager
def serve_backend(config: Path, api_port: int, log: Path) -> Iterator[str]:
    """``longtail backend serve --config config`` as a subprocess (output to ``log``), once it
    answers ``/health`` on ``api_port``; yields its base URL and stops it afterwards."""
    url = f"http://127.0.0.1:{api_port}"
    with log.open("ab") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "backend.cli", "backend", "serve", "--config", str(config)],
            cwd=ROOT,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + 60
        while True:
            assert process.poll() is None, log.read_text()
            try:
                if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, f"backend did not start: {log.read_text()}"
            time.sleep(0.2)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)
