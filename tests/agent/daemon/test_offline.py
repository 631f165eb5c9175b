"""``longtail-agent score DIR --out FILE.jsonl`` as a real process."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import laspy
import numpy as np
import numpy.typing as npt
import pytest

from core.formats.kitti_bin import write_kitti_bin
from core.formats.nuscenes import encode_nuscenes_points
from core.formats.ply import write_ply
from tests.agent.daemon.drive import REPO_ROOT, agent_env, frame_points, write_drive

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

#: a plain folder of point files has no poses, so no vehicle signals: only the first rule
CONFIG_FILES = CONFIG.split('[[selection.rules]]\nname = "moving"')[0]


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


def las_file(path: Path, points: npt.NDArray[np.float32]) -> None:
    """A LAS file as laspy writes one: mm coordinates, 8-bit intensity in the 16-bit field."""
    las = laspy.LasData(laspy.LasHeader(point_format=1, version="1.2"))
    las.header.scales = np.array([0.001, 0.001, 0.001])
    las.header.offsets = np.zeros(3)
    las.x, las.y, las.z = points[:, 0], points[:, 1], points[:, 2]
    las.intensity = np.round(points[:, 3] * 255).astype(np.uint16)
    las.write(path)


def test_a_folder_of_real_format_files_is_scored(tmp_path: Path) -> None:
    # one frame in each real-world format; intensity on the 0..255 scale in the nuScenes sweep
    # and the PCD (as the tools write it) must reach the model as [0, 1]
    hot = [True, False, True, False, True]
    clouds = [frame_points(i, flag, 60) for i, flag in enumerate(hot)]
    drive = tmp_path / "drive"
    drive.mkdir()
    pcd = clouds[0].copy()
    pcd[:, 3] *= 255
    n = len(pcd)
    header = (
        f"VERSION 0.7\nFIELDS x y z intensity _\nSIZE 4 4 4 4 1\nTYPE F F F F U\n"
        f"COUNT 1 1 1 1 0\nWIDTH {n}\nHEIGHT 1\nPOINTS {n}\nDATA binary\n"
    )
    (drive / "f0.pcd").write_bytes(header.encode() + pcd.tobytes() + b"\0" * 8)
    (drive / "f1.pcd.bin").write_bytes(encode_nuscenes_points(clouds[1]))
    las_file(drive / "f2.las", clouds[2])
    write_ply(drive / "f3.ply", clouds[3])
    write_kitti_bin(drive / "f4.bin", clouds[4])
    (tmp_path / "agent.toml").write_text(CONFIG_FILES)
    out = tmp_path / "scores.jsonl"
    result = score_offline(tmp_path, out)
    assert result.returncode == 0, result.stderr
    assert "scored 5 frame(s)" in result.stderr
    # the PCD's quirks are reported once, with what was done
    assert "have COUNT 0: taken as occupying no bytes" in result.stderr
    assert "8 bytes after the 60 records of 16 bytes: ignored" in result.stderr
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    assert [entry["num_points"] for entry in lines] == [60] * 5
    # the fake analyzer's confidence is 1 - mean intensity: 0.2 for hot frames, 0.9 for others
    confidences = [entry["detections"][0]["confidence"] for entry in lines]
    assert confidences == pytest.approx([0.2, 0.9, 0.2, 0.9, 0.2], abs=3e-3)


def test_skipped_frames_exit_3_with_the_count_and_first_reasons(tmp_path: Path) -> None:
    write_drive(tmp_path / "drive", [False, True, False, True], points=40)
    bad = tmp_path / "drive" / "velodyne" / "000002.bin"
    bad.write_bytes(bad.read_bytes()[:-3])
    (tmp_path / "agent.toml").write_text(CONFIG)
    out = tmp_path / "scores.jsonl"
    result = score_offline(tmp_path, out)
    assert result.returncode == 3, result.stderr
    assert "read 3 of 4 frame(s), skipped 1; first: 000002.bin: " in result.stderr
    assert "size 637 bytes is not a multiple of the 16-byte KITTI velodyne record" in result.stderr
    assert [json.loads(line)["frame"] for line in out.read_text().splitlines()] == [0, 1, 3]


def test_a_drive_with_no_readable_frame_exits_4(tmp_path: Path) -> None:
    drive = tmp_path / "drive"
    drive.mkdir()
    (drive / "a.pcd").write_bytes(
        b"VERSION 0.7\nFIELDS x y z\nSIZE 4 4 4\nTYPE F F F\nDATA binary\n"
    )
    (drive / "b.pcd.bin").write_bytes(b"\0" * 30)
    (tmp_path / "agent.toml").write_text(CONFIG_FILES)
    result = score_offline(tmp_path, tmp_path / "scores.jsonl")
    assert result.returncode == 4, result.stderr
    assert "read 0 of 2 frame(s), skipped 2; first: a.pcd: " in result.stderr
    assert "PCD header has neither WIDTH nor POINTS" in result.stderr
    assert "b.pcd.bin: size 30 bytes is not a multiple of the 20-byte nuScenes" in result.stderr
    (drive / "a.pcd").unlink()
    (drive / "b.pcd.bin").unlink()
    (drive / "velodyne").mkdir()  # an empty dataset: no frame at all
    result = score_offline(tmp_path, tmp_path / "scores.jsonl")
    assert result.returncode == 4, result.stderr
    assert "read 0 of 0 frame(s), skipped 0; the drive has no frame" in result.stderr


def test_the_exit_codes_are_in_the_help() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "agent.cli", "score", "--help"],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=REPO_ROOT,
        env=agent_env(),
    )
    assert result.returncode == 0
    text = " ".join(result.stdout.split())
    assert "3 some frames unreadable and skipped" in text and "4 no frame could be read" in text
