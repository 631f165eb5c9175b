"""Sensor presets: beam tables, column counts and ray directions."""

from __future__ import annotations

import numpy as np
import pytest

from simulators.errors import ScenarioError
from simulators.sensors import PRESETS, get_preset


@pytest.mark.parametrize(
    ("name", "beams", "top", "bottom", "height"),
    [
        ("hdl32", 32, 10.67, -30.67, 1.84),
        ("pandar40p", 40, 15.0, -25.0, 1.9),
        ("hdl64", 64, 2.0, -24.33, 1.73),
        ("vlp32", 32, 15.0, -25.0, 1.73),
        ("os128", 128, 22.5, -22.5, 1.73),
    ],
)
def test_beam_tables_match_the_real_sensors(
    name: str, beams: int, top: float, bottom: float, height: float
) -> None:
    sensor = get_preset(name)
    assert sensor.beams == beams
    assert max(sensor.elevations_deg) == pytest.approx(top, abs=1e-3)
    assert min(sensor.elevations_deg) == pytest.approx(bottom, abs=1e-3)
    assert len(set(sensor.elevations_deg)) == beams
    assert list(sensor.elevations_deg) == sorted(sensor.elevations_deg, reverse=True)
    assert sensor.mount_height == pytest.approx(height)


def test_pandar40p_is_fine_around_the_horizon() -> None:
    el = np.array(get_preset("pandar40p").elevations_deg)
    steps = -np.diff(el)
    fine = (el[:-1] <= 2.0) & (el[:-1] > -6.0)
    assert np.allclose(steps[fine], 1 / 3, atol=2e-3) and fine.sum() == 24
    assert steps.max() == pytest.approx(6.0)  # -19 to -25 deg


def test_hdl32_beams_are_evenly_spaced() -> None:
    steps = -np.diff(np.array(get_preset("hdl32").elevations_deg))
    assert np.allclose(steps, 1.333, atol=2e-3)


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_fire_times_cover_one_revolution(name: str) -> None:
    sensor = get_preset(name)
    t = sensor.fire_time()
    assert t.shape == (sensor.beams * sensor.columns,)
    assert t.min() == 0.0 and t.max() < 1.0 / sensor.rate_hz
    # all lasers of a column fire together
    assert np.array_equal(t.reshape(sensor.beams, sensor.columns)[0], t[: sensor.columns])


def test_hdl64_has_two_blocks_with_a_gap() -> None:
    el = np.array(get_preset("hdl64").elevations_deg)
    steps = -np.diff(el)
    assert np.allclose(steps[:31], 10.33 / 31, atol=2e-3)  # upper block, ~1/3 deg
    assert np.allclose(steps[32:], 15.5 / 31, atol=2e-3)  # lower block, 1/2 deg
    assert steps[31] == pytest.approx(0.5, abs=1e-3)


def test_hdl64_azimuth_resolution_is_kitti_like() -> None:
    sensor = get_preset("hdl64")
    assert 0.08 <= sensor.azimuth_step_deg <= 0.175
    assert 110_000 <= sensor.beams * sensor.columns <= 140_000


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_directions_are_unit_vectors_on_the_beam_cones(name: str) -> None:
    sensor = get_preset(name)
    d = sensor.directions()
    assert d.dtype == np.float32
    assert d.shape == (sensor.beams * sensor.columns, 3)
    assert np.allclose(np.linalg.norm(d, axis=1), 1.0, atol=1e-6)
    elevation = np.rad2deg(np.arcsin(d[:, 2]))
    expected = np.asarray(sensor.elevations_deg)[sensor.beam_index()]
    assert np.allclose(elevation, expected, atol=1e-3)
    # the first column of each scan line looks straight ahead, the next turns left (+y)
    first = d.reshape(sensor.beams, sensor.columns, 3)[:, :2]
    assert np.all(first[:, 0, 1] == 0.0) and np.all(first[:, 0, 0] > 0)
    assert np.all(first[:, 1, 1] > 0)


def test_unknown_preset_names_the_choices() -> None:
    with pytest.raises(ScenarioError, match="hdl64"):
        get_preset("hdl65")
