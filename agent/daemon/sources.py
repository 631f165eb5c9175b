"""Frame sources: a recorded drive replayed from disk (the dataset layout, or a plain directory
of point files: ``.pcd``, ``.ply``, ``.las``/``.laz``, KITTI ``.bin``, nuScenes ``.pcd.bin``, each
read by ``core.formats.pointfile``), or any plug-in built by a dotted factory.

A replay never stops at an unreadable file: it skips it, logs why, and counts it in its
``ReplayReport`` so the run can say how many frames it read and skipped and exit non-zero.

A live simulator stream is plugged in by configuration, never imported here (the agent must not
depend on ``simulators``)::

    [source]
    kind = "factory"
    factory = "simulators.stream:make_source"   # called as make_source(**source.options)

The factory must return an object satisfying ``Source`` below; ``simulators.stream`` is one.
"""

from __future__ import annotations

import importlib
import logging
import math
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt

from core.errors import ConfigError, FormatError
from core.formats.dataset import Dataset, FrameLabels
from core.formats.pointfile import POINT_FILE_SUFFIXES, is_point_file, read_point_file

log = logging.getLogger(__name__)

Pose = tuple[float, float, float, float, float, float]  # x, y, z (m), roll, pitch, yaw (rad)
#: Sleeps for seconds; True if woken early because the agent is stopping.
Sleeper = Callable[[float], bool]


@dataclass(frozen=True)
class SensorDescription:
    """The LiDAR that produced the frames (goes into every frame's metadata)."""

    name: str = "unknown"
    beams: int = 0
    max_range_m: float = 0.0


@dataclass(frozen=True)
class SourceFrame:
    """One frame from a source: float32 ``(N, 4)`` points in the sensor frame, capture time in
    Unix-epoch (or recording-relative) nanoseconds, ego pose, and vehicle signals by name."""

    index: int
    timestamp_ns: int
    points: npt.NDArray[np.float32]
    pose: Pose = (0.0, 0.0, 0.0, 0.0, 0.0, 0.0)
    vehicle: dict[str, float] = field(default_factory=dict)


class Source(Protocol):
    """What the pipeline needs of a source."""

    @property
    def sensor(self) -> SensorDescription: ...

    @property
    def vehicle_signal_names(self) -> tuple[str, ...]:
        """Vehicle signals the frames may carry (rules may refer to ``vehicle.<name>``)."""
        ...

    def frames(self) -> Iterator[SourceFrame]: ...

    def close(self) -> None:
        """Release the source; called on stop, possibly from another thread while ``frames()``
        is waiting, which must then return."""
        ...


#: exit code of a replay run that skipped some frames (the others were processed)
EXIT_SKIPPED_FRAMES = 3
#: exit code of a replay run that read no frame at all
EXIT_NO_FRAMES = 4


@dataclass
class ReplayReport:
    """How a replay went: the frames it found, read and skipped (file name and reason)."""

    total: int
    read: int = 0
    skipped: list[tuple[str, str]] = field(default_factory=list)

    def skip(self, name: str, reason: str) -> None:
        log.error("replay: skipping %s: %s", name, reason)
        self.skipped.append((name, reason))

    def exit_code(self) -> int:
        """0 every frame read; ``EXIT_SKIPPED_FRAMES`` some skipped; ``EXIT_NO_FRAMES`` none
        read (an empty drive, or every file unreadable)."""
        if self.read == 0:
            return EXIT_NO_FRAMES
        return EXIT_SKIPPED_FRAMES if self.skipped else 0

    def summary(self, first: int = 3) -> str:
        """One line: counts and the first ``first`` reasons."""
        text = f"read {self.read} of {self.total} frame(s), skipped {len(self.skipped)}"
        if self.skipped:
            reasons = "; ".join(f"{name}: {why}" for name, why in self.skipped[:first])
            more = f" (and {len(self.skipped) - first} more)" if len(self.skipped) > first else ""
            text += f"; first: {reasons}{more}"
        elif self.read == 0:
            text += "; the drive has no frame"
        return text


#: Vehicle signals a replayed drive derives from consecutive poses and timestamps.
REPLAY_SIGNALS = ("speed_mps", "accel_mps2", "yaw_rate_rps")


class ReplaySource:
    """Replays a dataset directory (``core.formats.dataset``) at its recorded rate (from the
    timestamps), at ``rate_hz``, or as fast as possible (``rate="max"``).

    ``clock`` and ``sleep`` are injected so pacing is testable without waiting.
    """

    vehicle_signal_names = REPLAY_SIGNALS

    def __init__(
        self,
        root: Path,
        *,
        rate: str = "recorded",
        rate_hz: float = 10.0,
        clock: Callable[[], float] = time.monotonic,
        sleep: Sleeper,
    ) -> None:
        self.dataset = Dataset(root)
        self.rate = rate
        self.rate_hz = rate_hz
        self._clock = clock
        self._sleep = sleep
        self.sensor = _sensor_from_meta(self.dataset.meta())
        self.report = ReplayReport(len(self.dataset))

    def frames(self) -> Iterator[SourceFrame]:
        self.report = ReplayReport(len(self.dataset))
        start_wall = self._clock()
        first_ts: int | None = None
        previous: tuple[int, Pose, float] | None = None  # timestamp, pose, speed
        for position, index in enumerate(self.dataset.indices):
            labels = self._labels(index)
            timestamp = _timestamp(labels, position, self.rate_hz)
            first_ts = timestamp if first_ts is None else first_ts
            due = self._due(position, timestamp - first_ts)
            wait = due - (self._clock() - start_wall)
            if wait > 0 and self._sleep(wait):
                return  # stopping
            pose: Pose = labels.pose if labels is not None else (0.0,) * 6
            vehicle: dict[str, float] = {}
            if labels is not None:
                vehicle, speed = _motion(previous, timestamp, pose)
                previous = (timestamp, pose, speed)
            try:
                points = self.dataset.points(index)
            except FormatError as exc:
                # one unreadable file must not end the drive: skip it, say which
                self.report.skip(self.dataset.path(index).name, str(exc))
                continue
            self.report.read += 1
            yield SourceFrame(index, timestamp, points, pose, vehicle)

    def __len__(self) -> int:
        return len(self.dataset)

    def _labels(self, index: int) -> FrameLabels | None:
        if not self.dataset.has_labels(index):
            return None
        try:
            return self.dataset.labels(index)
        except FormatError as exc:
            log.warning("replay: frame %d labels unreadable, no pose: %s", index, exc)
            return None

    def _due(self, position: int, since_first_ns: int) -> float:
        if self.rate == "max":
            return 0.0
        if self.rate == "fixed":
            return position / self.rate_hz
        return since_first_ns / 1e9

    def close(self) -> None:
        """Nothing to release: files are read per frame."""


class FileReplaySource:
    """Replays a plain directory of point files (names ending in
    ``core.formats.pointfile.POINT_FILE_SUFFIXES``; the format comes from each file) in name
    order, at ``rate_hz`` or as fast as possible. Such files carry no timestamps or poses:
    capture times are ``position / rate_hz`` and no vehicle signals are provided. PCD/PLY
    no-return points (NaN) are dropped."""

    vehicle_signal_names: tuple[str, ...] = ()

    def __init__(
        self,
        root: Path,
        *,
        rate: str = "fixed",
        rate_hz: float = 10.0,
        clock: Callable[[], float] = time.monotonic,
        sleep: Sleeper,
    ) -> None:
        if not root.is_dir():
            raise FormatError(f"{root}: not a directory")
        self.files = sorted(p for p in root.iterdir() if p.is_file() and is_point_file(p))
        if not self.files:
            raise FormatError(
                f"{root}: no velodyne/ folder and no point files "
                f"({', '.join(POINT_FILE_SUFFIXES)}, .pcd.bin)"
            )
        self.report = ReplayReport(len(self.files))
        self.rate = rate
        self.rate_hz = rate_hz
        self._clock = clock
        self._sleep = sleep
        self.sensor = SensorDescription()

    def __len__(self) -> int:
        return len(self.files)

    def frames(self) -> Iterator[SourceFrame]:
        self.report = ReplayReport(len(self.files))
        start_wall = self._clock()
        for position, path in enumerate(self.files):
            if self.rate != "max":
                wait = position / self.rate_hz - (self._clock() - start_wall)
                if wait > 0 and self._sleep(wait):
                    return
            try:
                points = read_point_file(path).points
            except FormatError as exc:
                self.report.skip(path.name, str(exc))
                continue
            self.report.read += 1
            yield SourceFrame(position, int(position * 1e9 / self.rate_hz), points)

    def close(self) -> None:
        """Nothing to release: files are read per frame."""


def open_replay(
    root: Path, *, rate: str, rate_hz: float, sleep: Sleeper
) -> ReplaySource | FileReplaySource:
    """A dataset directory (with ``velodyne/``) or a plain directory of point files."""
    if (root / "velodyne").is_dir():
        return ReplaySource(root, rate=rate, rate_hz=rate_hz, sleep=sleep)
    return FileReplaySource(root, rate=rate, rate_hz=rate_hz, sleep=sleep)


def _timestamp(labels: FrameLabels | None, position: int, rate_hz: float) -> int:
    if labels is not None and labels.timestamp_ns:
        return labels.timestamp_ns
    return int(position * 1e9 / rate_hz)  # unlabelled drive: assume the nominal rate


def _motion(
    previous: tuple[int, Pose, float] | None, timestamp: int, pose: Pose
) -> tuple[dict[str, float], float]:
    # The first frame has no motion to derive; its speed is NaN internally so the second frame
    # reports no acceleration instead of a jump from 0 to cruising speed within one period.
    if previous is None or timestamp <= previous[0]:
        return {"speed_mps": 0.0, "accel_mps2": 0.0, "yaw_rate_rps": 0.0}, math.nan
    dt = (timestamp - previous[0]) / 1e9
    old = previous[1]
    speed = math.hypot(pose[0] - old[0], pose[1] - old[1]) / dt
    dyaw = math.remainder(pose[5] - old[5], 2 * math.pi)
    accel = 0.0 if math.isnan(previous[2]) else (speed - previous[2]) / dt
    return {"speed_mps": speed, "accel_mps2": accel, "yaw_rate_rps": dyaw / dt}, speed


def _sensor_from_meta(meta: dict[str, Any]) -> SensorDescription:
    sensor = meta.get("sensor")
    if isinstance(sensor, str):
        return SensorDescription(name=sensor)
    if isinstance(sensor, dict):
        # the simulator writes its sensor "preset"; recorded drives may carry a "name"
        name = str(sensor.get("name") or sensor.get("preset") or "unknown")
        try:
            return SensorDescription(
                name=name,
                beams=int(sensor.get("beams", 0)),
                max_range_m=float(sensor.get("max_range_m", 0.0)),
            )
        except (TypeError, ValueError):
            return SensorDescription(name=name)
    return SensorDescription()


def load_factory(dotted: str, option: str) -> Callable[..., Any]:
    """Import ``"package.module:function"``; ConfigError names ``option`` if it fails."""
    module_name, _, attr = dotted.partition(":")
    if not module_name or not attr:
        raise ConfigError(f"{option}: expected 'module:function', got {dotted!r}")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise ConfigError(f"{option}: cannot import module {module_name!r}: {exc}") from exc
    factory = getattr(module, attr, None)
    if not callable(factory):
        raise ConfigError(f"{option}: {module_name!r} has no callable {attr!r}")
    return factory  # type: ignore[no-any-return]
