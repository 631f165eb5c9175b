from __future__ import annotations

from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest

from agent.daemon.sources import (
    EXIT_NO_FRAMES,
    EXIT_SKIPPED_FRAMES,
    FileReplaySource,
    ReplaySource,
    load_factory,
    open_replay,
)
from core.errors import ConfigError, FormatError
from core.formats.kitti_bin import write_kitti_bin
from core.formats.nuscenes import encode_nuscenes_points
from core.formats.pcd import encode_pcd, write_pcd
from core.formats.ply import write_ply
from tests.agent.daemon.drive import write_drive


class Time:
    """A fake clock whose sleep advances it and records the waits."""

    def __init__(self) -> None:
        self.now = 0.0
        self.waits: list[float] = []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> bool:
        self.waits.append(seconds)
        self.now += seconds
        return False


@pytest.mark.parametrize(
    ("rate", "rate_hz", "expected_wait"),
    [("recorded", 10.0, 0.1), ("fixed", 4.0, 0.25), ("max", 10.0, None)],
)
def test_pacing(tmp_path: Path, rate: str, rate_hz: float, expected_wait: float | None) -> None:
    write_drive(tmp_path, [False] * 5, points=20)
    t = Time()
    source = ReplaySource(tmp_path, rate=rate, rate_hz=rate_hz, clock=t.clock, sleep=t.sleep)
    frames = list(source.frames())
    assert [f.index for f in frames] == [0, 1, 2, 3, 4]
    if expected_wait is None:
        assert t.waits == []
    else:
        assert t.waits == pytest.approx([expected_wait] * 4)


def test_vehicle_signals_pose_and_sensor_from_the_recording(tmp_path: Path) -> None:
    points = write_drive(tmp_path, [False, True, False], points=20)
    t = Time()
    source = ReplaySource(tmp_path, rate="max", clock=t.clock, sleep=t.sleep)
    frames = list(source.frames())
    assert source.sensor.name == "test32" and source.sensor.max_range_m == 80.0
    assert frames[0].vehicle == {"speed_mps": 0.0, "accel_mps2": 0.0, "yaw_rate_rps": 0.0}
    assert frames[2].vehicle["speed_mps"] == pytest.approx(5.0)  # 0.5 m per 0.1 s
    # the first speed is known only at frame 1: no acceleration is invented from frame 0's 0 m/s
    assert frames[1].vehicle["accel_mps2"] == 0.0
    assert frames[2].vehicle["accel_mps2"] == pytest.approx(0.0, abs=1e-6)  # steady 5 m/s
    assert frames[2].pose[0] == pytest.approx(1.0)
    assert frames[1].timestamp_ns == 1_700_000_000_100_000_000
    np.testing.assert_array_equal(frames[1].points, points[1])


def test_a_stop_during_the_wait_ends_the_replay(tmp_path: Path) -> None:
    write_drive(tmp_path, [False] * 5, points=20)
    source = ReplaySource(tmp_path, rate="fixed", rate_hz=1.0, sleep=lambda _s: True)
    assert [f.index for f in source.frames()] == [0]


def test_load_factory_errors_name_the_option() -> None:
    assert load_factory("json:dumps", "source.factory")([1]) == "[1]"
    with pytest.raises(ConfigError, match=r"source\.factory: cannot import module 'nope_xyz'"):
        load_factory("nope_xyz:f", "source.factory")
    with pytest.raises(ConfigError, match=r"source\.factory: 'json' has no callable 'nothing'"):
        load_factory("json:nothing", "source.factory")
    with pytest.raises(ConfigError, match="expected 'module:function'"):
        load_factory("json", "source.factory")


def test_plain_directory_of_pcd_and_bin_files(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    clouds = [rng.uniform(0, 1, size=(30, 4)).astype(np.float32) for _ in range(3)]
    write_pcd(tmp_path / "a_000.pcd", clouds[0], data="binary_compressed")
    organised = np.vstack([clouds[1], np.full((2, 4), np.nan, dtype=np.float32)])
    (tmp_path / "a_001.pcd").write_bytes(encode_pcd_unchecked(organised))
    write_kitti_bin(tmp_path / "a_002.bin", clouds[2])
    (tmp_path / "notes.txt").write_text("ignored")
    t = Time()
    assert isinstance(
        open_replay(tmp_path, rate="max", rate_hz=1.0, sleep=t.sleep), FileReplaySource
    )
    source = FileReplaySource(tmp_path, rate="fixed", rate_hz=2.0, clock=t.clock, sleep=t.sleep)
    frames = list(source.frames())
    assert [f.index for f in frames] == [0, 1, 2]
    for got, want in zip(frames, clouds, strict=True):
        np.testing.assert_array_equal(got.points, want)  # the NaN no-returns were dropped
    assert frames[2].timestamp_ns == 1_000_000_000
    assert source.vehicle_signal_names == ()
    assert t.waits == pytest.approx([0.5, 0.5])
    (tmp_path / "empty").mkdir()
    with pytest.raises(FormatError, match=r"no velodyne/ folder and no point files \(\.bin, \.pcd"):
        open_replay(tmp_path / "empty", rate="max", rate_hz=1.0, sleep=t.sleep)
    with pytest.raises(FormatError, match="nothing: not a directory"):
        open_replay(tmp_path / "nothing", rate="max", rate_hz=1.0, sleep=t.sleep)


def encode_pcd_unchecked(points: npt.NDArray[np.float32]) -> bytes:
    """A binary PCD with NaN rows, as organised clouds from real sensors have."""
    n = len(points)
    header = (
        "VERSION 0.7\nFIELDS x y z intensity\nSIZE 4 4 4 4\nTYPE F F F F\nCOUNT 1 1 1 1\n"
        f"WIDTH {n}\nHEIGHT 1\nVIEWPOINT 0 0 0 1 0 0 0\nPOINTS {n}\nDATA binary\n"
    )
    return header.encode() + points.astype("<f4").tobytes()


def test_sensor_from_the_simulator_meta(tmp_path: Path) -> None:
    write_drive(tmp_path, [False], points=10)
    (tmp_path / "meta.json").write_text('{"sensor": {"preset": "vlp16", "beams": 16}}')
    source = ReplaySource(tmp_path, rate="max", sleep=lambda _s: False)
    assert (source.sensor.name, source.sensor.beams, source.sensor.max_range_m) == (
        "vlp16",
        16,
        0.0,
    )


def test_a_velodyne_folder_of_any_point_format_is_replayed(tmp_path: Path) -> None:
    # issue 12: DIR/velodyne/*.pcd was read as an empty drive (only .bin was looked for)
    points = write_drive(tmp_path, [False] * 4, points=20)
    velodyne = tmp_path / "velodyne"
    for name in ("000000.bin", "000001.bin", "000002.bin"):
        (velodyne / name).unlink()
    write_pcd(velodyne / "000000.pcd", points[0], data="binary_compressed")
    write_ply(velodyne / "000001.ply", points[1])
    (velodyne / "000002.pcd.bin").write_bytes(encode_nuscenes_points(points[2]))
    source = ReplaySource(tmp_path, rate="max", sleep=lambda _s: False)
    frames = list(source.frames())
    assert [f.index for f in frames] == [0, 1, 2, 3]
    for got, want in zip(frames, points, strict=True):
        np.testing.assert_allclose(got.points, want, atol=1e-5)
    assert frames[3].timestamp_ns == 1_700_000_000_300_000_000  # labels still give the times
    assert source.report.exit_code() == 0 and source.report.read == 4
    (velodyne / "000003.pcd").write_bytes(encode_pcd(points[3]))
    with pytest.raises(
        FormatError, match=r"frame 3 has two point files, 000003\.bin and 000003\.pcd"
    ):
        ReplaySource(tmp_path, rate="max", sleep=lambda _s: False)


def test_unreadable_frames_are_skipped_counted_and_named(tmp_path: Path) -> None:
    rng = np.random.default_rng(2)
    cloud = rng.uniform(0, 1, size=(30, 4)).astype(np.float32)
    (tmp_path / "000.pcd.bin").write_bytes(encode_nuscenes_points(cloud))
    (tmp_path / "001.bin").write_bytes(cloud.tobytes()[:-4])  # truncated
    write_kitti_bin(tmp_path / "002.bin", cloud)
    (tmp_path / "003.pcd").write_bytes(b"FIELDS x y\nDATA ascii\n")
    source = FileReplaySource(tmp_path, rate="max", sleep=lambda _s: False)
    frames = list(source.frames())
    assert [f.index for f in frames] == [0, 2]
    assert len(frames[0].points) == 30  # 20-byte nuScenes records, not 16-byte KITTI ones
    report = source.report
    assert (report.total, report.read, report.exit_code()) == (4, 2, EXIT_SKIPPED_FRAMES)
    assert [name for name, _ in report.skipped] == ["001.bin", "003.pcd"]
    summary = report.summary(first=1)
    assert summary.startswith("read 2 of 4 frame(s), skipped 2; first: 001.bin: ")
    assert "not a multiple of the 16-byte KITTI velodyne record" in summary
    assert summary.endswith("(and 1 more)")
    for name in ("000.pcd.bin", "002.bin"):
        (tmp_path / name).write_bytes(b"\0" * 7)
    source = FileReplaySource(tmp_path, rate="max", sleep=lambda _s: False)
    assert list(source.frames()) == []
    assert source.report.exit_code() == EXIT_NO_FRAMES
    empty = tmp_path / "empty_drive"
    (empty / "velodyne").mkdir(parents=True)
    source2 = ReplaySource(empty, rate="max", sleep=lambda _s: False)
    assert list(source2.frames()) == []
    assert source2.report.exit_code() == EXIT_NO_FRAMES
    assert "the drive has no frame" in source2.report.summary()
