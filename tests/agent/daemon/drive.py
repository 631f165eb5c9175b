"""Small synthetic drives and agent configs for the daemon tests."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import numpy.typing as npt

from backend.wiring import Backend
from core.formats.codec import encode_frame
from core.formats.dataset import DatasetWriter, FrameLabels
from tests.backend.metadata.queries import all_frames

REPO_ROOT = Path(__file__).resolve().parents[3]


def frame_points(index: int, interesting: bool, n: int, seed: int = 0) -> npt.NDArray[np.float32]:
    """Points whose mean x is ``index * 0.25`` (distinct embeddings in the fake analyzer) and whose
    intensity is 0.8 for interesting frames (fake confidence 0.2) and 0.1 otherwise."""
    rng = np.random.default_rng(seed * 1000 + index)
    pts = rng.normal(0.0, 1.0, size=(n, 4)).astype(np.float32)
    pts[:, 0] += index * 0.25 - pts[:, 0].mean()
    pts[:, 3] = 0.8 if interesting else 0.1
    return pts


def write_drive(
    root: Path, interesting: Sequence[bool], *, points: int = 500, seed: int = 0
) -> list[npt.NDArray[np.float32]]:
    """A dataset of ``len(interesting)`` frames at 10 Hz moving at 5 m/s; returns the points."""
    writer = DatasetWriter(root)
    writer.write_meta({"sensor": {"name": "test32", "beams": 32, "max_range_m": 80.0}})
    frames = []
    for i, flag in enumerate(interesting):
        pts = frame_points(i, flag, points, seed)
        labels = FrameLabels(
            i, 1_700_000_000_000_000_000 + i * 100_000_000, (0.5 * i, 0, 0, 0, 0, 0)
        )
        writer.write_frame(pts, labels)
        frames.append(pts)
    return frames


def expected_id(points: npt.NDArray[np.float32]) -> str:
    """The frame id the agent must compute for lossless encoding."""
    return hashlib.sha256(encode_frame(points)).hexdigest()


def write_config(
    path: Path,
    *,
    drive: Path,
    spool: Path,
    endpoint: str,
    token: str,
    vehicle: str = "car-1",
    bandwidth: float = 0.0,
    extra: str = "",
    window: tuple[int, int, int] = (0, 0, 1),
) -> Path:
    text = f"""
[vehicle]
id = "{vehicle}"
token = "{token}"

[source]
kind = "replay"
path = "{drive}"
rate = "max"

[perception]
factory = "tests.agent.daemon.fakes:make_intensity_analyzer"

[selection]
sample_rate = 0.0
frames_per_hour = 100000
dedup_similarity = 0.999
pre_frames = {window[0]}
post_frames = {window[1]}
context_stride = {window[2]}

[[selection.rules]]
name = "vru_unsure"
when = "min_confidence.pedestrian < 0.5"
priority = 2

[spool]
dir = "{spool}"
max_bytes = 100000000

[upload]
endpoint = "{endpoint}"
chunk_bytes = 1024
bandwidth_bytes_per_s = {bandwidth}
backoff_base_s = 0.05
backoff_cap_s = 0.5
timeout_s = 20

[metrics]
port = 0

[daemon]
log_format = "json"
{extra}
"""
    path.write_text(text)
    return path


def agent_env(**overrides: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LONGTAIL_")}
    env["PYTHONPATH"] = str(REPO_ROOT)
    env.update(overrides)
    return env


def start_agent(config: Path, log_path: Path, **env: str) -> subprocess.Popen[bytes]:
    """``longtail-agent run --config CONFIG`` as a real process, stderr (JSON logs) to a file."""
    handle = log_path.open("ab")
    try:
        return subprocess.Popen(
            [sys.executable, "-m", "agent.cli", "run", "--config", str(config)],
            cwd=REPO_ROOT,
            env=agent_env(**env),
            stdout=handle,
            stderr=handle,
        )
    finally:
        handle.close()


def log_entries(log_path: Path) -> list[dict[str, object]]:
    """The JSON log lines written so far (partial last lines ignored)."""
    entries = []
    for line in log_path.read_text(errors="replace").splitlines():
        try:
            entry = json.loads(line)
        except ValueError:
            continue
        if isinstance(entry, dict):
            entries.append(entry)
    return entries


def selected_ids(log_path: Path) -> set[str]:
    """Frame ids the agent logged as selected."""
    out = set()
    for entry in log_entries(log_path):
        msg = str(entry.get("msg", ""))
        if msg.startswith("selected "):
            out.add(msg.split("frame_id=")[1].split()[0])
    return out


def wait_for(
    predicate: Callable[[], bool], timeout_s: float, what: str, log_path: Path | None = None
) -> None:
    """Poll ``predicate`` every 50 ms; on timeout fail with the agent's last log lines."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    tail = log_path.read_text(errors="replace")[-4000:] if log_path is not None else ""
    raise AssertionError(f"timed out after {timeout_s}s waiting for {what}\n{tail}")


def stored_payloads(backend: Backend) -> dict[str, bytes]:
    """Every stored frame's blob by frame id."""
    frames = all_frames(backend.db)
    return {f.id: backend.blobs.get(f.blob_key) for f in frames}
