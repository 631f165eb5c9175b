"""What the point-segmentation tools select by: heights above the ground, clusters and the
points inside a box, on a cloud whose ground truth is known."""

from __future__ import annotations

import numpy as np
import pytest

from backend.annotation.structure import PointStructure, point_structure, points_inside
from backend.errors import InvalidInputError
from core.geometry import points_in_boxes
from tests.backend.annotation.world import CAR, PEDESTRIAN, cloud

#: world.cloud: 3000 ground points, then ``per_box`` points per box in the order given
GROUND = 3000
PER_BOX = 300


def test_heights_and_clusters_separate_the_ground_and_the_two_objects() -> None:
    points = cloud(5, [CAR, PEDESTRIAN], per_box=PER_BOX)
    found = point_structure(points)
    assert found.height_above.shape == found.cluster.shape == (points.shape[0],)
    ground = found.height_above[:GROUND]
    assert np.nanmax(np.abs(ground)) < 0.1  # the road plane is at height ~0
    car = slice(GROUND, GROUND + PER_BOX)
    ped = slice(GROUND + PER_BOX, GROUND + 2 * PER_BOX)
    # heights above ground of the car's points are z + 1.73 (the road at z = -1.73)
    np.testing.assert_allclose(found.height_above[car], points[car, 2] + 1.73, atol=0.1)
    assert (found.cluster[:GROUND] == -1).all()  # the road is no cluster
    lifted = found.height_above > 0.25  # the vehicle's ground threshold
    car_id, car_share = main_cluster(found.cluster[car][lifted[car]])
    ped_id, ped_share = main_cluster(found.cluster[ped][lifted[ped]])
    assert car_id >= 0 and ped_id >= 0 and car_id != ped_id
    # a few low points (0.25-0.4 m up, the vehicle's bridge height) in cells of their own stay
    # out of the object's cluster, as on the vehicle
    assert car_share > 0.95 and ped_share > 0.95, (car_share, ped_share)
    assert not np.isin(found.cluster[:GROUND], [car_id, ped_id]).any()


def main_cluster(ids: np.ndarray) -> tuple[int, float]:
    """The most common cluster id among ``ids`` and its share of them."""
    values, counts = np.unique(ids, return_counts=True)
    best = int(np.argmax(counts))
    return int(values[best]), float(counts[best] / ids.size)


def test_the_binary_form_is_heights_then_cluster_ids() -> None:
    found = PointStructure(
        np.array([0.5, np.nan], dtype=np.float32), np.array([3, -1], dtype=np.int32)
    )
    data = found.to_bytes()
    assert len(data) == 16
    np.testing.assert_array_equal(np.frombuffer(data[:8], "<f4"), found.height_above)
    np.testing.assert_array_equal(np.frombuffer(data[8:], "<i4"), found.cluster)
    empty = point_structure(np.zeros((0, 4), dtype=np.float32))
    assert empty.height_above.size == 0 and empty.cluster.size == 0


def test_points_inside_are_the_projects_points_in_box() -> None:
    points = cloud(6, [CAR, PEDESTRIAN], per_box=PER_BOX)
    inside = points_inside(points, CAR)
    expected = np.flatnonzero(points_in_boxes(points, np.array([CAR])) == 0)
    np.testing.assert_array_equal(inside, expected)
    assert inside.dtype == np.uint32
    # the test cloud fills the middle 90 % of the car box: all of it is inside
    car = np.arange(GROUND, GROUND + PER_BOX)
    assert np.isin(car, inside).all()
    grown = points_inside(points, CAR, margin_m=0.5)
    assert np.isin(inside, grown).all() and grown.size >= inside.size
    with pytest.raises(InvalidInputError, match="l, w, h > 0"):
        points_inside(points, (0, 0, 0, 0, 1, 1, 0))
    with pytest.raises(InvalidInputError, match="margin must be in"):
        points_inside(points, CAR, margin_m=-1.0)
