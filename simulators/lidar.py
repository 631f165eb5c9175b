"""The LiDAR return model: from ray hits to noisy points with intensities. Pure numpy, no I/O.

Received power follows the LiDAR equation for a target that fills the beam,
``P ~ rho * (0.3 + 0.7 * cos(theta)) * exp(-2 * alpha * r) / r**2``: a Lambertian term plus a
back-scatter floor, since rough asphalt and paint still return light at grazing angles (a pure
cosine would blind a 64-beam sensor to the road beyond ~15 m, unlike real scans). A
return is detected with a probability that rises smoothly around the sensor's threshold, set
so that a 10 % target at normal incidence is seen out to ``range_at_10pct`` metres.
Weather adds extinction ``alpha`` (range loss) and spurious near returns from drops or fog.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from simulators.kernels import detect_returns
from simulators.sensors import SensorPreset

F32 = npt.NDArray[np.float32]


@dataclass(frozen=True)
class ReturnModel:
    """Sensor and weather constants of the return model (metres, per metre, probabilities)."""

    min_range: float
    max_range: float
    range_noise: float
    dropout: float
    range_at_10pct: float = 70.0
    extinction: float = 0.0  # alpha, 1/m, two-way attenuation exp(-2 alpha r)
    spurious_rate: float = 0.0  # probability per ray of a return from a drop or fog
    spurious_scale: float = 3.0  # mean distance (m) beyond min_range of those returns
    weather_noise: float = 0.0  # extra one-sigma range error, metres
    # reported intensity per unit of reflectivity x incidence term; 2.0 puts near asphalt at
    # 0.15-0.3 and car paint at 0.3-1, the ranges seen in KITTI velodyne scans
    intensity_gain: float = 2.0


@dataclass(frozen=True)
class Returns:
    """Detected returns: ``points`` float32 (N, 4) x, y, z, intensity in the sensor frame,
    ``ray`` int64 (N,) the index of the ray each came from, ``spurious`` bool (N,) for weather
    returns (no surface behind them)."""

    points: F32
    ray: npt.NDArray[np.int64]
    spurious: npt.NDArray[np.bool_]


def simulate_returns(
    directions: F32,
    t_hit: F32,
    cos_incidence: F32,
    reflectivity: F32,
    model: ReturnModel,
    rng: np.random.Generator,
    specular: F32 | None = None,
    sigma: F32 | None = None,
    dropout: F32 | None = None,
) -> Returns:
    """Turn hits into detected points.

    ``directions`` (R, 3) unit rays in the sensor frame; ``t_hit`` (R,) distance to the first
    surface in metres (inf on a miss); ``cos_incidence`` (R,) |cos| of the angle between ray and
    surface normal; ``reflectivity`` (R,) and ``specular`` (R,, 0 when left out) of the surface
    hit: a specular share ``s`` keeps a return only with probability
    ``1 - s + s * cos**10``, so glass shows up head-on only. ``rng`` supplies all randomness,
    drawn in a fixed order so that a seed reproduces the points bit for bit. ``sigma`` (R,)
    and ``dropout`` (R,) override the model's range noise and dropout ray by ray
    (``simulators.effects``).
    """
    n = t_hit.shape[0]
    # Draw every random number up front, whatever is later kept, so the stream stays aligned.
    uniforms = rng.random((3, n), dtype=np.float32)
    spur_range: F32 = np.asarray(rng.standard_exponential(n, dtype=np.float32), np.float32)
    spur_range *= np.float32(model.spurious_scale)
    normals = rng.standard_normal((2, n), dtype=np.float32)
    points, ray, spurious = detect_returns(
        np.ascontiguousarray(directions, dtype=np.float32),
        np.ascontiguousarray(t_hit, dtype=np.float32),
        np.ascontiguousarray(cos_incidence, dtype=np.float32),
        np.ascontiguousarray(reflectivity, dtype=np.float32),
        np.zeros(n, np.float32)
        if specular is None
        else np.ascontiguousarray(specular, dtype=np.float32),
        uniforms,
        spur_range,
        normals,
        float(model.min_range),
        float(model.max_range),
        np.full(n, model.range_noise + model.weather_noise, np.float32)
        if sigma is None
        else np.ascontiguousarray(sigma, dtype=np.float32),
        np.full(n, model.dropout, np.float32)
        if dropout is None
        else np.ascontiguousarray(dropout, dtype=np.float32),
        float(model.extinction),
        float(0.1 / model.range_at_10pct**2),
        float(model.spurious_rate),
        float(model.intensity_gain),
    )
    return Returns(points, ray, spurious)


def return_model(
    sensor: SensorPreset,
    weather: str,
    intensity: float,
    air_rate: float = 0.0,
    air_range: float = 6.0,
) -> ReturnModel:
    """The return model of ``sensor`` in ``weather`` of ``intensity`` (0..1), with
    ``air_rate`` spurious returns per ray in clear air (dust, exhaust) ``air_range`` metres
    beyond the minimum range on average.

    Rain: extinction up to 0.012 /m and drop returns on up to 1.5 % of rays within a few metres.
    Fog: extinction up to 0.05 /m (visibility ~60 m) and back-scatter on up to 8 % of rays.
    """
    base = dict(
        min_range=sensor.min_range,
        max_range=sensor.max_range,
        range_noise=sensor.range_noise,
        dropout=sensor.dropout,
        range_at_10pct=sensor.range_at_10pct,
    )
    if weather == "rain":
        return ReturnModel(
            **base,
            extinction=0.012 * intensity,
            spurious_rate=0.015 * intensity + air_rate,
            spurious_scale=2.5,
            weather_noise=0.02 * intensity,
        )
    if weather == "fog":
        return ReturnModel(
            **base,
            extinction=0.05 * intensity,
            spurious_rate=0.08 * intensity + air_rate,
            spurious_scale=4.0,
            weather_noise=0.03 * intensity,
        )
    return ReturnModel(**base, spurious_rate=air_rate, spurious_scale=air_range)
