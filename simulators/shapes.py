"""Object meshes for every class in ``core.classes``, composed from boxes, cylinders and
ellipsoids, with realistic dimensions and per-instance variation.

Builders work in an object frame with x along the heading, y to the left, z up and the ground at
z = 0; ``ObjectModel`` re-centres the mesh on the centre of its oriented extent so that the
ground-truth box of an instance is exactly ``(centre, size, yaw)`` of its mesh.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

import numpy as np

from core.classes import ALL_OBJECT_CLASSES
from simulators.errors import ScenarioError
from simulators.meshes import (
    Mesh,
    box,
    box_from_bounds,
    cylinder,
    ellipsoid,
    frustum,
    glossy,
    merge,
    rotation_x,
    rotation_y,
    rotation_z,
    with_class,
)

# Diffuse reflectance at 905 nm of the materials used below.
TYRE: Final = 0.05
GLASS: Final = 0.08
#: windows are mostly mirror-like: a LiDAR sees them only near normal incidence
GLASS_SPECULAR: Final = 0.85
SKIN_CLOTH: Final = 0.35
METAL_DARK: Final = 0.2
RETRO: Final = 0.9  # retro-reflective sheeting on cones, barriers and signs
FUR: Final = 0.25


@dataclass(frozen=True)
class ObjectModel:
    """One object instance: its class, mesh centred on its box centre (object frame) and the box
    size ``(l, w, h)`` in metres (l along the heading)."""

    class_name: str
    mesh: Mesh
    size: tuple[float, float, float]


def _glass(mesh: Mesh) -> Mesh:
    return glossy(mesh, GLASS_SPECULAR)


def _finish(class_name: str, parts: list[Mesh], scale: float = 1.0) -> ObjectModel:
    # every triangle of an object is a surface of its class: its ray hits are labelled with it
    mesh = with_class(merge(parts), class_name)
    if scale != 1.0:
        mesh = mesh.scaled(scale)
    lo = mesh.vertices.min(axis=0).astype(np.float64)
    hi = mesh.vertices.max(axis=0).astype(np.float64)
    centre = (lo + hi) / 2.0
    size = hi - lo
    return ObjectModel(
        class_name, mesh.translated(-centre), (float(size[0]), float(size[1]), float(size[2]))
    )


def _wheels(xs: tuple[float, ...], half_track: float, radius: float, width: float) -> list[Mesh]:
    # 1 cm inside the body side, never coplanar with it (an ambiguous nearest hit)
    return [
        cylinder(
            (x, side * (half_track - width / 2.0 - 0.01), radius), radius, width, TYRE, axis="y"
        )
        for x in xs
        for side in (-1.0, 1.0)
    ]


def _car_parts(rng: np.random.Generator, roof_scale: float = 1.0) -> list[Mesh]:
    length = rng.uniform(3.9, 4.9)
    width = rng.uniform(1.70, 1.95)
    height = rng.uniform(1.40, 1.65)
    wheel_r = rng.uniform(0.30, 0.34)
    paint = rng.uniform(0.15, 0.8)
    belt = 0.55 * height  # top of the doors
    cabin_h = (height - belt) * roof_scale
    parts = [
        box_from_bounds((-length / 2, -width / 2, 0.22), (length / 2, width / 2, belt), paint),
        # the greenhouse: shorter and narrower than the body, glass all round
        _glass(
            box_from_bounds(
                (-0.33 * length, -0.43 * width, belt),
                (0.18 * length, 0.43 * width, belt + cabin_h),
                GLASS,
            )
        ),
        box_from_bounds(
            (-0.30 * length, -0.40 * width, belt + 0.85 * cabin_h),
            # 1 cm proud of the glass: coplanar faces would make the nearest hit ambiguous
            (0.15 * length, 0.40 * width, belt + cabin_h + 0.01),
            paint,
        ),
    ]
    axle = length / 2.0 - 0.85
    return parts + _wheels((-axle, axle), width / 2.0, wheel_r, 0.22)


def car(rng: np.random.Generator) -> ObjectModel:
    """Passenger car: l 3.9-4.9 m, w 1.7-1.95 m, h 1.4-1.65 m, four wheels."""
    return _finish("car", _car_parts(rng))


def overturned_car(rng: np.random.Generator) -> ObjectModel:
    """A car on its roof: crushed greenhouse on the road, flat body, wheels in the air."""
    parts = _car_parts(rng, roof_scale=rng.uniform(0.3, 0.55))
    flipped = [p.transformed(rotation_x(np.pi), (0.0, 0.0, 0.0)) for p in parts]
    lowest = min(float(p.vertices[:, 2].min()) for p in flipped)
    return _finish("overturned_car", [p.translated((0.0, 0.0, -lowest)) for p in flipped])


def truck(rng: np.random.Generator) -> ObjectModel:
    """Van (l 5-6 m, h 2.1-2.6 m) or box truck (l 6.5-9 m, h 2.8-3.5 m) with a separate cab."""
    paint = rng.uniform(0.3, 0.8)
    if rng.random() < 0.5:
        length, width, height = rng.uniform(5.0, 6.0), rng.uniform(1.95, 2.1), rng.uniform(2.1, 2.6)
        parts = [
            box_from_bounds(
                (-length / 2, -width / 2, 0.3), (length / 2 - 0.9, width / 2, height), paint
            ),
            box_from_bounds(
                (length / 2 - 0.9, -width / 2, 0.3), (length / 2, width / 2, 1.1), paint
            ),
            _glass(
                box_from_bounds(
                    (length / 2 - 0.9, -0.45 * width, 1.1),
                    (length / 2 - 0.3, 0.45 * width, 0.8 * height),
                    GLASS,
                )
            ),
        ]
        axle = length / 2 - 1.0
        return _finish("truck", parts + _wheels((-axle, axle), width / 2, 0.36, 0.24))
    length, width, height = rng.uniform(6.5, 9.0), rng.uniform(2.3, 2.5), rng.uniform(2.8, 3.5)
    cab_len = 1.8
    parts = [
        box_from_bounds(
            (-length / 2, -width / 2, 0.7),
            (length / 2 - cab_len - 0.2, width / 2, height),
            rng.uniform(0.4, 0.85),
        ),
        box_from_bounds(
            (length / 2 - cab_len, -width / 2, 0.5), (length / 2, width / 2, 0.72 * height), paint
        ),
        box_from_bounds(
            (-length / 2 + 0.3, -0.35 * width, 0.35),
            (length / 2 - 0.5, 0.35 * width, 0.7),
            METAL_DARK,
        ),
    ]
    return _finish(
        "truck", parts + _wheels((-length / 2 + 1.3, length / 2 - 1.0), width / 2, 0.48, 0.3)
    )


def bus(rng: np.random.Generator) -> ObjectModel:
    """City bus: l 10.5-12.5 m, w 2.5-2.55 m, h 3.0-3.3 m, a window band, two axles."""
    length, width, height = rng.uniform(10.5, 12.5), rng.uniform(2.5, 2.55), rng.uniform(3.0, 3.3)
    paint = rng.uniform(0.4, 0.8)
    parts = [
        box_from_bounds((-length / 2, -width / 2, 0.35), (length / 2, width / 2, 1.2), paint),
        _glass(
            box_from_bounds((-length / 2, -width / 2, 1.2), (length / 2, width / 2, 2.5), GLASS)
        ),
        box_from_bounds((-length / 2, -width / 2, 2.5), (length / 2, width / 2, height), paint),
    ]
    return _finish(
        "bus", parts + _wheels((-length / 2 + 2.8, length / 2 - 2.5), width / 2, 0.5, 0.3)
    )


def _person_parts(
    rng: np.random.Generator, height: float, base_z: float = 0.0, stride: float | None = None
) -> list[Mesh]:
    """A standing or walking adult, feet at ``base_z``, ``height`` metres tall, facing +x."""
    cloth = rng.uniform(0.15, 0.6)
    leg = 0.47 * height
    hip_w = 0.17 * height / 1.75
    stride = rng.uniform(0.0, 0.35) if stride is None else stride
    torso_w, torso_d = rng.uniform(0.34, 0.42), rng.uniform(0.2, 0.26)
    head_r = 0.065 * height
    z0 = base_z
    parts = [
        box((stride / 2, hip_w / 2 + 0.02, z0 + leg / 2), (0.14, 0.14, leg), cloth),
        box((-stride / 2, -hip_w / 2 - 0.02, z0 + leg / 2), (0.14, 0.14, leg), cloth),
        box((0.0, 0.0, z0 + leg + 0.17 * height), (torso_d, torso_w, 0.34 * height), cloth),
        ellipsoid(
            (0.0, 0.0, z0 + height - head_r), (0.9 * head_r, 0.8 * head_r, head_r), SKIN_CLOTH
        ),
        box(
            (-stride / 3, torso_w / 2 + 0.05, z0 + 0.64 * height), (0.1, 0.09, 0.34 * height), cloth
        ),
        box(
            (stride / 3, -torso_w / 2 - 0.05, z0 + 0.64 * height), (0.1, 0.09, 0.34 * height), cloth
        ),
    ]
    return parts


def pedestrian(rng: np.random.Generator) -> ObjectModel:
    """Adult pedestrian, 1.5-1.95 m tall, legs apart by a random stride."""
    height = float(np.clip(rng.normal(1.72, 0.09), 1.5, 1.95))
    return _finish("pedestrian", _person_parts(rng, height))


def _seated_rider(rng: np.random.Generator, hip: tuple[float, float], lean: float) -> list[Mesh]:
    """Upper body of a rider seated with the hips at (x, z), leaning forward by ``lean`` rad."""
    cloth = rng.uniform(0.15, 0.6)
    x, z = hip
    torso_len = rng.uniform(0.55, 0.65)
    torso = box((0.0, 0.0, torso_len / 2), (0.22, 0.38, torso_len), cloth)
    head = ellipsoid((0.0, 0.0, torso_len + 0.12), (0.1, 0.09, 0.12), SKIN_CLOTH)
    rot = rotation_y(lean)
    return [torso.transformed(rot, (x, 0.0, z)), head.transformed(rot, (x, 0.0, z))]


def cyclist(rng: np.random.Generator) -> ObjectModel:
    """Bicycle (two 0.34 m wheels, 1.06 m wheelbase) with a leaning rider, h 1.6-1.85 m."""
    r = rng.uniform(0.32, 0.36)
    base = rng.uniform(1.0, 1.1)
    frame = rng.uniform(0.2, 0.6)
    seat_z = r + rng.uniform(0.52, 0.62)
    parts = [
        cylinder((-base / 2, 0, r), r, 0.05, TYRE, axis="y", segments=14),
        cylinder((base / 2, 0, r), r, 0.05, TYRE, axis="y", segments=14),
        box((0.0, 0.0, r + 0.25), (base * 0.75, 0.05, 0.06), frame),
        box((-0.12, 0.0, (r + seat_z) / 2), (0.05, 0.05, seat_z - r), frame),
        box((base / 2 - 0.1, 0.0, seat_z + 0.1), (0.05, 0.6, 0.04), METAL_DARK),
        # legs to the pedals
        box((0.0, 0.1, (r + seat_z) / 2), (0.12, 0.12, seat_z - r), rng.uniform(0.15, 0.6)),
        box(
            (0.05, -0.1, (r + seat_z) / 2 + 0.05), (0.12, 0.12, seat_z - r), rng.uniform(0.15, 0.6)
        ),
    ]
    parts += _seated_rider(rng, (-0.12, seat_z), lean=rng.uniform(0.3, 0.55))
    return _finish("cyclist", parts)


def stroller(rng: np.random.Generator) -> ObjectModel:
    """Pram: basket on four small wheels, a hood, a push handle; h 0.95-1.1 m, l ~0.9 m."""
    fabric = rng.uniform(0.1, 0.5)
    handle_h = rng.uniform(0.95, 1.1)
    parts = [
        *[
            cylinder((x, y, 0.09), 0.09, 0.04, TYRE, axis="y")
            for x in (-0.28, 0.28)
            for y in (-0.26, 0.26)
        ],
        box_from_bounds((-0.36, -0.27, 0.35), (0.32, 0.27, 0.72), fabric),
        ellipsoid((-0.2, 0.0, 0.72), (0.22, 0.27, 0.22), fabric),
        box((0.0, 0.0, 0.25), (0.6, 0.08, 0.04), METAL_DARK),
        box(
            (-0.5, 0.22, (0.25 + handle_h) / 2), (0.03, 0.03, handle_h - 0.25), METAL_DARK
        ).transformed(rotation_y(-0.25), (0.0, 0.0, 0.0)),
        box(
            (-0.5, -0.22, (0.25 + handle_h) / 2), (0.03, 0.03, handle_h - 0.25), METAL_DARK
        ).transformed(rotation_y(-0.25), (0.0, 0.0, 0.0)),
    ]
    # the handle bar joins the two tilted tubes at their top
    tube_top = rotation_y(-0.25) @ np.array([-0.5, 0.0, handle_h])
    parts.append(box((tube_top[0], 0.0, tube_top[2]), (0.04, 0.5, 0.04), METAL_DARK))
    return _finish("stroller", parts, scale=rng.uniform(0.92, 1.1))


def wheelchair_user(rng: np.random.Generator) -> ObjectModel:
    """Seated person in a wheelchair: two 0.3 m drive wheels, casters; h 1.25-1.4 m."""
    seat_z = rng.uniform(0.48, 0.53)
    parts = [
        cylinder((-0.1, 0.33, 0.3), 0.3, 0.04, TYRE, axis="y", segments=14),
        cylinder((-0.1, -0.33, 0.3), 0.3, 0.04, TYRE, axis="y", segments=14),
        cylinder((0.35, 0.22, 0.07), 0.07, 0.04, TYRE, axis="y"),
        cylinder((0.35, -0.22, 0.07), 0.07, 0.04, TYRE, axis="y"),
        box_from_bounds((-0.25, -0.23, seat_z - 0.05), (0.2, 0.23, seat_z), METAL_DARK),
        box_from_bounds((-0.3, -0.23, seat_z), (-0.25, 0.23, seat_z + 0.45), METAL_DARK),
        # thighs forward, shins down to the foot rest
        box_from_bounds((-0.2, -0.19, seat_z), (0.3, 0.19, seat_z + 0.15), rng.uniform(0.15, 0.6)),
        box_from_bounds((0.28, -0.19, 0.1), (0.4, 0.19, seat_z + 0.1), rng.uniform(0.15, 0.6)),
    ]
    parts += _seated_rider(rng, (-0.15, seat_z + 0.1), lean=rng.uniform(-0.05, 0.1))
    return _finish("wheelchair_user", parts, scale=rng.uniform(0.93, 1.07))


def scooter_rider(rng: np.random.Generator) -> ObjectModel:
    """Person standing on an e-scooter: narrow deck, small wheels, a tall stem; h 1.6-2.05 m."""
    deck = rng.uniform(0.9, 1.1)
    parts = [
        cylinder((-deck / 2, 0, 0.1), 0.1, 0.06, TYRE, axis="y"),
        cylinder((deck / 2, 0, 0.1), 0.1, 0.06, TYRE, axis="y"),
        box_from_bounds((-deck / 2, -0.08, 0.08), (deck / 2 - 0.1, 0.08, 0.14), METAL_DARK),
        box((deck / 2 - 0.05, 0.0, 0.6), (0.05, 0.05, 1.0), METAL_DARK),
        box((deck / 2 - 0.05, 0.0, 1.1), (0.04, 0.48, 0.04), METAL_DARK),
    ]
    height = float(np.clip(rng.normal(1.75, 0.08), 1.5, 1.95))
    person = _person_parts(rng, height, base_z=0.14, stride=rng.uniform(0.25, 0.35))
    parts += [p.transformed(rotation_z(0.35), (-0.1, 0.0, 0.0)) for p in person]
    return _finish("scooter_rider", parts)


def _quadruped(
    rng: np.random.Generator, class_name: str, length: float, leg: float, refl: float
) -> ObjectModel:
    body_r = (0.5 * length, 0.14 * length, 0.18 * length)
    body_z = leg + body_r[2] * 0.7
    parts = [ellipsoid((0.0, 0.0, body_z), body_r, refl, rings=6, segments=12)]
    leg_r = 0.03 * length
    for x in (-0.7 * body_r[0], 0.7 * body_r[0]):
        for y in (-0.6 * body_r[1], 0.6 * body_r[1]):
            parts.append(
                cylinder(
                    (x, y, (body_z - 0.5 * body_r[2]) / 2),
                    leg_r,
                    body_z - 0.5 * body_r[2],
                    refl,
                    segments=6,
                )
            )
    neck_len = 0.35 * length
    neck = box((0.0, 0.0, neck_len / 2), (0.1 * length, 0.08 * length, neck_len), refl)
    parts.append(neck.transformed(rotation_y(0.6), (0.85 * body_r[0], 0.0, body_z)))
    head_pos = (0.85 * body_r[0] + np.sin(0.6) * neck_len, 0.0, body_z + np.cos(0.6) * neck_len)
    parts.append(ellipsoid(head_pos, (0.14 * length, 0.07 * length, 0.07 * length), refl))
    tail = box((0.0, 0.0, 0.0), (0.2 * length, 0.03 * length, 0.03 * length), refl)
    parts.append(tail.transformed(rotation_y(-0.5), (-body_r[0] - 0.05 * length, 0.0, body_z)))
    return _finish(class_name, parts)


def deer(rng: np.random.Generator) -> ObjectModel:
    """Deer: long horizontal body on four thin legs, raised neck and head; l 1.5-1.9 m."""
    length = rng.uniform(1.3, 1.6)
    return _quadruped(rng, "deer", length, leg=rng.uniform(0.7, 0.85), refl=FUR)


def dog(rng: np.random.Generator) -> ObjectModel:
    """Dog: the same build as the deer, scaled down; l 0.6-1.1 m, h 0.45-0.8 m."""
    length = rng.uniform(0.55, 0.9)
    return _quadruped(rng, "dog", length, leg=rng.uniform(0.2, 0.4), refl=rng.uniform(0.15, 0.5))


def traffic_cone(rng: np.random.Generator) -> ObjectModel:
    """Traffic cone: square foot, tapered body with a reflective band; h 0.5-0.9 m."""
    height = rng.uniform(0.5, 0.9)
    base = rng.uniform(0.34, 0.45)
    r0 = 0.38 * base
    band_z = 0.55 * height
    r_band = r0 + (0.03 - r0) * (band_z - 0.04) / height
    parts = [
        box((0.0, 0.0, 0.02), (base, base, 0.04), 0.4),
        frustum(
            (0.0, 0.0, 0.04 + (band_z - 0.04) / 2), r0, r_band, band_z - 0.04, 0.45, segments=12
        ),
        frustum(
            (0.0, 0.0, (band_z + height) / 2), r_band, 0.03, height - band_z, RETRO, segments=12
        ),
    ]
    return _finish("traffic_cone", parts)


def construction_barrier(rng: np.random.Generator) -> ObjectModel:
    """Road-works barrier: a reflective board on two A-frame legs, or a sign on a tripod."""
    if rng.random() < 0.65:
        length = rng.uniform(1.2, 2.2)
        top = rng.uniform(0.95, 1.2)
        parts = [box_from_bounds((-length / 2, -0.03, top - 0.3), (length / 2, 0.03, top), RETRO)]
        for x in (-length / 2 + 0.05, length / 2 - 0.05):
            for side in (-1.0, 1.0):
                leg = box((0.0, 0.0, top / 2), (0.04, 0.04, top), METAL_DARK)
                parts.append(leg.transformed(rotation_x(side * 0.28), (x, 0.0, 0.0)))
        return _finish("construction_barrier", parts)
    side = rng.uniform(0.6, 0.9)
    bottom = rng.uniform(0.7, 1.0)
    parts = [box_from_bounds((-0.02, -side / 2, bottom), (0.02, side / 2, bottom + side), RETRO)]
    for ang in (0.0, 2.1, 4.2):
        leg = box((0.0, 0.0, bottom / 2 + 0.1), (0.03, 0.03, bottom + 0.2), METAL_DARK)
        parts.append(
            leg.transformed(rotation_y(0.3), (0.0, 0.0, 0.0)).transformed(
                rotation_z(ang), (0.0, 0.0, 0.0)
            )
        )
    return _finish("construction_barrier", parts)


def debris(rng: np.random.Generator) -> ObjectModel:
    """Debris on the road: one to four low, irregular chunks over up to 1.5 m; h 0.1-0.45 m."""
    parts: list[Mesh] = []
    for _ in range(int(rng.integers(1, 5))):
        size = (rng.uniform(0.2, 0.8), rng.uniform(0.15, 0.6), rng.uniform(0.08, 0.45))
        centre = (rng.uniform(-0.45, 0.45), rng.uniform(-0.3, 0.3), size[2] / 2)
        refl = rng.uniform(0.05, 0.6)
        chunk = (
            ellipsoid((0.0, 0.0, 0.0), (size[0] / 2, size[1] / 2, size[2] / 2), refl, 4, 7)
            if rng.random() < 0.4
            else box((0.0, 0.0, 0.0), size, refl)
        )
        parts.append(chunk.transformed(rotation_z(rng.uniform(0, np.pi)), centre))
    return _finish("debris", parts)


def person_with_object(rng: np.random.Generator) -> ObjectModel:
    """Pedestrian carrying a large object: a panel at the side, a box in front or a ladder."""
    height = float(np.clip(rng.normal(1.75, 0.08), 1.55, 1.95))
    parts = _person_parts(rng, height, stride=rng.uniform(0.1, 0.3))
    kind = rng.integers(0, 3)
    refl = rng.uniform(0.3, 0.8)
    if kind == 0:  # a board or door held upright at the side
        length, tall = rng.uniform(1.0, 2.0), rng.uniform(0.7, 1.2)
        z0 = 0.35 * height
        parts.append(box_from_bounds((-length / 2, 0.3, z0), (length / 2, 0.34, z0 + tall), refl))
    elif kind == 1:  # a big box carried in front of the chest
        side = rng.uniform(0.5, 0.8)
        parts.append(box((0.15 + side / 2, 0.0, 0.62 * height), (side, side, side * 0.8), refl))
    else:  # a ladder or pipe on the shoulder
        length = rng.uniform(2.5, 3.5)
        parts.append(box((0.2, 0.22, 0.83 * height), (length, 0.35, 0.06), refl))
    return _finish("person_with_object", parts)


BUILDERS: Final[dict[str, Callable[[np.random.Generator], ObjectModel]]] = {
    "car": car,
    "truck": truck,
    "bus": bus,
    "pedestrian": pedestrian,
    "cyclist": cyclist,
    "stroller": stroller,
    "wheelchair_user": wheelchair_user,
    "scooter_rider": scooter_rider,
    "deer": deer,
    "dog": dog,
    "traffic_cone": traffic_cone,
    "construction_barrier": construction_barrier,
    "debris": debris,
    "overturned_car": overturned_car,
    "person_with_object": person_with_object,
}
assert set(BUILDERS) == set(ALL_OBJECT_CLASSES), "every class needs a mesh builder"


def build_object(class_name: str, rng: np.random.Generator) -> ObjectModel:
    """A new instance of ``class_name`` with its size drawn from ``rng``."""
    try:
        builder = BUILDERS[class_name]
    except KeyError:
        raise ScenarioError(
            f"no object model for class {class_name!r}; known: {sorted(BUILDERS)}"
        ) from None
    return builder(rng)
