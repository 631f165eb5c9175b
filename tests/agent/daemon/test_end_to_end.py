"""``longtail-agent run`` as a real process against the real ingest server over loopback."""

from __future__ import annotations

import hashlib
import signal
import subprocess
import sys
from pathlib import Path
from typing import NamedTuple

import numpy as np
import numpy.typing as npt
import pytest

from agent.daemon.sources import EXIT_NO_FRAMES
from backend.wiring import Backend
from tests.agent.daemon.drive import (
    REPO_ROOT,
    agent_env,
    expected_id,
    log_entries,
    selected_ids,
    start_agent,
    stored_payloads,
    wait_for,
    write_config,
    write_drive,
)
from tests.backend.metadata.queries import count_frames, get_frame

INTERESTING = [False, True, False, False, True, True, False, True, False, False, True, False]


def spooled_ids(spool: Path) -> set[str]:
    return {p.stem for p in (spool / "frames").glob("*.ltf")}


class ThrottledAgent(NamedTuple):
    points: list[npt.NDArray[np.float32]]
    config: Path
    spool: Path
    log: Path
    proc: subprocess.Popen[bytes]


def start_throttled_agent(
    tmp_path: Path, target: str, token: str, bandwidth: int
) -> ThrottledAgent:
    """The agent on a fresh drive of ``INTERESTING`` frames (1,500 points each) with its upload
    capped at ``bandwidth`` bytes/s."""
    points = write_drive(tmp_path / "drive", INTERESTING, points=1500)
    spool = tmp_path / "spool"
    config = write_config(
        tmp_path / "agent.toml",
        drive=tmp_path / "drive",
        spool=spool,
        endpoint=target,
        token=token,
        bandwidth=bandwidth,
    )
    log = tmp_path / "agent.log"
    return ThrottledAgent(points, config, spool, log, start_agent(config, log))


@pytest.mark.slow
def test_replayed_drive_uploads_exactly_the_selected_frames(
    tmp_path: Path, backend: tuple[Backend, str, str]
) -> None:
    built, target, token = backend
    points = write_drive(tmp_path / "drive", INTERESTING)
    # one pre- and one post-trigger context frame at full rate
    config = write_config(
        tmp_path / "agent.toml",
        drive=tmp_path / "drive",
        spool=tmp_path / "spool",
        endpoint=target,
        token=token,
        window=(1, 1, 1),
    )
    log = tmp_path / "agent.log"
    proc = start_agent(config, log)
    assert proc.wait(timeout=60) == 0, log.read_text()[-3000:]

    triggers = {i for i, flag in enumerate(INTERESTING) if flag}
    context = {i - 1 for i in triggers} | {i + 1 for i in triggers}
    expected = {expected_id(points[i]) for i in (triggers | context) if 0 <= i < len(points)}
    stored = stored_payloads(built)
    assert selected_ids(log) == expected
    assert set(stored) == expected
    for frame_id, payload in stored.items():
        assert hashlib.sha256(payload).hexdigest() == frame_id
    assert spooled_ids(tmp_path / "spool") == set()
    # the metadata carries the rules that fired and the detections with their scores
    record = get_frame(built.db, expected_id(points[1]))
    assert record is not None
    assert record.rules_fired == ["vru_unsure"]
    assert record.vehicle == "car-1"
    assert record.model_version == "fake-intensity-1"
    assert record.sensor_name == "test32"
    assert [d.class_name for d in record.detections] == ["pedestrian"]
    context_record = get_frame(built.db, expected_id(points[0]))
    assert context_record is not None
    assert context_record.rules_fired == ["context:vru_unsure"]


@pytest.mark.slow
def test_sigkill_mid_upload_then_restart_delivers_every_frame_once(
    tmp_path: Path, backend: tuple[Backend, str, str]
) -> None:
    built, target, token = backend
    # ~17 KB frames at 6 KB/s: each upload takes about three seconds, so the kill lands mid-stream
    points, config, spool, log, proc = start_throttled_agent(tmp_path, target, token, 6_000)
    expected = {expected_id(p) for p, flag in zip(points, INTERESTING, strict=True) if flag}

    def partially_staged() -> bool:
        stored = {fid for fid in expected if (get_frame(built.db, fid) is not None)}
        spooled = spooled_ids(spool)
        if stored | spooled != expected:
            return False  # every selected frame is spooled or stored before we pull the plug
        return any(built.staging.committed("car-1", fid) > 0 for fid in spooled - stored)

    try:
        wait_for(partially_staged, 90, "a frame partially uploaded", log)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
    stored_before = set(stored_payloads(built))
    assert stored_before != expected, "the kill must land before the upload finished"

    # restart on the same spool, with no new frames (an empty drive via the env override)
    empty = tmp_path / "empty"
    (empty / "velodyne").mkdir(parents=True)
    proc = start_agent(
        config,
        log,
        LONGTAIL_SOURCE__PATH=str(empty),
        LONGTAIL_UPLOAD__BANDWIDTH_BYTES_PER_S="0",
    )
    # the spool is delivered; the exit code says the (empty) drive gave no frame
    assert proc.wait(timeout=60) == EXIT_NO_FRAMES, log.read_text()[-3000:]

    stored = stored_payloads(built)
    assert set(stored) == expected
    assert count_frames(built.db) == len(expected)  # exactly once
    for frame_id, payload in stored.items():
        assert hashlib.sha256(payload).hexdigest() == frame_id
    messages = [str(e.get("msg", "")) for e in log_entries(log)]
    assert any(m.startswith("resuming frame_id=") for m in messages), "no upload resumed"
    assert spooled_ids(spool) == set()


@pytest.mark.slow
def test_sigterm_finishes_cleanly_with_a_consistent_spool(
    tmp_path: Path, backend: tuple[Backend, str, str]
) -> None:
    built, target, token = backend
    agent = start_throttled_agent(tmp_path, target, token, 12_000)
    spool, log, proc = agent.spool, agent.log, agent.proc
    wait_for(lambda: len(spooled_ids(spool)) >= 2, 30, "frames in the spool")
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=30) == 0, log.read_text()[-3000:]
    assert not list((spool / "frames").glob(".*.tmp"))
    # every frame is either stored or still spooled, never both lost
    selected = selected_ids(log)
    assert selected <= set(stored_payloads(built)) | spooled_ids(spool)


def test_bad_config_is_refused_naming_the_option(tmp_path: Path) -> None:
    config = tmp_path / "agent.toml"
    config.write_text('[upload]\nchunk_bytes = 10\n[vehicle]\ntoken = "t"\n[source]\npath = "x"\n')
    result = run_cli("run", "--config", str(config))
    assert result.returncode == 2
    assert "upload.chunk_bytes: must be >= 1024, got 10" in result.stderr
    assert "Traceback" not in result.stderr


def test_rule_naming_an_unknown_signal_is_refused_with_its_column(tmp_path: Path) -> None:
    write_drive(tmp_path / "drive", [False])
    config = write_config(
        tmp_path / "agent.toml",
        drive=tmp_path / "drive",
        spool=tmp_path / "spool",
        endpoint="127.0.0.1:1",
        token="t",
        extra='[[selection.rules]]\nname = "typo"\nwhen = "count.car > 1 or min_confidence.pedestrain < 0.3"\n',
    )
    # the extra [[selection.rules]] after [daemon] belongs to selection: TOML arrays of tables
    result = run_cli("check-config", "--config", str(config))
    assert result.returncode == 2, result.stderr
    assert "rule 'typo': unknown signal 'min_confidence.pedestrain'" in result.stderr
    assert "at column 18" in result.stderr


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "agent.cli", *args],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=REPO_ROOT,
        env=agent_env(),
    )
