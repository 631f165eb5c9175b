"""``longtail-agent run`` with the real perception model and scoring kernels (the default
``perception.factory``) on a small simulated drive, against the real ingest server.

The rule's threshold is calibrated on the drive itself with ``longtail-agent score`` (the median
detection count), so the selected set is a strict, non-empty subset whatever the model version.
"""

from __future__ import annotations

import hashlib
import json
import statistics
import subprocess
import sys
from pathlib import Path

import pytest

from agent.perception.package import default_package_path
from backend.wiring import Backend
from core.formats.codec import encode_frame
from core.formats.dataset import Dataset
from tests.agent.daemon.drive import REPO_ROOT, agent_env, selected_ids, start_agent
from tests.backend.metadata.queries import all_frames

FRAMES = 6

CONFIG = """
[vehicle]
id = "car-1"
token = "{token}"
[source]
path = "{drive}"
rate = "max"
[perception]
device = "cpu"
[selection]
sample_rate = 0.0
pre_frames = 0
post_frames = 0
dedup_similarity = 2.0
[[selection.rules]]
name = "busy_scene"
when = "num_detections > {threshold}"
[spool]
dir = "{spool}"
[upload]
endpoint = "{endpoint}"
[metrics]
port = 0
[daemon]
exit_when_done = true
"""


def run_cli(*args: str) -> None:
    subprocess.run(
        [sys.executable, "-m", *args],
        check=True,
        capture_output=True,
        timeout=180,
        cwd=REPO_ROOT,
        env=agent_env(),
    )


@pytest.mark.slow
def test_real_model_uploads_exactly_the_frames_its_rule_selects(
    tmp_path: Path, backend: tuple[Backend, str, str]
) -> None:
    assert (default_package_path() / "model.onnx").exists(), "the baseline package is missing"
    built, target, token = backend
    drive = tmp_path / "drive"
    # the simulator runs in its own process: importing it here loads a libtbb that makes numba's
    # parallel kernels warn (an error under pytest) in whatever test runs after this one
    run_cli(
        "backend.cli", "sim", "drive", "--scenario", "urban", "--frames", str(FRAMES),
        "--seed", "1", "--out", str(drive), "--no-progress",
    )  # fmt: skip
    (tmp_path / "score.toml").write_text('[perception]\ndevice = "cpu"\n')
    scores = tmp_path / "scores.jsonl"
    run_cli(
        "agent.cli", "score", str(drive), "--out", str(scores),
        "--config", str(tmp_path / "score.toml"), "--no-progress",
    )  # fmt: skip
    counts = [
        json.loads(line)["signals"]["num_detections"] for line in scores.read_text().splitlines()
    ]
    threshold = statistics.median(counts)
    dataset = Dataset(drive)
    expected = {
        hashlib.sha256(encode_frame(dataset.points(i))).hexdigest()
        for i, count in zip(dataset.indices, counts, strict=True)
        if count > threshold
    }
    assert 0 < len(expected) < FRAMES

    config = tmp_path / "agent.toml"
    config.write_text(
        CONFIG.format(
            token=token, drive=drive, spool=tmp_path / "spool", endpoint=target, threshold=threshold
        )
    )
    log = tmp_path / "agent.log"
    proc = start_agent(config, log)
    assert proc.wait(timeout=180) == 0, log.read_text()[-3000:]

    frames = all_frames(built.db)
    assert {f.id for f in frames} == expected == selected_ids(log)
    for frame in frames:
        assert hashlib.sha256(built.blobs.get(frame.blob_key)).hexdigest() == frame.id
        assert frame.model_version.startswith("baseline")
        assert frame.rules_fired == ["busy_scene"]
        assert frame.sensor_name == "hdl64"
        assert {"score", "p_value", "surprise"} <= set(frame.frame_scores)
        assert len(frame.detections) > threshold
        assert {"mahalanobis", "mahalanobis_tail", "knn_tail"} <= set(frame.detections[0].scores)
