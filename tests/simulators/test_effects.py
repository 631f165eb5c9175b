"""Real-sensor artefacts of the simulator (issue 12): each effect shows in the statistics of
the generated cloud, and perception still finds the objects with all of them on."""

from __future__ import annotations

import math
from dataclasses import replace
from functools import cache

import numpy as np
import numpy.typing as npt
import pytest

from core.classes import POINT_CLASS_IDS
from core.formats.dataset import FrameLabels
from simulators.drive import DriveSimulator
from simulators.effects import CLEAN, EFFECT_FIELDS, SensorEffects, range_sigma
from simulators.lidar import ReturnModel, return_model, simulate_returns
from simulators.scenario import Scenario, builtin_scenario
from simulators.sensors import PRESETS, get_preset

ROAD = POINT_CLASS_IDS["road"]
OUTLIER = POINT_CLASS_IDS["outlier"]
SEED = 21


def _scenario(sensor: str = "hdl32", speed: float = 10.0) -> Scenario:
    return replace(builtin_scenario("urban"), sensor=sensor, ego_speed=speed)


class Shot:
    """One simulated frame with its per-point facts."""

    def __init__(self, sim: DriveSimulator) -> None:
        self.points, self.labels = sim.frame()
        self.point_class = sim.last_point_class
        self.ring = sim.last_point_ring
        self.time = sim.last_point_time
        self.height = sim.sensor.mount_height

    @property
    def range(self) -> npt.NDArray[np.float32]:
        r: npt.NDArray[np.float32] = np.linalg.norm(self.points[:, :3], axis=1)
        return r


@cache
def _shot(effects: SensorEffects, sensor: str = "hdl32", mount: float | None = None) -> Shot:
    return Shot(DriveSimulator(_scenario(sensor), SEED, effects=effects, mount_height=mount))


def test_scenarios_are_clean_unless_they_ask_for_realistic_effects() -> None:
    assert DriveSimulator(_scenario(), 1).effects == CLEAN
    realistic = replace(_scenario(), sensor_effects="realistic")
    assert DriveSimulator(realistic, 1).effects == get_preset("hdl32").realistic
    # every preset's realistic defaults switch on every effect
    for preset in PRESETS.values():
        for name in EFFECT_FIELDS:
            if name in ("wet_road", "tilt", "intensity_scale"):
                continue  # weather and mounting, not a property of the sensor family
            assert preset.realistic.only(name) != CLEAN, (preset.name, name)


def test_multipath_puts_ghosts_below_the_road_at_the_set_rate() -> None:
    clean = _shot(CLEAN)
    rate = 0.05
    ghosts = _shot(SensorEffects(multipath_rate=rate))
    road_z = -clean.height
    assert (clean.points[:, 2] < road_z - 0.25).sum() == 0  # nothing below the road when clean
    below = ghosts.points[:, 2] < road_z - 0.25
    depth = road_z - ghosts.points[below, 2]
    assert depth.min() >= 0.25 and depth.max() <= 3.1
    r_xy = np.hypot(ghosts.points[below, 0], ghosts.points[below, 1])
    assert r_xy.min() >= 4.0 and r_xy.max() <= 15.5  # the 5-15 m ring (range, not ground distance)
    assert (ghosts.point_class[below] == OUTLIER).all()
    # the rate: the share of road returns in range that became ghosts
    road_in_range = ((clean.point_class == ROAD) & (clean.range >= 5) & (clean.range <= 15)).sum()
    assert below.sum() / road_in_range == pytest.approx(rate, rel=0.3)


def test_air_returns_float_in_front_of_surfaces_at_the_set_rate() -> None:
    rate = 0.01
    shot = _shot(SensorEffects(air_rate=rate, air_range_m=5.0))
    rays = get_preset("hdl32").beams * get_preset("hdl32").columns
    air = shot.point_class == OUTLIER
    # a return beyond the surface its ray hits cannot exist: a few fewer than the rate
    assert 0.7 * rate * rays < air.sum() <= 1.1 * rate * rays
    # into the open sky (rays that hit nothing) their distance is the minimum range plus an
    # exponential one of mean air_range_m
    model = return_model(get_preset("hdl32"), "clear", 0.0, air_rate=0.5, air_range=5.0)
    n = 20_000
    dirs = np.tile(np.array([[0.0, 0.0, 1.0]], np.float32), (n, 1))
    out = simulate_returns(
        dirs, np.full(n, np.inf, np.float32), np.zeros(n, np.float32), np.zeros(n, np.float32),
        model, np.random.default_rng(4),
    )  # fmt: skip
    assert out.spurious.all() and out.points.shape[0] == pytest.approx(0.5 * n, rel=0.05)
    assert float(np.mean(out.points[:, 2])) == pytest.approx(1.0 + 5.0, rel=0.05)


@pytest.mark.parametrize(("t", "cos"), [(5.0, 1.0), (60.0, 1.0), (60.0, 0.5)])
def test_range_noise_grows_with_range_and_incidence(t: float, cos: float) -> None:
    fx = SensorEffects(noise_per_m=0.0005, divergence_rad=0.003)
    n = 40_000
    rng = np.random.default_rng(3)
    dirs = np.tile(np.array([[1.0, 0.0, 0.0]], np.float32), (n, 1))
    t_hit = np.full(n, t, np.float32)
    cos_inc = np.full(n, cos, np.float32)
    model = ReturnModel(
        min_range=0.5, max_range=200.0, range_noise=0.02, dropout=0.0, range_at_10pct=1e4
    )
    sigma = range_sigma(t_hit, cos_inc, 0.02, fx)
    out = simulate_returns(dirs, t_hit, cos_inc, np.ones(n, np.float32), model, rng, sigma=sigma)
    tan = math.sqrt(1 - cos * cos) / cos
    expected = 0.02 + 0.0005 * t + 0.5 * t * 0.003 * tan
    assert float(np.std(out.points[:, 0] - t)) == pytest.approx(expected, rel=0.05)


def test_beam_gains_scale_each_ring_and_the_intensity_scale_is_applied() -> None:
    clean = _shot(CLEAN)
    gain = _shot(SensorEffects(beam_gain_sigma=0.3))
    scaled = _shot(SensorEffects(intensity_scale=255.0))
    assert np.array_equal(clean.points[:, :3], gain.points[:, :3])  # same rays, same noise
    ratio = gain.points[:, 3] / np.maximum(clean.points[:, 3], 1e-6)
    ok = (clean.points[:, 3] > 0.01) & (gain.points[:, 3] < 0.999)
    per_ring = np.array([np.median(ratio[ok & (gain.ring == b)]) for b in range(32)])
    assert np.std(np.log(per_ring)) == pytest.approx(0.3, abs=0.1)
    # within a ring one gain: the ratio does not vary
    assert np.allclose(ratio[ok], per_ring[gain.ring[ok]], rtol=1e-4)
    assert np.allclose(scaled.points[:, 3], 255.0 * clean.points[:, 3], rtol=1e-5)
    assert 1.0 < scaled.points[:, 3].max() <= 255.0


def _road_count(shot: Shot, lo: float, hi: float) -> int:
    return int(((shot.point_class == ROAD) & (shot.range >= lo) & (shot.range < hi)).sum())


def test_a_wet_road_loses_grazing_returns_and_darkens() -> None:
    clean, wet = _shot(CLEAN), _shot(SensorEffects(wet_road=1.0))
    assert _road_count(wet, 20, 60) < 0.6 * _road_count(clean, 20, 60)
    road_c, road_w = clean.point_class == ROAD, wet.point_class == ROAD
    assert np.median(wet.points[road_w, 3]) < 0.8 * np.median(clean.points[road_c, 3])


def test_grazing_dropout_thins_the_far_road_more_than_the_near_road() -> None:
    clean, graze = _shot(CLEAN), _shot(SensorEffects(grazing_dropout=0.9))
    near = _road_count(graze, 2, 6) / _road_count(clean, 2, 6)
    far = _road_count(graze, 25, 60) / _road_count(clean, 25, 60)
    assert near > 0.9 and far < 0.7 * near


def test_points_carry_ring_and_time_and_motion_distorts_the_sweep() -> None:
    still = _shot(CLEAN)
    moving = _shot(SensorEffects(motion_distortion=True))
    sensor = get_preset("hdl32")
    for shot in (still, moving):
        assert shot.ring.shape == shot.time.shape == (shot.points.shape[0],)
        assert shot.ring.min() >= 0 and shot.ring.max() == sensor.beams - 1
        assert shot.time.min() >= 0.0 and shot.time.max() < 1.0 / sensor.rate_hz
    # azimuth and time agree: the sweep turns left from straight ahead
    az = np.mod(np.arctan2(still.points[:, 1], still.points[:, 0]), 2 * math.pi)
    assert np.corrcoef(az, still.time)[0, 1] > 0.99
    # poles stand still: the moving sensor's pole points, shifted back by the distance it
    # travelled (10 m/s) until each was measured, lie where the still sensor's lie (in BEV);
    # unshifted they are smeared by up to a metre
    from scipy.spatial import cKDTree

    pole = POINT_CLASS_IDS["pole"]
    late = (moving.point_class == pole) & (moving.time > 0.3 / sensor.rate_hz)
    assert late.sum() >= 20
    tree = cKDTree(still.points[still.point_class == pole, :2])
    travel = np.c_[10.0 * moving.time[late], np.zeros(late.sum())]
    raw = tree.query(moving.points[late, :2])[0]
    fixed = tree.query(moving.points[late, :2] + travel)[0]
    assert np.median(fixed) < 0.05 and np.median(raw) > 0.2


def test_mounting_height_and_tilt_move_the_road_in_the_sensor_frame() -> None:
    high = _shot(CLEAN, mount=2.2)
    road = high.point_class == ROAD
    assert np.median(high.points[road, 2]) == pytest.approx(-2.2, abs=0.05)
    tilted = _shot(SensorEffects(pitch_deg=3.0))
    road = (tilted.point_class == ROAD) & (tilted.range < 25)
    x, z = tilted.points[road, 0], tilted.points[road, 2]
    slope = np.polyfit(x, z, 1)[0]
    # pitched nose-down by 3 degrees, the level road rises ahead in the sensor frame
    assert slope == pytest.approx(math.tan(math.radians(3.0)), abs=0.01)
    # the boxes follow: the label centres sit on the tilted road
    for obj in tilted.labels.objects:
        x0, _, z0, _, _, h, _ = obj.box
        road_z = -tilted.height / math.cos(math.radians(3.0)) + x0 * math.tan(math.radians(3.0))
        assert z0 - h / 2 == pytest.approx(road_z, abs=0.35)


def _found(
    points: npt.NDArray[np.float32], labels: FrameLabels, former: bool = False
) -> tuple[int, int]:
    """(found, total): labelled objects within 40 m with at least 50 points that a candidate
    of the pre-processing covers with BEV IoU > 0.3."""
    from agent.perception.preprocess import PipelineParams, Preprocessor
    from core.geometry import bev_iou_matrix

    boxes = np.array(
        [o.box for o in labels.objects if o.num_points >= 50 and math.hypot(*o.box[:2]) < 40]
    )
    params = PipelineParams()
    if former:  # the former ground estimate: lowest point per cell, no neighbour check
        params = replace(params, ground_support=1, ground_max_drop=1e3)
    cand = Preprocessor(params)(points)
    if not len(boxes) or not len(cand):
        return 0, len(boxes)
    return int((bev_iou_matrix(boxes, cand.boxes).max(axis=1) > 0.3).sum()), len(boxes)


@pytest.mark.parametrize("sensor", ["hdl64", "pandar40p"])
def test_perception_finds_the_objects_with_every_effect_on(sensor: str) -> None:
    scenario = _scenario(sensor)
    clean = DriveSimulator(scenario, SEED, effects=CLEAN)
    # realistic defaults, with a wetter road and five times the measured multipath
    fx = replace(get_preset(sensor).realistic, multipath_rate=0.02, wet_road=0.3)
    real = DriveSimulator(scenario, SEED, effects=fx)
    counts = np.zeros((3, 2), dtype=int)
    for _ in range(3):
        pc, lc = clean.frame()
        pr, lr = real.frame()
        counts += [_found(pc, lc), _found(pr, lr), _found(pr, lr, former=True)]
    share = counts[:, 0] / counts[:, 1]
    assert counts[1, 1] >= 10
    assert share[1] >= share[0] - 0.1
    # the former estimator loses most of them on the same frames
    assert share[2] < share[1] - 0.3
