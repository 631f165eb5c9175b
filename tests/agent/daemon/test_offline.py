"""``longtail-agent score DIR --out FILE.jsonl`` as a real process."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.agent.daemon.drive import REPO_ROOT, agent_env, write_drive

CONFIG = """
[perception]
factory = "tests.agent.daemon.fakes:make_intensity_analyzer"
[[selection.rules]]
name = "vru_unsure"
when = "min_confidence.pedestrian < 0.5"
mode = "edge"
[[selection.rules]]
name = "moving"
when = "vehicle.speed_mps > 1"
"""


def score_offline(tmp_path: Path, out: Path) -> subprocess.CompletedProcess[str]:
    """``longtail-agent score`` of ``tmp_path/drive`` with ``tmp_path/agent.toml`` into ``out``."""
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "agent.cli",
            "score",
            str(tmp_path / "drive"),
            "--out",
            str(out),
            "--config",
            str(tmp_path / "agent.toml"),
        ],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=REPO_ROOT,
        env=agent_env(),
    )


def test_scores_every_frame_into_json_lines(tmp_path: Path) -> None:
    hot = [False, True, True, False]
    write_drive(tmp_path / "drive", hot, points=50)
    (tmp_path / "agent.toml").write_text(CONFIG)
    out = tmp_path / "scores.jsonl"
    result = score_offline(tmp_path, out)
    assert result.returncode == 0, result.stderr
    assert "scored 4 frame(s)" in result.stderr
    assert "4/4" in result.stderr  # the progress bar
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    assert [entry["frame"] for entry in lines] == [0, 1, 2, 3]
    # offline scoring reports what holds per frame; edge mode and intervals need history
    assert [entry["rules"] for entry in lines] == [
        [],
        ["vru_unsure", "moving"],
        ["vru_unsure", "moving"],
        ["moving"],
    ]
    first = lines[1]
    assert first["signals"]["frame.score"] == pytest.approx(0.8)
    assert first["signals"]["count.pedestrian"] == 1.0
    assert first["num_points"] == 50
    assert first["detections"][0]["class"] == "pedestrian"
    assert set(first["detections"][0]["scores"]) == {"entropy", "entropy_tail"}


def test_bad_rule_is_refused_offline_too(tmp_path: Path) -> None:
    write_drive(tmp_path / "drive", [False], points=10)
    (tmp_path / "agent.toml").write_text(CONFIG.replace("vehicle.speed_mps", "vehicle.sped"))
    result = score_offline(tmp_path, tmp_path / "o.jsonl")
    assert result.returncode == 2
    assert "rule 'moving': unknown signal 'vehicle.sped'" in result.stderr
    assert not (tmp_path / "o.jsonl").exists()
