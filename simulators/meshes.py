"""Triangle-mesh primitives (box, cylinder/frustum, ellipsoid) and their composition.

A ``Mesh`` carries a reflectivity per triangle (diffuse reflectance in [0, 1] at 905 nm) so that
the LiDAR model can compute intensities, a specularity (0: matt, 1: a mirror such as glass,
which returns light only when hit nearly head-on) and a point class (``core.classes``
``POINT_CLASS_IDS``; 0, unlabelled, until ``with_class`` sets it) so that every ray hit knows
the surface it came from. Coordinates are metres in whatever frame the caller builds in; the
builders here never allocate Open3D objects (see ``simulators.raycast``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, TypeAlias

import numpy as np
import numpy.typing as npt

from core.classes import POINT_CLASS_IDS
from simulators.errors import SimulatorError

F32 = npt.NDArray[np.float32]
I32 = npt.NDArray[np.int32]
U16 = npt.NDArray[np.uint16]
#: a 3-vector in metres: a tuple, a list or a numpy array
Vec3: TypeAlias = Sequence[float | np.floating[Any]] | npt.NDArray[np.floating[Any]]


@dataclass(frozen=True)
class Mesh:
    """Vertices float32 ``(V, 3)``, triangles int32 ``(T, 3)``, reflectivity and specularity
    float32 ``(T,)``, point class id uint16 ``(T,)``."""

    vertices: F32
    triangles: I32
    reflectivity: F32
    specular: F32
    point_class: U16

    @property
    def num_triangles(self) -> int:
        return int(self.triangles.shape[0])

    def translated(self, offset: Vec3) -> Mesh:
        off = np.asarray(offset, dtype=np.float32).reshape(1, 3)
        return Mesh(
            self.vertices + off, self.triangles, self.reflectivity, self.specular, self.point_class
        )

    def transformed(self, rotation: npt.NDArray[np.floating[Any]], offset: Vec3) -> Mesh:
        """``rotation @ v + offset`` for every vertex (``rotation`` is 3x3)."""
        rot = np.asarray(rotation, dtype=np.float32)
        off = np.asarray(offset, dtype=np.float32).reshape(1, 3)
        # einsum, not @: small products through BLAS are slow on a busy machine
        turned = np.einsum("ij,kj->ik", self.vertices, rot)
        return Mesh(
            turned + off, self.triangles, self.reflectivity, self.specular, self.point_class
        )

    def scaled(self, factor: float) -> Mesh:
        """Every vertex multiplied by ``factor`` (about the frame origin)."""
        return Mesh(
            self.vertices * np.float32(factor),
            self.triangles,
            self.reflectivity,
            self.specular,
            self.point_class,
        )


def _matt(
    vertices: npt.NDArray[np.floating[Any]],
    triangles: npt.NDArray[np.integer[Any]],
    reflectivity: float,
) -> Mesh:
    count = triangles.shape[0]
    return Mesh(
        vertices.astype(np.float32),
        triangles.astype(np.int32),
        np.full(count, reflectivity, np.float32),
        np.zeros(count, np.float32),
        np.zeros(count, np.uint16),
    )


def glossy(mesh: Mesh, specular: float) -> Mesh:
    """The same mesh with every triangle of specularity ``specular`` (0 matt .. 1 mirror)."""
    return Mesh(
        mesh.vertices,
        mesh.triangles,
        mesh.reflectivity,
        np.full(mesh.num_triangles, specular, np.float32),
        mesh.point_class,
    )


def with_class(mesh: Mesh, class_name: str) -> Mesh:
    """The same mesh with every triangle of the point class ``class_name`` (a key of
    ``core.classes.POINT_CLASS_IDS``)."""
    try:
        class_id = POINT_CLASS_IDS[class_name]
    except KeyError:
        raise SimulatorError(
            f"unknown point class {class_name!r}; known: {sorted(POINT_CLASS_IDS)}"
        ) from None
    return Mesh(
        mesh.vertices,
        mesh.triangles,
        mesh.reflectivity,
        mesh.specular,
        np.full(mesh.num_triangles, class_id, np.uint16),
    )


def merge(meshes: Sequence[Mesh]) -> Mesh:
    """One mesh holding every triangle of ``meshes`` (vertex indices shifted)."""
    if not meshes:
        empty = np.zeros(0, np.float32)
        return Mesh(
            np.zeros((0, 3), np.float32),
            np.zeros((0, 3), np.int32),
            empty,
            empty,
            np.zeros(0, np.uint16),
        )
    counts = np.array([m.vertices.shape[0] for m in meshes], dtype=np.int32)
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]]).astype(np.int32)
    tris = np.concatenate([m.triangles + s for m, s in zip(meshes, starts, strict=True)])
    return Mesh(
        np.concatenate([m.vertices for m in meshes]).astype(np.float32),
        tris.astype(np.int32),
        np.concatenate([m.reflectivity for m in meshes]).astype(np.float32),
        np.concatenate([m.specular for m in meshes]).astype(np.float32),
        np.concatenate([m.point_class for m in meshes]).astype(np.uint16),
    )


def rotation_z(yaw: float) -> npt.NDArray[np.float64]:
    """Rotation about +z by ``yaw`` radians."""
    c, s = np.cos(yaw), np.sin(yaw)
    return np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])


def rotate_about_z(vectors: F32, yaw: float) -> F32:
    """``vectors`` (N, 3) float32 turned by ``yaw`` radians about +z. Element-wise on purpose:
    a (N, 3) @ (3, 3) product goes through BLAS, which is slow for 3 columns and spawns
    threads on a busy machine."""
    c, s = np.float32(np.cos(yaw)), np.float32(np.sin(yaw))
    out = np.empty_like(vectors, dtype=np.float32)
    out[:, 0] = c * vectors[:, 0] - s * vectors[:, 1]
    out[:, 1] = s * vectors[:, 0] + c * vectors[:, 1]
    out[:, 2] = vectors[:, 2]
    return out


def rotation_y(pitch: float) -> npt.NDArray[np.float64]:
    """Rotation about +y by ``pitch`` radians (positive tips +x downwards)."""
    c, s = np.cos(pitch), np.sin(pitch)
    return np.array([[c, 0.0, s], [0.0, 1.0, 0.0], [-s, 0.0, c]])


def rotation_x(roll: float) -> npt.NDArray[np.float64]:
    """Rotation about +x by ``roll`` radians."""
    c, s = np.cos(roll), np.sin(roll)
    return np.array([[1.0, 0.0, 0.0], [0.0, c, -s], [0.0, s, c]])


_BOX_CORNERS = np.array(
    [[x, y, z] for x in (-0.5, 0.5) for y in (-0.5, 0.5) for z in (-0.5, 0.5)], dtype=np.float32
)
_BOX_TRIANGLES = np.array(
    [
        [0, 1, 3], [0, 3, 2], [4, 6, 7], [4, 7, 5], [0, 4, 5], [0, 5, 1],
        [2, 3, 7], [2, 7, 6], [0, 2, 6], [0, 6, 4], [1, 5, 7], [1, 7, 3],
    ],
    dtype=np.int32,
)  # fmt: skip


def box(center: Vec3, size: Vec3, reflectivity: float) -> Mesh:
    """Axis-aligned box of ``size`` (dx, dy, dz) metres centred on ``center``."""
    verts = _BOX_CORNERS * np.asarray(size, np.float32) + np.asarray(center, np.float32)
    return _matt(verts, _BOX_TRIANGLES.copy(), reflectivity)


def box_from_bounds(lo: Vec3, hi: Vec3, reflectivity: float) -> Mesh:
    """Axis-aligned box spanning ``lo``..``hi`` (metres)."""
    lo_a, hi_a = np.asarray(lo, np.float64), np.asarray(hi, np.float64)
    return box((lo_a + hi_a) / 2.0, hi_a - lo_a, reflectivity)


def frustum(
    center: Vec3,
    radius_bottom: float,
    radius_top: float,
    length: float,
    reflectivity: float,
    axis: str = "z",
    segments: int = 10,
) -> Mesh:
    """Closed cylinder (equal radii) or truncated cone along ``axis`` ('x', 'y' or 'z'),
    ``length`` metres long, centred on ``center``; the 'bottom' cap is at the negative end."""
    ang = np.arange(segments) * (2.0 * np.pi / segments)
    ring = np.stack([np.cos(ang), np.sin(ang)], axis=1)
    bottom = np.column_stack([ring * radius_bottom, np.full(segments, -length / 2.0)])
    top = np.column_stack([ring * radius_top, np.full(segments, length / 2.0)])
    verts = np.concatenate([bottom, top, [[0.0, 0.0, -length / 2.0], [0.0, 0.0, length / 2.0]]])
    i = np.arange(segments)
    j = (i + 1) % segments
    side = np.concatenate(
        [np.stack([i, j, segments + j], 1), np.stack([i, segments + j, segments + i], 1)]
    )
    cb, ct = 2 * segments, 2 * segments + 1
    caps = np.concatenate(
        [
            np.stack([np.full(segments, cb), j, i], 1),
            np.stack([np.full(segments, ct), segments + i, segments + j], 1),
        ]
    )
    tris = np.concatenate([side, caps]).astype(np.int32)
    # Permute coordinates so that the local z axis becomes the requested axis.
    order = {"z": [0, 1, 2], "x": [2, 0, 1], "y": [1, 2, 0]}[axis]
    verts = verts[:, order] + np.asarray(center, np.float64)
    return _matt(verts, tris, reflectivity)


def cylinder(
    center: Vec3,
    radius: float,
    length: float,
    reflectivity: float,
    axis: str = "z",
    segments: int = 10,
) -> Mesh:
    """Closed cylinder of ``radius`` and ``length`` metres along ``axis``."""
    return frustum(center, radius, radius, length, reflectivity, axis, segments)


def ellipsoid(
    center: Vec3,
    radii: Vec3,
    reflectivity: float,
    rings: int = 6,
    segments: int = 10,
) -> Mesh:
    """Ellipsoid with semi-axes ``radii`` (x, y, z) metres; a UV sphere with poles on z."""
    theta = np.linspace(0.0, np.pi, rings + 1)[1:-1]  # latitude rings without the poles
    phi = np.arange(segments) * (2.0 * np.pi / segments)
    t, p = np.meshgrid(theta, phi, indexing="ij")
    ring_verts = np.stack(
        [np.sin(t) * np.cos(p), np.sin(t) * np.sin(p), np.cos(t)], axis=-1
    ).reshape(-1, 3)
    verts = np.concatenate([[[0.0, 0.0, 1.0]], ring_verts, [[0.0, 0.0, -1.0]]])
    n_ring = rings - 1
    top, bottom = 0, 1 + n_ring * segments
    j = np.arange(segments)
    jn = (j + 1) % segments
    tris = [np.stack([np.full(segments, top), 1 + j, 1 + jn], 1)]
    for r in range(n_ring - 1):
        a, b = 1 + r * segments, 1 + (r + 1) * segments
        tris.append(np.stack([a + j, b + j, b + jn], 1))
        tris.append(np.stack([a + j, b + jn, a + jn], 1))
    last = 1 + (n_ring - 1) * segments
    tris.append(np.stack([np.full(segments, bottom), last + jn, last + j], 1))
    tri = np.concatenate(tris).astype(np.int32)
    verts = verts * np.asarray(radii, np.float64) + np.asarray(center, np.float64)
    return _matt(verts, tri, reflectivity)


def extent(mesh: Mesh) -> tuple[F32, F32]:
    """Axis-aligned bounds (lo, hi) of the mesh vertices, metres."""
    return mesh.vertices.min(axis=0), mesh.vertices.max(axis=0)
