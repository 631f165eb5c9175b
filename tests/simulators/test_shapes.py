"""Object meshes: every class, realistic sizes, boxes tight to their meshes, rare shapes distinct."""

from __future__ import annotations

import numpy as np
import pytest

from core.classes import ALL_OBJECT_CLASSES, POINT_CLASS_IDS
from simulators.errors import ScenarioError
from simulators.shapes import TYRE, ObjectModel, build_object

#: (l, w, h) ranges in metres that a real instance of the class falls in
REALISTIC: dict[str, tuple[tuple[float, float], tuple[float, float], tuple[float, float]]] = {
    "car": ((3.8, 5.0), (1.6, 2.0), (1.35, 1.7)),
    "truck": ((4.8, 9.5), (1.9, 2.6), (2.0, 3.6)),
    "bus": ((10.0, 13.0), (2.4, 2.6), (2.9, 3.4)),
    "pedestrian": ((0.15, 0.9), (0.45, 0.75), (1.45, 2.0)),
    "cyclist": ((1.5, 1.9), (0.5, 0.75), (1.5, 1.9)),
    "stroller": ((0.9, 1.3), (0.45, 0.7), (0.85, 1.15)),
    "wheelchair_user": ((0.7, 1.2), (0.6, 0.8), (1.2, 1.6)),
    "scooter_rider": ((0.9, 1.4), (0.4, 0.7), (1.6, 2.1)),
    "deer": ((1.5, 2.4), (0.3, 0.6), (1.2, 1.7)),
    "dog": ((0.6, 1.3), (0.12, 0.4), (0.4, 0.85)),
    "traffic_cone": ((0.3, 0.5), (0.3, 0.5), (0.45, 0.95)),
    "construction_barrier": ((0.3, 2.3), (0.3, 1.0), (0.9, 2.0)),
    "debris": ((0.1, 1.6), (0.1, 1.3), (0.05, 0.5)),
    "overturned_car": ((3.8, 5.0), (1.6, 2.0), (0.9, 1.35)),
    "person_with_object": ((0.5, 3.6), (0.45, 0.9), (1.5, 2.0)),
}


def instances(name: str, count: int = 40) -> list[ObjectModel]:
    rng = np.random.default_rng(7)
    return [build_object(name, rng) for _ in range(count)]


@pytest.mark.parametrize("name", ALL_OBJECT_CLASSES)
def test_sizes_are_realistic_and_vary(name: str) -> None:
    sizes = np.array([m.size for m in instances(name)])
    for axis, (lo, hi) in enumerate(REALISTIC[name]):
        assert lo <= sizes[:, axis].min() and sizes[:, axis].max() <= hi, (
            name,
            axis,
            sizes[:, axis],
        )
    assert np.ptp(sizes, axis=0).max() > 0.05, f"{name} instances are all the same size"


@pytest.mark.parametrize("name", ALL_OBJECT_CLASSES)
def test_box_is_the_tight_extent_of_the_mesh(name: str) -> None:
    for model in instances(name, 5):
        lo = model.mesh.vertices.min(axis=0)
        hi = model.mesh.vertices.max(axis=0)
        assert model.class_name == name
        # every triangle is a surface of the object's class: each ray hit gets that label
        assert np.all(model.mesh.point_class == POINT_CLASS_IDS[name])
        assert np.allclose((lo + hi) / 2, 0.0, atol=1e-5)
        assert np.allclose(hi - lo, model.size, atol=1e-5)


def _tyre_height(model: ObjectModel) -> float:
    tyre = model.mesh.reflectivity == np.float32(TYRE)
    return float(model.mesh.vertices[model.mesh.triangles[tyre]][..., 2].mean()) / model.size[2]


def test_overturned_car_has_its_wheels_up() -> None:
    assert all(_tyre_height(m) < -0.2 for m in instances("car", 10))
    assert all(_tyre_height(m) > 0.1 for m in instances("overturned_car", 10))
    car_h = np.mean([m.size[2] for m in instances("car")])
    flipped_h = np.mean([m.size[2] for m in instances("overturned_car")])
    assert flipped_h < car_h - 0.2  # flat: the greenhouse is crushed


def test_stroller_is_low_short_and_on_wheels() -> None:
    for model in instances("stroller", 10):
        assert model.size[2] < 1.2 and model.size[0] < 1.3
        assert _tyre_height(model) < -0.3  # wheels at the bottom


def test_unknown_class_is_an_error() -> None:
    with pytest.raises(ScenarioError, match="unicycle"):
        build_object("unicycle", np.random.default_rng(0))
