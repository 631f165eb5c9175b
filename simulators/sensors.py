"""Spinning LiDAR presets with real beam layouts and their ray directions.

Angles are in degrees in the tables and radians in the arrays; directions are unit vectors in the
sensor frame (x forward, y left, z up). Elevation is measured from the horizontal plane, positive
up; azimuth from +x towards +y.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Final

import numpy as np
import numpy.typing as npt

from simulators.effects import CLEAN, SensorEffects
from simulators.errors import ScenarioError


@dataclass(frozen=True)
class SensorPreset:
    """A spinning LiDAR: one laser per elevation, fired at ``columns`` azimuths per revolution.

    ``mount_height`` is metres above the road; ``max_range``/``min_range`` in metres;
    ``range_noise`` is the one-sigma range error in metres; ``dropout`` the probability that a
    return is lost regardless of its strength; ``rate_hz`` revolutions per second.
    ``realistic`` holds the artefacts this sensor family shows in published data
    (``simulators.effects``); a scenario picks them or a clean sensor.
    """

    name: str
    elevations_deg: tuple[float, ...]
    columns: int
    max_range: float
    min_range: float
    range_noise: float
    dropout: float
    range_at_10pct: float = 70.0
    rate_hz: float = 10.0
    mount_height: float = 1.73
    realistic: SensorEffects = CLEAN

    @property
    def beams(self) -> int:
        return len(self.elevations_deg)

    @property
    def azimuth_step_deg(self) -> float:
        return 360.0 / self.columns

    def directions(self) -> npt.NDArray[np.float32]:
        """Unit ray directions, float32 ``(beams * columns, 3)``, beam-major (one scan line after
        another), each scan line starting at azimuth 0 (straight ahead) and turning left."""
        elevation = np.deg2rad(np.asarray(self.elevations_deg, dtype=np.float64))
        azimuth = np.arange(self.columns, dtype=np.float64) * (2.0 * np.pi / self.columns)
        el, az = np.meshgrid(elevation, azimuth, indexing="ij")
        cos_el = np.cos(el)
        dirs = np.stack([cos_el * np.cos(az), cos_el * np.sin(az), np.sin(el)], axis=-1)
        return dirs.reshape(-1, 3).astype(np.float32)

    def beam_index(self) -> npt.NDArray[np.int32]:
        """The beam (row of ``elevations_deg``) of every ray in ``directions()`` order."""
        return np.repeat(np.arange(self.beams, dtype=np.int32), self.columns)

    def fire_time(self) -> npt.NDArray[np.float32]:
        """Seconds after the sweep start at which every ray in ``directions()`` order fires
        (all lasers of a column together, the columns evenly over one revolution)."""
        column = np.arange(self.columns, dtype=np.float32) / np.float32(self.columns * self.rate_hz)
        return np.tile(column, self.beams)


def _hdl64_elevations() -> tuple[float, ...]:
    # HDL-64E S2: an upper block of 32 lasers from +2.0 to -8.33 deg (about 1/3 deg apart) and a
    # lower block of 32 from -8.83 to -24.33 deg (1/2 deg apart); the 0.5 deg gap between blocks
    # is visible in real KITTI scans as a wider ring spacing.
    upper = np.linspace(2.0, -8.33, 32)
    lower = np.linspace(-8.83, -24.33, 32)
    return tuple(float(round(v, 3)) for v in np.concatenate([upper, lower]))


# VLP-32C (Velodyne manual, table 9-2): dense around the horizon, sparse at the extremes.
_VLP32C_ELEVATIONS: Final[tuple[float, ...]] = (
    15.0, 10.333, 7.0, 4.667, 3.333, 2.333, 1.667, 1.333, 1.0, 0.667, 0.333, 0.0, -0.333, -0.667,
    -1.0, -1.333, -1.667, -2.0, -2.333, -2.667, -3.0, -3.333, -3.667, -4.0, -4.667, -5.333,
    -6.148, -7.254, -8.843, -11.31, -15.639, -25.0,
)  # fmt: skip


# HDL-32E (Velodyne HDL-32E datasheet and user manual: 32 lasers, +10.67 to -30.67 deg, evenly
# 1.33 deg apart); the sensor of nuScenes' LIDAR_TOP.
def _hdl32_elevations() -> tuple[float, ...]:
    return tuple(float(round(v, 3)) for v in np.linspace(10.67, -30.67, 32))


# Pandar40P (Hesai Pandar40P user manual, channel distribution table): 40 channels over +15 to
# -25 deg, 1/3 deg apart between +2 and -6 deg, 1 deg from -6 to -14 deg, sparse at both ends.
_PANDAR40P_ELEVATIONS: Final[tuple[float, ...]] = (
    15.0, 11.0, 8.0, 5.0, 3.0, 2.0, 1.667, 1.333, 1.0, 0.667, 0.333, 0.0, -0.333, -0.667, -1.0,
    -1.333, -1.667, -2.0, -2.333, -2.667, -3.0, -3.333, -3.667, -4.0, -4.333, -4.667, -5.0,
    -5.333, -5.667, -6.0, -7.0, -8.0, -9.0, -10.0, -11.0, -12.0, -13.0, -14.0, -19.0, -25.0,
)  # fmt: skip


def _os128_elevations() -> tuple[float, ...]:
    # Ouster OS1-128: 128 beams spread uniformly over a 45 deg vertical field of view.
    return tuple(float(round(v, 4)) for v in np.linspace(22.5, -22.5, 128))


#: artefacts every family shares in published data (``simulators.effects`` for the sources):
#: multipath as counted on KITTI in issue 12, a little dust, range noise growing by 1 cm per
#: 50 m, beams a few mrad wide, per-laser gains within about 15 %, loss at grazing angles and
#: the uncorrected motion of the sweep
_COMMON = SensorEffects(
    multipath_rate=0.004,
    air_rate=0.0003,
    noise_per_m=0.0002,
    divergence_rad=0.003,
    beam_gain_sigma=0.15,
    grazing_dropout=0.3,
    motion_distortion=True,
)

PRESETS: Final[dict[str, SensorPreset]] = {
    # 2083 columns = 0.1728 deg at 10 Hz, as the HDL-64E in KITTI (about 120k points a frame);
    # KITTI's velodyne files hold intensity in [0, 1] and the sensor 1.73 m above the road.
    "hdl64": SensorPreset(
        name="hdl64",
        elevations_deg=_hdl64_elevations(),
        columns=2083,
        max_range=120.0,
        min_range=0.9,
        range_noise=0.02,
        dropout=0.01,
        realistic=replace(_COMMON, divergence_rad=0.002),
    ),
    # nuScenes' HDL-32E: 20 Hz, about 1085 columns (34k points a sweep), 1.84 m above the road,
    # intensity 0-255 in its .pcd.bin files; datasheet: 2 cm accuracy, 70 m on 10 % targets.
    "hdl32": SensorPreset(
        name="hdl32",
        elevations_deg=_hdl32_elevations(),
        columns=1085,
        max_range=100.0,
        min_range=1.0,
        range_noise=0.02,
        dropout=0.01,
        range_at_10pct=60.0,
        rate_hz=20.0,
        mount_height=1.84,
        realistic=replace(_COMMON, intensity_scale=255.0),
    ),
    # Hesai Pandar40P: 0.2 deg at 10 Hz (1800 columns), 200 m on 20 % targets, 2 cm accuracy
    # (datasheet), reflectivity 0-255; as on the roof of SUSTechPOINTS' capture car (~1.9 m).
    "pandar40p": SensorPreset(
        name="pandar40p",
        elevations_deg=_PANDAR40P_ELEVATIONS,
        columns=1800,
        max_range=200.0,
        min_range=0.3,
        range_noise=0.02,
        dropout=0.01,
        range_at_10pct=110.0,
        mount_height=1.9,
        realistic=replace(_COMMON, intensity_scale=255.0, pitch_deg=0.5),
    ),
    # 1800 columns = 0.2 deg at 10 Hz; Velodyne reports 8-bit calibrated reflectivity.
    "vlp32": SensorPreset(
        name="vlp32",
        elevations_deg=_VLP32C_ELEVATIONS,
        columns=1800,
        max_range=200.0,
        min_range=1.0,
        range_noise=0.03,
        dropout=0.01,
        realistic=replace(_COMMON, intensity_scale=255.0),
    ),
    # 1024 columns in the 1024x10 mode; Ouster: 3 cm accuracy at 1-20 m, 8-bit reflectivity.
    "os128": SensorPreset(
        name="os128",
        elevations_deg=_os128_elevations(),
        columns=1024,
        max_range=120.0,
        min_range=0.5,
        range_noise=0.015,
        dropout=0.005,
        realistic=replace(_COMMON, intensity_scale=255.0, noise_per_m=0.0004),
    ),
}


def get_preset(name: str) -> SensorPreset:
    """The preset called ``name`` (one of ``PRESETS``)."""
    try:
        return PRESETS[name]
    except KeyError:
        raise ScenarioError(
            f"unknown sensor preset {name!r}; choose one of {sorted(PRESETS)}"
        ) from None
