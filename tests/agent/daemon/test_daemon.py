"""The daemon in-process (composition root, threads, metrics) against the scripted servicer."""

from __future__ import annotations

import threading
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import grpc
import pytest

from agent.config import AgentConfig, load_config
from agent.daemon.app import Daemon
from agent.daemon.sources import EXIT_SKIPPED_FRAMES
from agent.metrics import AgentMetrics
from core.errors import ConfigError
from tests.agent.daemon.drive import expected_id, write_config, write_drive
from tests.agent.upload.fake_ingest import FakeIngest, serve
from tests.fixtures.services import free_port

HOT = [True, False, False, True, False, True]


@pytest.fixture
def ingest() -> Iterator[tuple[FakeIngest, str]]:
    servicer = FakeIngest(token="tok")
    server, port = serve(servicer)
    try:
        yield servicer, f"127.0.0.1:{port}"
    finally:
        server.stop(None)


def config_for(tmp_path: Path, endpoint: str, extra: str = "", **env: str) -> AgentConfig:
    path = write_config(
        tmp_path / "agent.toml",
        drive=tmp_path / "drive",
        spool=tmp_path / "spool",
        endpoint=endpoint,
        token="tok",
        extra=extra,
    )
    return load_config(path, environ=env)


def value(metrics: AgentMetrics, name: str, **labels: str) -> float:
    got = metrics.registry.get_sample_value(name, labels or None)
    return 0.0 if got is None else got


def test_uploads_the_selected_frames_and_reports_metrics(
    tmp_path: Path, ingest: tuple[FakeIngest, str]
) -> None:
    servicer, endpoint = ingest
    points = write_drive(tmp_path / "drive", HOT)
    metrics = AgentMetrics()
    assert Daemon(config_for(tmp_path, endpoint), metrics).run() == 0
    expected = {expected_id(p) for p, hot in zip(points, HOT, strict=True) if hot}
    assert set(servicer.stored) == expected
    meta = servicer.metadata[expected_id(points[0])]
    assert meta.vehicle_id == "car-1"
    assert list(meta.rules_fired) == ["vru_unsure"]
    assert meta.sensor.name == "test32" and meta.sensor.beams == 32
    assert meta.model_version == "fake-intensity-1"
    assert meta.detections[0].class_name == "pedestrian"
    assert meta.detections[0].scores["entropy"] == pytest.approx(0.8)
    assert meta.frame_scores["score"] == pytest.approx(0.8)
    assert meta.num_points == 500 and meta.payload_size == len(servicer.stored[meta.frame_id])
    assert meta.timestamp_ns == 1_700_000_000_000_000_000
    assert value(metrics, "longtail_agent_frames_total") == len(HOT)
    assert value(metrics, "longtail_agent_selections_total", rule="vru_unsure") == 3
    assert value(metrics, "longtail_agent_uploaded_frames_total", outcome="stored") == 3
    assert value(metrics, "longtail_agent_spool_frames") == 0
    for stage in ("perception", "scoring", "selection", "encode", "spool_write", "upload"):
        assert value(metrics, "longtail_agent_stage_seconds_count", stage=stage) > 0, stage


def test_server_down_keeps_every_frame_in_the_spool_and_stops_on_request(
    tmp_path: Path,
) -> None:
    write_drive(tmp_path / "drive", HOT)
    config = config_for(tmp_path, "127.0.0.1:1")  # nothing listens there
    daemon = Daemon(config)
    result: list[int] = []
    thread = threading.Thread(target=lambda: result.append(daemon.run()))
    thread.start()
    deadline = time.monotonic() + 20
    frames_dir = tmp_path / "spool" / "frames"
    while time.monotonic() < deadline and len(list(frames_dir.glob("*.ltf"))) < 3:
        time.sleep(0.05)
    time.sleep(0.3)  # a few failed attempts with backoff
    daemon.request_stop()
    thread.join(timeout=20)
    assert not thread.is_alive()
    assert result == [0]
    assert len(list(frames_dir.glob("*.ltf"))) == 3
    assert value(daemon.metrics, "longtail_agent_upload_failures_total", kind="transient") >= 1


def test_a_refused_frame_is_quarantined_and_the_rest_delivered(
    tmp_path: Path, ingest: tuple[FakeIngest, str]
) -> None:
    servicer, endpoint = ingest
    write_drive(tmp_path / "drive", HOT)
    servicer.faults = [grpc.StatusCode.INVALID_ARGUMENT]
    daemon = Daemon(config_for(tmp_path, endpoint))
    assert daemon.run() == 0
    assert len(servicer.stored) == 2
    assert len(list((tmp_path / "spool" / "quarantine").glob("*.ltf"))) == 1
    assert value(daemon.metrics, "longtail_agent_spool_quarantined_total") == 1


def test_an_unreadable_frame_is_skipped(tmp_path: Path, ingest: tuple[FakeIngest, str]) -> None:
    servicer, endpoint = ingest
    write_drive(tmp_path / "drive", HOT)
    (tmp_path / "drive" / "velodyne" / "000003.bin").write_bytes(b"\0" * 15)  # truncated
    daemon = Daemon(config_for(tmp_path, endpoint))
    # the drive is processed and uploaded without it, and the exit code says a frame was skipped
    assert daemon.run() == EXIT_SKIPPED_FRAMES
    assert len(servicer.stored) == 2
    assert value(daemon.metrics, "longtail_agent_frames_total") == len(HOT) - 1


def test_manual_trigger_file_keeps_a_frame_no_rule_wanted(
    tmp_path: Path, ingest: tuple[FakeIngest, str]
) -> None:
    servicer, endpoint = ingest
    write_drive(tmp_path / "drive", [False, False, False])
    trigger = tmp_path / "trigger"
    trigger.touch()
    config = config_for(tmp_path, endpoint, LONGTAIL_SELECTION__MANUAL_TRIGGER_FILE=str(trigger))
    assert Daemon(config).run() == 0
    assert [list(m.rules_fired) for m in servicer.metadata.values()] == [["manual"]]
    assert not trigger.exists()


def test_source_factory_plugs_a_live_source_with_vehicle_signals(
    tmp_path: Path, ingest: tuple[FakeIngest, str]
) -> None:
    servicer, endpoint = ingest
    (tmp_path / "drive" / "velodyne").mkdir(parents=True)
    extra = '[[selection.rules]]\nname = "hard_brake"\nwhen = "vehicle.brake > 0.5"\n'
    config = config_for(
        tmp_path,
        endpoint,
        extra=extra,
        LONGTAIL_SOURCE__KIND="factory",
        LONGTAIL_SOURCE__FACTORY="tests.agent.daemon.fakes:make_list_source",
        LONGTAIL_DAEMON__EXIT_WHEN_DONE="true",  # a live source would keep the daemon running
    )
    config = replace(config, source=replace(config.source, options={"count": 7, "every": 3}))
    assert Daemon(config).run() == 0
    rules = sorted(tuple(m.rules_fired) for m in servicer.metadata.values())
    # frames 0, 3, 6 are interesting and braking: both rules fire on each
    assert rules == [("vru_unsure", "hard_brake")] * 3


def test_unknown_factory_and_busy_metrics_port_are_config_errors(
    tmp_path: Path, ingest: tuple[FakeIngest, str]
) -> None:
    _servicer, endpoint = ingest
    write_drive(tmp_path / "drive", [False])
    bad = config_for(tmp_path, endpoint, LONGTAIL_PERCEPTION__FACTORY="no.such.module:make")
    with pytest.raises(
        ConfigError, match=r"perception\.factory: cannot import module 'no\.such\.module'"
    ):
        Daemon(bad).run()
    port = free_port()
    metrics = AgentMetrics()
    stop = metrics.serve("127.0.0.1", port)
    try:
        body = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read()
        assert b"longtail_agent_frames_total" in body
        busy = config_for(tmp_path, endpoint, LONGTAIL_METRICS__PORT=str(port))
        with pytest.raises(ConfigError, match=f"metrics.port 127.0.0.1:{port}: cannot listen"):
            Daemon(busy).run()
    finally:
        stop()


def run_in_thread(daemon: Daemon) -> tuple[threading.Thread, list[int]]:
    result: list[int] = []
    thread = threading.Thread(target=lambda: result.append(daemon.run()), daemon=True)
    thread.start()
    return thread, result


def test_a_recorded_drive_ends_the_daemon_once_its_frames_are_uploaded(
    tmp_path: Path, ingest: tuple[FakeIngest, str]
) -> None:
    servicer, endpoint = ingest
    write_drive(tmp_path / "drive", HOT)
    config = config_for(tmp_path, endpoint)
    assert config.daemon.exit_when_done is None  # the default decides by the source
    daemon = Daemon(config)
    thread, result = run_in_thread(daemon)
    thread.join(timeout=30)
    assert not thread.is_alive() and result == [0]
    assert len(servicer.stored) == sum(HOT)
    assert value(daemon.metrics, "longtail_agent_spool_frames") == 0


@pytest.mark.parametrize(
    "env",
    [
        # a live source that ran dry (a sensor gone quiet) does not end the daemon ...
        {
            "LONGTAIL_SOURCE__KIND": "factory",
            "LONGTAIL_SOURCE__FACTORY": "tests.agent.daemon.fakes:make_list_source",
        },
        # ... nor does a recorded drive when exit_when_done = false
        {"LONGTAIL_DAEMON__EXIT_WHEN_DONE": "false"},
    ],
    ids=["live-source", "replay-exit-when-done-false"],
)
def test_the_daemon_keeps_running_after_its_source_until_stopped(
    tmp_path: Path, ingest: tuple[FakeIngest, str], env: dict[str, str]
) -> None:
    servicer, endpoint = ingest
    write_drive(tmp_path / "drive", HOT)
    daemon = Daemon(config_for(tmp_path, endpoint, **env))
    thread, result = run_in_thread(daemon)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and not servicer.stored:
        time.sleep(0.05)
    time.sleep(1.0)  # source finished and uploads done: it must still be running
    assert thread.is_alive()
    daemon.request_stop()
    thread.join(timeout=30)
    assert not thread.is_alive() and result == [0]
    assert servicer.stored
