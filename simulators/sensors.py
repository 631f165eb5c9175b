"""Spinning LiDAR presets with real beam layouts and their ray directions.

Angles are in degrees in the tables and radians in the arrays; directions are unit vectors in the
sensor frame (x forward, y left, z up). Elevation is measured from the horizontal plane, positive
up; azimuth from +x towards +y.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

import numpy as np
import numpy.typing as npt

from simulators.errors import ScenarioError


@dataclass(frozen=True)
class SensorPreset:
    """A spinning LiDAR: one laser per elevation, fired at ``columns`` azimuths per revolution.

    ``mount_height`` is metres above the road; ``max_range``/``min_range`` in metres;
    ``range_noise`` is the one-sigma range error in metres; ``dropout`` the probability that a
    return is lost regardless of its strength; ``rate_hz`` revolutions per second.
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


def _os128_elevations() -> tuple[float, ...]:
    # Ouster OS1-128: 128 beams spread uniformly over a 45 deg vertical field of view.
    return tuple(float(round(v, 4)) for v in np.linspace(22.5, -22.5, 128))


PRESETS: Final[dict[str, SensorPreset]] = {
    # 2083 columns = 0.1728 deg at 10 Hz, as the HDL-64E in KITTI (about 120k points a frame).
    "hdl64": SensorPreset(
        name="hdl64",
        elevations_deg=_hdl64_elevations(),
        columns=2083,
        max_range=120.0,
        min_range=0.9,
        range_noise=0.02,
        dropout=0.01,
    ),
    # 1800 columns = 0.2 deg at 10 Hz.
    "vlp32": SensorPreset(
        name="vlp32",
        elevations_deg=_VLP32C_ELEVATIONS,
        columns=1800,
        max_range=200.0,
        min_range=1.0,
        range_noise=0.03,
        dropout=0.01,
    ),
    # 1024 columns in the 1024x10 mode.
    "os128": SensorPreset(
        name="os128",
        elevations_deg=_os128_elevations(),
        columns=1024,
        max_range=120.0,
        min_range=0.5,
        range_noise=0.015,
        dropout=0.005,
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
