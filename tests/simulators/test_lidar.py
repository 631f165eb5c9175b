"""The return model on synthetic hits: ranges, dropout, intensity and weather."""

from __future__ import annotations

import numpy as np

from simulators.lidar import ReturnModel, Returns, return_model, simulate_returns
from simulators.sensors import get_preset

N = 50_000


def wall(distance: float, reflectivity: float = 0.5, cos: float = 1.0) -> tuple[np.ndarray, ...]:
    """N rays straight ahead, all hitting a surface at ``distance`` metres."""
    dirs = np.tile(np.array([[1.0, 0.0, 0.0]], np.float32), (N, 1))
    return (
        dirs,
        np.full(N, distance, np.float32),
        np.full(N, cos, np.float32),
        np.full(N, reflectivity, np.float32),
    )


MODEL = ReturnModel(min_range=1.0, max_range=120.0, range_noise=0.02, dropout=0.01)


def run(model: ReturnModel, *hits: np.ndarray, seed: int = 0) -> Returns:
    dirs, t, cos, refl = hits
    return simulate_returns(dirs, t, cos, refl, model, np.random.default_rng(seed))


def test_points_lie_on_the_rays_with_the_configured_noise() -> None:
    out = run(MODEL, *wall(20.0))
    assert out.points.dtype == np.float32 and out.points.shape[1] == 4
    assert np.allclose(out.points[:, 1:3], 0.0)
    assert abs(out.points[:, 0].mean() - 20.0) < 0.002
    assert 0.018 < out.points[:, 0].std() < 0.022
    # dropout 1 %: the kept fraction is binomial, 5 sigma wide
    kept = out.points.shape[0] / N
    assert abs(kept - 0.99) < 5 * np.sqrt(0.01 * 0.99 / N)
    assert not out.spurious.any()


def test_same_seed_same_points() -> None:
    a, b = run(MODEL, *wall(20.0), seed=3), run(MODEL, *wall(20.0), seed=3)
    assert np.array_equal(a.points, b.points)
    assert not np.array_equal(a.points, run(MODEL, *wall(20.0), seed=4).points)


def test_misses_and_out_of_range_hits_give_no_points() -> None:
    for t in (np.inf, 0.5, 130.0):
        assert run(MODEL, *wall(t)).points.shape[0] == 0


def test_intensity_follows_reflectivity_and_incidence() -> None:
    bright = run(MODEL, *wall(10.0, 0.4)).points[:, 3]
    dark = run(MODEL, *wall(10.0, 0.05)).points[:, 3]
    grazing = run(MODEL, *wall(10.0, 0.4, cos=0.1)).points[:, 3]
    retro = run(MODEL, *wall(10.0, 0.9)).points[:, 3]
    assert retro.max() == 1.0 and np.median(retro) == 1.0  # saturates, as on real sensors
    assert dark.min() >= 0.0 and bright.max() <= 1.0
    assert bright.mean() > 5 * dark.mean()
    assert grazing.mean() < 0.5 * bright.mean()


def test_dark_far_targets_fade_out() -> None:
    near = run(MODEL, *wall(30.0, 0.1)).points.shape[0]
    far = run(MODEL, *wall(110.0, 0.1)).points.shape[0]
    bright_far = run(MODEL, *wall(110.0, 0.8)).points.shape[0]
    assert near > 0.95 * N and far < 0.05 * N and bright_far > 0.9 * N


def test_fog_adds_near_returns_and_shortens_range() -> None:
    fog = ReturnModel(
        min_range=1.0, max_range=120.0, range_noise=0.02, dropout=0.01,
        extinction=0.05, spurious_rate=0.08, spurious_scale=4.0,
    )  # fmt: skip
    clear = run(MODEL, *wall(60.0, 0.3))
    foggy = run(fog, *wall(60.0, 0.3))
    assert clear.points.shape[0] > 0.9 * N
    assert not clear.spurious.any()
    # spurious returns on ~8 % of rays, all between the sensor and the wall
    assert abs(foggy.spurious.mean() * foggy.points.shape[0] / N - 0.08) < 0.01
    assert foggy.points[foggy.spurious, 0].max() < 60.0
    # exp(-2 * 0.05 * 60) leaves ~0.25 % of the power: the wall itself disappears
    assert (~foggy.spurious).sum() < 0.05 * N


def test_weather_models_scale_with_intensity() -> None:
    sensor = get_preset("hdl64")
    clear = return_model(sensor, "clear", 0.0)
    assert (clear.extinction, clear.spurious_rate) == (0.0, 0.0)
    assert clear.max_range == sensor.max_range and clear.range_noise == sensor.range_noise
    for kind in ("rain", "fog"):
        light, heavy = return_model(sensor, kind, 0.2), return_model(sensor, kind, 1.0)
        assert 0.0 < light.extinction < heavy.extinction
        assert 0.0 < light.spurious_rate < heavy.spurious_rate
    assert (
        return_model(sensor, "fog", 1.0).extinction > return_model(sensor, "rain", 1.0).extinction
    )


def test_glass_returns_only_head_on() -> None:
    dirs, t, cos, refl = wall(10.0, 0.3, cos=1.0)
    glass = np.full(N, 0.85, np.float32)
    rng = np.random.default_rng(0)
    head_on = simulate_returns(dirs, t, cos, refl, MODEL, rng, specular=glass)
    oblique = simulate_returns(
        dirs, t, np.full(N, 0.5, np.float32), refl, MODEL, rng, specular=glass
    )
    matt = simulate_returns(dirs, t, np.full(N, 0.5, np.float32), refl, MODEL, rng)
    assert head_on.points.shape[0] > 0.97 * N
    assert matt.points.shape[0] > 0.97 * N
    # at 60 deg incidence only the diffuse 15 % (plus 0.85 * 0.5**10) comes back
    assert abs(oblique.points.shape[0] / N - 0.99 * (0.15 + 0.85 * 0.5**10)) < 0.01
