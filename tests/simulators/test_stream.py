"""The live simulator stream: frames, signals and pacing, and the daemon running on it."""

from __future__ import annotations

import hashlib
import itertools
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from agent.config import load_config
from agent.daemon.app import Daemon, build_source
from agent.daemon.sources import REPLAY_SIGNALS, ReplaySource
from backend.wiring import build_backend, local_config, start_ingest
from core.errors import ConfigError
from simulators.drive import write_drive
from simulators.scenario import builtin_scenario
from simulators.stream import SimulatorSource, make_source
from tests.backend.metadata.queries import all_frames

EPOCH_NS = 1_750_000_000_000_000_000


def test_frames_match_a_replay_of_the_same_drive(tmp_path: Path) -> None:
    scenario = builtin_scenario("urban")
    write_drive(scenario, 5, seed=4, out_dir=tmp_path / "drive", progress=False)
    replay = list(ReplaySource(tmp_path / "drive", rate="max", sleep=lambda _s: False).frames())
    live_source = SimulatorSource(scenario, 4, frames=5, rate="max", wall_clock_ns=lambda: EPOCH_NS)
    live = list(live_source.frames())
    assert [f.index for f in live] == [0, 1, 2, 3, 4]
    assert [f.timestamp_ns - EPOCH_NS for f in live] == [i * 100_000_000 for i in range(5)]
    assert live_source.sensor.name == "hdl64" and live_source.sensor.beams == 64
    assert live_source.vehicle_signal_names == REPLAY_SIGNALS
    for got, want in zip(live, replay, strict=True):
        assert got.points.dtype == np.float32 and got.points.shape[1] == 4
        np.testing.assert_array_equal(got.points, want.points)
        np.testing.assert_allclose(got.pose, want.pose, atol=1e-9)
        assert set(got.vehicle) == set(REPLAY_SIGNALS)
    assert live[0].vehicle == {"speed_mps": 10.0, "accel_mps2": 0.0, "yaw_rate_rps": 0.0}
    # the replay has no motion before its second frame and a start-up jump in accel at it
    assert live[1].vehicle["speed_mps"] == pytest.approx(replay[1].vehicle["speed_mps"])
    for got, want in zip(live[2:], replay[2:], strict=True):
        for name in REPLAY_SIGNALS:
            assert got.vehicle[name] == pytest.approx(want.vehicle[name], abs=1e-6), name
    assert any(f.vehicle["yaw_rate_rps"] != 0.0 for f in live[1:])  # the lane-keeping swing


def test_sensor_rate_paces_and_max_does_not() -> None:
    scenario = builtin_scenario("urban")
    start = time.monotonic()
    assert len(list(SimulatorSource(scenario, 1, frames=4, rate="sensor").frames())) == 4
    assert time.monotonic() - start >= 0.3  # frame 3 is due 3 sensor periods after frame 0

    ticks: list[float] = []

    def clock() -> float:
        ticks.append(0.0)
        return 0.0

    list(SimulatorSource(scenario, 1, frames=2, rate="max", clock=clock).frames())
    assert len(ticks) == 1  # only the start time is read: nothing is paced


def test_close_from_another_thread_wakes_a_waiting_stream() -> None:
    times = iter([0.0, 0.0])  # start and frame 0 at t = 0, then t = -1000 s: frame 1 is far off
    source = SimulatorSource(
        builtin_scenario("urban"), 2, rate="sensor", clock=lambda: next(times, -1000.0)
    )
    frames = source.frames()
    assert next(frames).index == 0
    got: list[int] = []
    consumer = threading.Thread(target=lambda: got.extend(f.index for f in frames), daemon=True)
    consumer.start()
    time.sleep(0.05)
    assert consumer.is_alive()  # waiting for frame 1's due time
    source.close()
    consumer.join(timeout=10.0)
    assert not consumer.is_alive() and got == [] and source.closed
    assert list(source.frames()) == []  # a closed source yields nothing


def test_endless_stream_runs_until_closed() -> None:
    source = make_source(scenario="urban", seed=3, rate="max")
    frames = source.frames()
    assert [f.index for f in itertools.islice(frames, 3)] == [0, 1, 2]
    source.close()
    assert list(frames) == []


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"scenario": "no_such_scenario"}, r"source\.options\.scenario: .*no_such_scenario"),
        ({"scenario": "missing.toml"}, r"source\.options\.scenario: .*missing\.toml"),
        ({"seed": -1}, r"source\.options\.seed: expected an integer >= 0, got -1"),
        ({"frames": 2.5}, r"source\.options\.frames: expected an integer >= 0, got 2\.5"),
        ({"frames": True}, r"source\.options\.frames: .*got True"),
        ({"rate": "fast"}, r"source\.options\.rate: expected one of \['sensor', 'max'\]"),
        ({"speed": 3}, r"source\.options: unknown option\(s\) \['speed'\]"),
    ],
)
def test_bad_options_are_config_errors_naming_the_option(
    options: dict[str, object], message: str
) -> None:
    with pytest.raises(ConfigError, match=message):
        make_source(**options)  # type: ignore[arg-type]


def write_agent_config(tmp_path: Path, endpoint: str, token: str) -> Path:
    path = tmp_path / "agent.toml"
    path.write_text(
        f"""
[vehicle]
id = "sim-car"
token = "{token}"

[source]
kind = "factory"
factory = "simulators.stream:make_source"

[source.options]
scenario = "urban"
seed = 5
frames = 4
rate = "max"

[perception]
factory = "tests.agent.daemon.fakes:make_intensity_analyzer"

[selection]
sample_rate = 0.0
frames_per_hour = 100000
dedup_similarity = 2.0
pre_frames = 0
post_frames = 0

[[selection.rules]]
name = "moving"
when = "vehicle.speed_mps > 5 and vehicle.accel_mps2 > -100"

[spool]
dir = "{tmp_path / "spool"}"
max_bytes = 100000000

[upload]
endpoint = "{endpoint}"
timeout_s = 20
backoff_base_s = 0.05
backoff_cap_s = 0.5

[metrics]
port = 0

[daemon]
exit_when_done = true
"""
    )
    return path


def test_daemon_builds_the_stream_from_config_and_uploads_its_frames(tmp_path: Path) -> None:
    backend = build_backend(local_config(tmp_path / "backend"))
    try:
        token = backend.add_vehicle("sim-car")
        server = start_ingest(backend)
        try:
            config = load_config(write_agent_config(tmp_path, server.target, token), environ={})
            source = build_source(config, lambda _s: False)
            assert isinstance(source, SimulatorSource)
            assert (source.scenario.name, source.seed, source.frame_limit) == ("urban", 5, 4)
            assert Daemon(config).run() == 0
        finally:
            server.stop(grace_s=1.0)
        rows = all_frames(backend.db)
        assert len(rows) == 4  # every simulated frame is moving at 10 m/s
        assert {(r.vehicle, r.sensor_name, r.sensor_beams) for r in rows} == {
            ("sim-car", "hdl64", 64)
        }
        assert {r.rules_fired[0] for r in rows} == {"moving"}
        captured = sorted(r.captured_at_ns for r in rows)
        assert np.diff(captured).tolist() == [100_000_000] * 3  # the sensor period
        for row in rows:
            assert hashlib.sha256(backend.blobs.get(row.blob_key)).hexdigest() == row.id
    finally:
        backend.close()
