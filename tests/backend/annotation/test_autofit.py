"""Auto-fit on the vehicle's box fitter: a tight box from a rough one, ground and stray points
ignored, the rough heading's front kept, precise far from the sensor, and a precise error when
the rough box holds no object."""

from __future__ import annotations

import math

import numpy as np
import pytest

from backend.annotation.autofit import fit_box
from backend.errors import InvalidInputError
from core.geometry.boxes import heading_error
from tests.backend.annotation.world import CAR, cloud

#: the test cloud fills the middle 90 % of each side of the box (world.cloud)
FILL = 0.9


def rough_around(box: tuple[float, ...], grow: float = 0.5, yaw: float = 0.0) -> list[float]:
    """An axis-aligned (or ``yaw``-turned) footprint covering ``box`` with room to spare."""
    x, y, _, length, width, _, _ = box
    side = math.hypot(length, width) + 2 * grow
    return [x + 0.2, y - 0.15, 0.0, side, side, 1.0, yaw]


def check_car(fitted: tuple[float, ...], truth: tuple[float, ...] = CAR) -> None:
    x, y, z, length, width, height, yaw = fitted
    assert math.hypot(x - truth[0], y - truth[1]) < 0.05
    assert float(heading_error(yaw, truth[6])) < math.radians(2)
    assert length == pytest.approx(FILL * truth[3], abs=0.1)
    assert width == pytest.approx(FILL * truth[4], abs=0.1)
    top = truth[2] + FILL * truth[5] / 2
    assert z + height / 2 == pytest.approx(top, abs=0.05)  # the top is the highest point
    assert z - height / 2 == pytest.approx(-1.73, abs=0.1)  # the bottom is the ground


def test_fits_the_car_inside_a_loose_rough_box() -> None:
    points = cloud(3, [CAR], per_box=400)
    result = fit_box(points, rough_around(CAR))
    check_car(result.box)
    # the car's lowest points, within ground_threshold of the road, count as ground
    assert 340 <= result.num_points <= 400


def test_keeps_the_front_of_the_rough_heading() -> None:
    points = cloud(3, [CAR], per_box=400)
    backwards = fit_box(points, rough_around(CAR, yaw=CAR[6] + math.pi - 0.4)).box
    assert float(heading_error(backwards[6], CAR[6] + math.pi)) < math.radians(2)
    assert -math.pi < backwards[6] <= math.pi


def test_ignores_stray_points_of_a_neighbour_inside_the_rough_box() -> None:
    points = cloud(3, [CAR], per_box=400)
    pole = np.zeros((30, 4), dtype=np.float32)
    pole[:, 0], pole[:, 1] = CAR[0] + 2.6, CAR[1] + 1.8  # a pole just beside the car
    pole[:, 2] = np.linspace(-1.6, 1.5, 30)
    result = fit_box(np.concatenate([points, pole]), rough_around(CAR, grow=1.2))
    check_car(result.box)


def test_far_from_the_sensor_beyond_the_vehicle_grid() -> None:
    far = (95.0, -40.0, -0.9, 4.2, 1.8, 1.6, -2.0)
    points = cloud(4, [far], per_box=400)
    ground = np.column_stack(
        [
            np.random.default_rng(0).uniform(80, 110, 3000),
            np.random.default_rng(1).uniform(-55, -25, 3000),
            np.full(3000, -1.73),
            np.zeros(3000),
        ]
    ).astype(np.float32)
    result = fit_box(np.concatenate([points, ground]), rough_around(far, yaw=-2.0))
    check_car(result.box, far)


def test_a_rough_box_over_bare_ground_is_refused_with_the_counts() -> None:
    points = cloud(3, [CAR], per_box=400)
    with pytest.raises(InvalidInputError, match=r"found 0 points above the ground inside the box"):
        fit_box(points, [-15.0, -15.0, 0.0, 3.0, 3.0, 1.0, 0.0])
    with pytest.raises(InvalidInputError, match="l, w > 0"):
        fit_box(points, [10.0, 2.0, 0.0, 0.0, 3.0, 1.0, 0.0])
