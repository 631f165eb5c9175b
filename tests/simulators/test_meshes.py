"""Mesh primitives: closed surfaces, right sizes, merged indices."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest

from core.classes import POINT_CLASS_IDS
from simulators.errors import SimulatorError
from simulators.meshes import (
    Mesh,
    box,
    cylinder,
    ellipsoid,
    extent,
    frustum,
    glossy,
    merge,
    rotation_z,
    with_class,
)


def edge_uses(mesh: Mesh) -> Counter[tuple[int, int]]:
    edges: Counter[tuple[int, int]] = Counter()
    for a, b, c in mesh.triangles.tolist():
        for u, v in ((a, b), (b, c), (c, a)):
            edges[(min(u, v), max(u, v))] += 1
    return edges


@pytest.mark.parametrize(
    "mesh",
    [
        box((1.0, 2.0, 3.0), (2.0, 1.0, 0.5), 0.3),
        cylinder((0.0, 0.0, 0.0), 0.4, 2.0, 0.3, axis="y"),
        frustum((0.0, 0.0, 0.0), 0.4, 0.1, 1.0, 0.3),
        ellipsoid((0.0, 0.0, 0.0), (1.0, 0.5, 0.3), 0.3),
    ],
    ids=["box", "cylinder", "frustum", "ellipsoid"],
)
def test_primitives_are_closed_surfaces(mesh: Mesh) -> None:
    # every edge of a watertight triangle mesh is shared by exactly two triangles
    assert set(edge_uses(mesh).values()) == {2}
    assert mesh.reflectivity.shape == mesh.specular.shape == (mesh.num_triangles,)
    assert mesh.point_class.shape == (mesh.num_triangles,) and mesh.point_class.dtype == np.uint16
    assert mesh.vertices.dtype == np.float32 and mesh.triangles.dtype == np.int32


def test_box_extent_and_cylinder_axis() -> None:
    lo, hi = extent(box((1.0, 2.0, 3.0), (2.0, 1.0, 0.5), 0.3))
    assert np.allclose(lo, [0.0, 1.5, 2.75]) and np.allclose(hi, [2.0, 2.5, 3.25])
    lo, hi = extent(cylinder((0.0, 0.0, 0.0), 0.4, 2.0, 0.3, axis="y"))
    assert np.allclose([lo[1], hi[1]], [-1.0, 1.0])
    assert np.allclose([lo[2], hi[2]], [-0.4, 0.4], atol=1e-6)
    assert 0.35 < hi[0] <= 0.4  # a 10-sided polygon: its extent is a little inside the radius


def test_ellipsoid_vertices_lie_on_the_surface() -> None:
    radii = np.array([1.0, 0.5, 0.3])
    mesh = ellipsoid((0.0, 0.0, 0.0), radii, 0.3)
    assert np.allclose(((mesh.vertices / radii) ** 2).sum(axis=1), 1.0, atol=1e-5)


def test_merge_shifts_indices_and_transform_rotates() -> None:
    a = box((0.0, 0.0, 0.0), (1.0, 1.0, 1.0), 0.1)
    b = box((5.0, 0.0, 0.0), (1.0, 1.0, 1.0), 0.9)
    m = merge([a, glossy(with_class(b, "pole"), 0.8)])
    assert m.num_triangles == 24
    assert m.triangles[12:].min() == 8
    assert np.allclose(m.vertices[m.triangles[12:]].mean(axis=(0, 1))[0], 5.0)
    assert np.all(m.reflectivity[12:] == np.float32(0.9))
    assert np.all(m.specular[:12] == 0.0) and np.all(m.specular[12:] == np.float32(0.8))
    # primitives start unlabelled; the class survives glossy, merge and transforms
    assert np.all(m.point_class[:12] == 0) and np.all(m.point_class[12:] == POINT_CLASS_IDS["pole"])
    turned = m.transformed(rotation_z(np.pi / 2), (0.0, 0.0, 0.0)).scaled(2.0).translated((1, 0, 0))
    assert np.allclose(turned.vertices[8:].mean(axis=0), [1.0, 10.0, 0.0], atol=1e-5)
    assert np.array_equal(turned.point_class, m.point_class)
    assert merge([]).num_triangles == 0


def test_unknown_point_class_is_an_error() -> None:
    with pytest.raises(SimulatorError, match="unknown point class 'lamp'"):
        with_class(box((0.0, 0.0, 0.0), (1.0, 1.0, 1.0), 0.1), "lamp")
