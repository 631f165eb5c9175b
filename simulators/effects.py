"""Real-sensor artefacts of a spinning LiDAR, applied around the ray cast (pure numpy, no I/O).

A clean simulated cloud lies exactly on the surfaces; real sweeps do not, and perception that
only ever saw clean clouds failed on them (issue 12). ``SensorEffects`` holds the artefacts
of one sensor, each switched off by its zero value:

- **multipath** (``multipath_rate``): a road return replaced by a ghost that lies
  ``multipath_depth_m`` below the road along the same ray, the ghost ``multipath_range_m``
  away from the sensor horizontally (ghosts that would land outside stay road returns). The
  rate default (0.4 % of road returns, 0.3-3 m deep, 5-15 m) is what issue 12 counted on a
  KITTI HDL-64E sweep (about 150 such returns in the 5-15 m ring).
- **air** (``air_rate``): spurious returns in clear air (dust, exhaust, insects) at
  ``min_range`` plus an exponential distance of mean ``air_range_m``; they add to the
  weather's drop and fog returns.
- **range noise**: one sigma ``range_noise + noise_per_m * r + 0.5 * r * divergence_rad *
  tan(incidence)`` metres: the datasheet accuracy at short range, growing with range and with
  the footprint a beam of that divergence spreads along an inclined surface (capped at
  ``MAX_SIGMA``).
- **beam gain** (``beam_gain_sigma``): each laser's intensity response differs (log-normal
  gain per beam, fixed for a sensor unit; Levinson and Thrun, "Unsupervised Calibration for
  Multi-beam Lasers", ISER 2010, show the ring-to-ring differences of an HDL-64E).
- **intensity scale** (``intensity_scale``): 1 reports [0, 1] (KITTI), 255 reports [0, 255]
  (nuScenes, Hesai and Ouster drivers report 8-bit reflectivity).
- **wet road** (``wet_road`` 0..1): the road gets darker and mirror-like, so returns at
  grazing angles are lost and the rest are weaker.
- **grazing** (``grazing_dropout``): extra loss ``grazing_dropout * (1 - cos)**8`` at
  grazing incidence, beyond the back-scatter term of the return model.
- **motion** (``motion_distortion``): the vehicle moves during the sweep; every column is
  fired from where the sensor is at its firing time and reported in the sensor frame of that
  moment, uncorrected, as drivers deliver it (a 100 ms sweep at 10 m/s smears 1 m). Boxes are
  labelled where the sensor saw each object (at the time its centre was swept), as annotators
  label the cloud they are shown.
- **tilt** (``pitch_deg``, ``roll_deg``): the sensor is mounted tilted; points are reported
  in the tilted sensor frame. Mounting height is ``SensorPreset.mount_height``.

Every point also carries its ring (beam) index and its time within the sweep
(``ray_ring``, ``ray_time``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields, replace
from typing import Final

import numpy as np
import numpy.typing as npt

F32 = npt.NDArray[np.float32]
I64 = npt.NDArray[np.int64]

#: largest one-sigma range noise any ray gets (metres)
MAX_SIGMA: Final = 0.3

#: the artefacts one by one (robustness benchmark): name -> the fields it switches on
EFFECT_FIELDS: Final[dict[str, tuple[str, ...]]] = {
    "multipath": ("multipath_rate", "multipath_range_m", "multipath_depth_m"),
    "air": ("air_rate", "air_range_m"),
    "range_noise": ("noise_per_m", "divergence_rad"),
    "beam_gain": ("beam_gain_sigma",),
    "intensity_scale": ("intensity_scale",),
    "wet_road": ("wet_road",),
    "grazing": ("grazing_dropout",),
    "motion": ("motion_distortion",),
    "tilt": ("pitch_deg", "roll_deg"),
}


@dataclass(frozen=True)
class SensorEffects:
    """The artefacts of one sensor (see the module docstring); all zero = a clean sensor."""

    multipath_rate: float = 0.0  #: share of road returns in range turned into ghosts below
    multipath_range_m: tuple[float, float] = (5.0, 15.0)
    multipath_depth_m: tuple[float, float] = (0.3, 3.0)
    air_rate: float = 0.0  #: spurious returns per ray in clear air
    air_range_m: float = 6.0  #: their mean distance beyond min_range, metres
    noise_per_m: float = 0.0  #: range noise growth, metres per metre of range
    divergence_rad: float = 0.0  #: beam divergence (incidence-dependent noise)
    beam_gain_sigma: float = 0.0  #: log-normal sigma of the per-beam intensity gain
    intensity_scale: float = 1.0  #: 1: intensity in [0, 1]; 255: in [0, 255]
    wet_road: float = 0.0  #: 0 dry .. 1 soaked
    grazing_dropout: float = 0.0  #: extra loss at grazing incidence
    motion_distortion: bool = False  #: fire each column from the moving sensor
    pitch_deg: float = 0.0  #: mounting tilt about the sensor's y axis, nose down positive
    roll_deg: float = 0.0  #: mounting tilt about the sensor's x axis

    def only(self, *names: str) -> SensorEffects:
        """These effects (names of ``EFFECT_FIELDS``) as set here, every other one clean."""
        clean = SensorEffects()
        keep = {f for n in names for f in EFFECT_FIELDS[n]}
        return replace(
            clean, **{f.name: getattr(self, f.name) for f in fields(self) if f.name in keep}
        )

    def tilt(self) -> npt.NDArray[np.float64]:
        """Rotation (3, 3) from the tilted sensor frame to the level vehicle frame."""
        p, r = math.radians(self.pitch_deg), math.radians(self.roll_deg)
        rot_y = np.array([[math.cos(p), 0, math.sin(p)], [0, 1, 0], [-math.sin(p), 0, math.cos(p)]])
        rot_x = np.array([[1, 0, 0], [0, math.cos(r), -math.sin(r)], [0, math.sin(r), math.cos(r)]])
        out: npt.NDArray[np.float64] = rot_y @ rot_x
        return out


CLEAN: Final = SensorEffects()


def range_sigma(t_hit: F32, cos_incidence: F32, base: float, effects: SensorEffects) -> F32:
    """One-sigma range noise per ray (metres): ``base`` (datasheet accuracy plus weather)
    growing with range ``t_hit`` and with the incidence (|cos| ``cos_incidence``)."""
    t = np.where(np.isfinite(t_hit), t_hit, 0.0).astype(np.float32)
    cos = np.clip(cos_incidence, 0.05, 1.0)
    tan = np.sqrt(1.0 - cos * cos) / cos
    sigma = base + effects.noise_per_m * t + 0.5 * t * effects.divergence_rad * tan
    out: F32 = np.minimum(sigma, MAX_SIGMA).astype(np.float32)
    return out


def ray_dropout(cos_incidence: F32, base: float, effects: SensorEffects) -> F32:
    """Probability per ray that a return is lost whatever its strength: ``base`` plus the
    grazing-angle loss."""
    graze = effects.grazing_dropout * (1.0 - np.clip(cos_incidence, 0.0, 1.0)) ** 8
    out: F32 = np.clip(base + graze, 0.0, 1.0).astype(np.float32)
    return out


def wet_surface(
    reflectivity: F32, specular: F32, on_road: npt.NDArray[np.bool_], effects: SensorEffects
) -> tuple[F32, F32]:
    """Reflectivity and specular share per ray after the road got wet: water darkens asphalt
    (about half the diffuse return when soaked) and makes it mirror-like."""
    if effects.wet_road <= 0.0:
        return reflectivity, specular
    w = np.float32(effects.wet_road)
    refl = np.where(on_road, reflectivity * (1.0 - 0.5 * w), reflectivity).astype(np.float32)
    spec = np.where(on_road, np.maximum(specular, 0.6 * w), specular).astype(np.float32)
    return refl, spec


def multipath_ghosts(
    points: F32,
    world_dz: F32,
    on_road: npt.NDArray[np.bool_],
    effects: SensorEffects,
    rng: np.random.Generator,
) -> npt.NDArray[np.bool_]:
    """Turn some road returns into ghosts below the road, in place; returns which points.

    ``points`` (N, 4) the detected returns in the sensor frame, ``world_dz`` (N,) the vertical
    component of each one's ray in the level frame, ``on_road`` (N,) whether the return is a road return. A ghost keeps its ray and lies
    ``depth`` metres below the road: its range grows by ``depth / |dz|``.
    """
    n = points.shape[0]
    draw = rng.random(n, dtype=np.float32)
    d_lo, d_hi = effects.multipath_depth_m
    depth = np.asarray(rng.uniform(d_lo, d_hi, size=n), dtype=np.float32)
    lo, hi = effects.multipath_range_m
    ghost = on_road & (draw < effects.multipath_rate) & (world_dz < -0.01)
    pick = np.flatnonzero(ghost)
    r = np.linalg.norm(points[pick, :3], axis=1)
    scale = (r + depth[pick] / -world_dz[pick]) / np.maximum(r, 1e-3)
    moved = points[pick, :3] * scale[:, None]
    r_xy = np.hypot(moved[:, 0], moved[:, 1])
    inside = (r_xy >= lo) & (r_xy <= hi)
    pick, moved = pick[inside], moved[inside]
    points[pick, :3] = moved
    points[pick, 3] *= 0.5  # the detour costs power
    out = np.zeros(n, dtype=bool)
    out[pick] = True
    return out


def beam_gains(beams: int, effects: SensorEffects, rng: np.random.Generator) -> F32:
    """Intensity gain of each laser of one sensor unit (log-normal around 1)."""
    gains = np.exp(rng.normal(0.0, effects.beam_gain_sigma, beams))
    out: F32 = gains.astype(np.float32)
    return out


def scale_intensity(intensity: F32, gain: F32, effects: SensorEffects) -> F32:
    """Calibrated intensity ``intensity`` (N,) in [0, 1] times the beam ``gain`` (N,),
    clipped, then on the sensor's output scale."""
    out: F32 = (np.clip(intensity * gain, 0.0, 1.0) * effects.intensity_scale).astype(np.float32)
    return out
