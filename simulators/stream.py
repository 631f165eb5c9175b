"""A live simulated LiDAR for the vehicle daemon: the scene simulator as a frame ``Source``.

The agent never imports ``simulators``; the daemon builds this source from its config::

    [source]
    kind = "factory"
    factory = "simulators.stream:make_source"
    [source.options]            # keyword arguments of make_source
    scenario = "urban_rare"     # built-in name or a scenario .toml path
    seed = 7
    frames = 0                  # 0: endless
    rate = "sensor"             # "sensor": the preset's rate (10 Hz); "max": as fast as possible

Frames are simulated one at a time, on demand, in the thread that iterates ``frames()``; at
``rate = "sensor"`` frame ``i`` is handed out no earlier than ``i / rate_hz`` seconds after the
first (a simulation slower than the sensor simply runs late; nothing is dropped). Timestamps are
Unix-epoch nanoseconds: the wall-clock time of the first frame plus the simulated time, so the
spacing is exactly the sensor period whatever the pacing. Poses are the sensor's in the
simulator's world frame (metres, radians). Vehicle signals come from the ego motion:
``speed_mps`` (m/s over the last frame period), ``accel_mps2`` (change of that speed per
second) and ``yaw_rate_rps`` (change of heading per second, radians), with the same names and
finite differences as ``agent.daemon.sources.ReplaySource`` derives from a recorded drive's poses.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable, Iterator
from typing import Final

from agent.daemon.sources import REPLAY_SIGNALS, SensorDescription, SourceFrame
from core.errors import ConfigError
from simulators.drive import DriveSimulator
from simulators.errors import SimulatorError
from simulators.scenario import Scenario, resolve_scenario
from simulators.sensors import get_preset

log = logging.getLogger(__name__)

#: pacing modes of ``make_source(rate=...)``
RATES: Final = ("sensor", "max")
#: a stream this many seconds behind its schedule is reported (once) as slower than real time
LATE_WARNING_S: Final = 1.0


class SimulatorSource:
    """Streams a simulated drive of ``scenario`` with ``seed``: ``frames`` frames (0: endless),
    paced at the sensor rate (``rate = "sensor"``) or unpaced (``"max"``).

    ``clock`` (monotonic seconds) and ``wall_clock_ns`` (Unix-epoch nanoseconds) are injected so
    pacing and timestamps are testable. ``close()`` may be called from any thread: a ``frames()``
    waiting for its next frame's due time wakes at once and returns; one simulating a frame
    returns as soon as that frame is done, without yielding it.
    """

    vehicle_signal_names: tuple[str, ...] = REPLAY_SIGNALS

    def __init__(
        self,
        scenario: Scenario,
        seed: int,
        *,
        frames: int = 0,
        rate: str = "sensor",
        clock: Callable[[], float] = time.monotonic,
        wall_clock_ns: Callable[[], int] = time.time_ns,
    ) -> None:
        if frames < 0:
            raise ValueError(f"frames must be >= 0 (0: endless), got {frames}")
        if rate not in RATES:
            raise ValueError(f"rate must be one of {RATES}, got {rate!r}")
        self.scenario = scenario
        self.seed = seed
        self.frame_limit = frames
        self.rate = rate
        preset = get_preset(scenario.sensor)
        self.rate_hz = preset.rate_hz
        self.sensor = SensorDescription(preset.name, preset.beams, preset.max_range)
        self._clock = clock
        self._wall_clock_ns = wall_clock_ns
        self._closed = threading.Event()

    @property
    def closed(self) -> bool:
        """True once ``close()`` was called."""
        return self._closed.is_set()

    def close(self) -> None:
        """Stop the stream; thread-safe and idempotent."""
        self._closed.set()

    def frames(self) -> Iterator[SourceFrame]:
        """Simulate and yield frames from index 0 (each call starts the drive afresh)."""
        if self._closed.is_set():
            return
        sim = DriveSimulator(self.scenario, self.seed)
        dt = 1.0 / self.rate_hz
        start = self._clock()
        epoch_ns = self._wall_clock_ns()
        previous: tuple[float, float] | None = None  # speed (m/s), yaw (rad) of the last frame
        warned_late = False
        index = 0
        while not self.frame_limit or index < self.frame_limit:
            if self.rate == "sensor":
                wait = start + index * dt - self._clock()
                if wait > 0.0:
                    if self._closed.wait(wait):
                        return
                elif -wait > LATE_WARNING_S and not warned_late:
                    warned_late = True
                    log.warning(
                        "simulated LiDAR is %.1f s behind its %.1f Hz schedule at frame %d; "
                        "the simulation is slower than real time",
                        -wait,
                        self.rate_hz,
                        index,
                    )
            if self._closed.is_set():
                return
            points, labels = sim.frame()
            if self._closed.is_set():
                return  # closed while simulating: the frame is not handed out
            speed = abs(sim.traffic.ego_velocity)
            yaw = labels.pose[5]
            if previous is None:
                accel, yaw_rate = 0.0, 0.0
            else:
                accel = (speed - previous[0]) / dt
                yaw_rate = math.remainder(yaw - previous[1], 2.0 * math.pi) / dt
            previous = (speed, yaw)
            yield SourceFrame(
                index=labels.index,
                timestamp_ns=epoch_ns + labels.timestamp_ns,
                points=points,
                pose=labels.pose,
                vehicle={"speed_mps": speed, "accel_mps2": accel, "yaw_rate_rps": yaw_rate},
            )
            index += 1


def make_source(
    scenario: str = "urban",
    seed: int = 0,
    frames: int = 0,
    rate: str = "sensor",
    **unknown: object,
) -> SimulatorSource:
    """The ``source.factory`` entry point: ``[source.options]`` are these keyword arguments.

    ``scenario``: a built-in scenario name or a scenario ``.toml`` path; ``seed``: the drive's
    random seed (same seed, same points); ``frames``: how many frames before the stream ends
    (0: endless); ``rate``: ``"sensor"`` (the sensor preset's rate) or ``"max"``.
    Wrong options raise ``agent.errors.ConfigError`` naming ``source.options.<name>``, so the
    daemon reports them as configuration errors.
    """
    if unknown:
        raise ConfigError(
            f"source.options: unknown option(s) {sorted(unknown)} for simulators.stream; "
            "expected scenario, seed, frames, rate"
        )
    if not isinstance(scenario, str) or not scenario:
        raise ConfigError(
            f"source.options.scenario: expected a scenario name or path, got {scenario!r}"
        )
    for name, number in (("seed", seed), ("frames", frames)):
        if isinstance(number, bool) or not isinstance(number, int) or number < 0:
            raise ConfigError(f"source.options.{name}: expected an integer >= 0, got {number!r}")
    if rate not in RATES:
        raise ConfigError(f"source.options.rate: expected one of {list(RATES)}, got {rate!r}")
    try:
        resolved = resolve_scenario(scenario)
    except SimulatorError as exc:
        raise ConfigError(f"source.options.scenario: {exc}") from exc
    return SimulatorSource(resolved, seed, frames=frames, rate=rate)
