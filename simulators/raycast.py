"""Ray casting against triangle meshes with Open3D's ``RaycastingScene`` (thin adapter).

The static street is put into one scene and reused for many frames; moving objects go into a
small scene rebuilt every frame. Both are cast with the same rays and the nearer hit wins
(``cast_street_and_actors``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import open3d as o3d

from simulators.kernels import merge_nearest
from simulators.meshes import Mesh

F32 = npt.NDArray[np.float32]
I64 = npt.NDArray[np.int64]
U16 = npt.NDArray[np.uint16]


@dataclass(frozen=True)
class Hits:
    """Per ray: ``t_hit`` metres (inf on a miss), ``cos_incidence`` |cos| of the angle to the
    surface normal, ``reflectivity`` of the surface and ``triangle`` (-1 on a miss)."""

    t_hit: F32
    cos_incidence: F32
    reflectivity: F32
    triangle: I64


class MeshScene:
    """One triangle mesh ready for ray casting (the Open3D BVH is built on the first cast or
    by ``commit()``)."""

    def __init__(self, mesh: Mesh) -> None:
        self.mesh = mesh
        self._scene = o3d.t.geometry.RaycastingScene()
        if mesh.num_triangles:
            self._scene.add_triangles(
                o3d.core.Tensor.from_numpy(np.ascontiguousarray(mesh.vertices, dtype=np.float32)),
                o3d.core.Tensor.from_numpy(np.ascontiguousarray(mesh.triangles, dtype=np.uint32)),
            )

    @property
    def raycasting_scene(self) -> o3d.t.geometry.RaycastingScene:
        """The underlying Open3D scene (for benchmarks against the raw ``cast_rays``)."""
        return self._scene

    def commit(self) -> MeshScene:
        """Build the BVH now (Open3D builds it on the first query) so that its cost is paid
        here and not inside the first cast; returns ``self``."""
        if self.mesh.num_triangles:
            probe = np.array([[0.0, 0.0, 0.0, 0.0, 0.0, 1.0]], np.float32)
            self._scene.cast_rays(o3d.core.Tensor.from_numpy(probe))
        return self

    def cast_raw(self, rays: o3d.core.Tensor) -> RawHits:
        """Open3D's answer for a prepared ``(R, 6)`` ray tensor, as numpy arrays."""
        n = int(rays.shape[0])
        if self.mesh.num_triangles == 0:
            return RawHits(
                np.full(n, np.inf, np.float32), np.zeros(n, np.uint32), np.zeros((n, 3), np.float32)
            )
        result = self._scene.cast_rays(rays)
        return RawHits(
            result["t_hit"].numpy(),
            result["primitive_ids"].numpy(),
            result["primitive_normals"].numpy(),
        )

    def cast(self, origin: F32, directions: F32) -> Hits:
        """Cast rays from ``origin`` (3,) along unit ``directions`` (R, 3), all world frame."""
        raw = self.cast_raw(rays_tensor(origin, directions))
        hit = np.isfinite(raw.t_hit)
        triangle = np.where(hit, raw.primitive_ids.astype(np.int64), -1)
        cos_inc = np.abs(np.einsum("ij,ij->i", raw.normals, directions)).astype(np.float32)
        refl = (
            self.mesh.reflectivity[np.maximum(triangle, 0)]
            if hit.any()
            else np.zeros(hit.shape, np.float32)
        )
        return Hits(raw.t_hit, cos_inc, np.where(hit, refl, np.float32(0.0)), triangle)


@dataclass(frozen=True)
class RawHits:
    """Per ray: distance (inf on a miss), triangle id (undefined on a miss), unit normal."""

    t_hit: F32
    primitive_ids: npt.NDArray[np.uint32]
    normals: F32


@dataclass(frozen=True)
class ActorHits:
    """Per ray, the nearer hit of the street and the actors: distance in metres (inf on a
    miss), |cos| of the incidence angle, reflectivity, specularity, the point class id of the
    surface hit (``core.classes.POINT_CLASS_IDS``; 0 on a miss) and the index of the actor hit
    (-1: the street or nothing)."""

    t_hit: F32
    cos_incidence: F32
    reflectivity: F32
    specular: F32
    point_class: U16
    actor: I64


def rays_tensor(origin: F32, directions: F32) -> o3d.core.Tensor:
    """Open3D ray tensor ``(R, 6)``: ``origin`` (3,) repeated (or one per ray, (R, 3)), then
    the unit ``directions``."""
    rays = np.empty((directions.shape[0], 6), dtype=np.float32)
    rays[:, :3] = origin
    rays[:, 3:] = directions
    return o3d.core.Tensor.from_numpy(rays)


def cast_street_and_actors(
    street: MeshScene, actors: MeshScene, owner: I64, origin: F32, directions: F32
) -> ActorHits:
    """Cast the same rays at the street and at the actors (``owner``: actor index of each actor
    triangle) and keep the nearer hit of each ray, with the material and point class of the
    triangle it hit (looked up by Open3D's primitive id: each scene holds one mesh)."""
    rays = rays_tensor(origin, directions)
    a = street.cast_raw(rays)
    b = actors.cast_raw(rays)
    sm, am = street.mesh, actors.mesh
    t_hit, cos_inc, refl, spec, point_class, actor = merge_nearest(
        np.ascontiguousarray(directions, dtype=np.float32),
        a.t_hit, a.primitive_ids, a.normals, sm.reflectivity, sm.specular, sm.point_class,
        b.t_hit, b.primitive_ids, b.normals, am.reflectivity, am.specular, am.point_class,
        np.ascontiguousarray(owner, dtype=np.int64),
    )  # fmt: skip
    return ActorHits(t_hit, cos_inc, refl, spec, point_class, actor)
