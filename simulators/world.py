"""The static street: road, lane markings, kerbs, sidewalks, buildings, poles and trees.

The street runs along the world +x axis; y is to the left, z up, the road surface at z = 0.
Geometry is generated in 50 m chunks, each from its own random stream (``seed``, chunk index), so
a chunk looks the same however the drive is cut into windows. The cross-section (metres of y):

=============  ==========================================
|y| < 7        four 3.5 m traffic lanes (two each way)
7 .. 8.5       bike lanes
8.5 .. 11      parking strips
11 .. 15       kerb (11 .. 11.25) and sidewalk, 0.15 m high
> 16           buildings (with gaps) and open ground
=============  ==========================================

Every surface carries its point class (``core.classes.POINT_CLASS_IDS``), folded into the
classes the table has: asphalt, parking strips, bike lanes and lane markings are ``road``, the
kerb stone is ``curb``, the paving ``sidewalk``, the open ground behind it ``terrain``, buildings
(glass fronts included) ``building``, lamp posts, their arms, sign poles and sign plates ``pole``,
tree trunks, crowns, hedges and bushes ``vegetation``.
"""

from __future__ import annotations

from typing import Final

import numpy as np

from simulators.meshes import (
    Mesh,
    box_from_bounds,
    cylinder,
    ellipsoid,
    glossy,
    merge,
    with_class,
)
from simulators.streams import STREET, substream

CHUNK_LENGTH: Final = 50.0

LANE_WIDTH: Final = 3.5
#: lane centres (y, metres) with the direction of travel along x
LANES: Final[tuple[tuple[float, int], ...]] = ((-5.25, 1), (-1.75, 1), (1.75, -1), (5.25, -1))
EGO_LANE_Y: Final = -1.75
BIKE_LANES: Final[tuple[tuple[float, int], ...]] = ((-7.75, 1), (7.75, -1))
PARKING_Y: Final = 9.75
KERB_Y: Final = 11.0
SIDEWALK_OUTER_Y: Final = 15.0
SIDEWALK_HEIGHT: Final = 0.15
FURNITURE_Y: Final = 11.6  # poles and tree trunks, clear of the walking lanes
#: walking lanes on each sidewalk (|y|); the outermost is for people standing still
WALK_LANES: Final[tuple[float, ...]] = (12.4, 13.1, 13.8)
STAND_LANE: Final = 14.5
BUILDING_Y: Final = 16.0

ASPHALT: Final = 0.15
PAINT: Final = 0.55
CONCRETE: Final = 0.3
PAVING: Final = 0.25
GROUND: Final = 0.3
FOLIAGE: Final = 0.5
BARK: Final = 0.2
METAL: Final = 0.35
GLASS_FRONTS: Final = 0.35  # share of buildings with a glass facade


def chunk_mesh(seed: int, index: int) -> Mesh:
    """The static geometry of chunk ``index`` (world x from ``index * 50`` to ``+50`` m)."""
    rng = substream(seed, STREET, index)
    x0, x1 = index * CHUNK_LENGTH, (index + 1) * CHUNK_LENGTH
    road = [
        # road and parking strips: one slab whose top is the road surface z = 0
        box_from_bounds((x0, -KERB_Y, -0.3), (x1, KERB_Y, 0.0), ASPHALT),
        *_markings(x0, x1),  # painted road: SemanticKITTI's lane-marking, folded into road
    ]
    parts = [with_class(merge(road), "road")]
    for side in (-1.0, 1.0):
        kerb = _y_box(x0, x1, side, KERB_Y, KERB_Y + 0.25, -0.3, SIDEWALK_HEIGHT + 0.01, CONCRETE)
        paving = _y_box(
            x0, x1, side, KERB_Y + 0.25, SIDEWALK_OUTER_Y, -0.3, SIDEWALK_HEIGHT, PAVING
        )
        ground = _y_box(x0, x1, side, SIDEWALK_OUTER_Y, 80.0, -0.3, SIDEWALK_HEIGHT - 0.05, GROUND)
        parts += [
            with_class(kerb, "curb"),
            with_class(paving, "sidewalk"),
            with_class(ground, "terrain"),
            with_class(merge(_buildings(rng, x0, x1, side)), "building"),
            *_furniture(rng, x0, x1, side),
        ]
    return merge(parts)


def _y_box(
    x0: float, x1: float, side: float, y_in: float, y_out: float, z0: float, z1: float, refl: float
) -> Mesh:
    ys = sorted((side * y_in, side * y_out))
    return box_from_bounds((x0, ys[0], z0), (x1, ys[1], z1), refl)


def _markings(x0: float, x1: float) -> list[Mesh]:
    # 2 mm thick paint so that the marking is never coplanar with the asphalt
    z = (0.0, 0.002)
    parts = [box_from_bounds((x0, -0.2, z[0]), (x1, -0.05, z[1]), PAINT)]
    parts.append(box_from_bounds((x0, 0.05, z[0]), (x1, 0.2, z[1]), PAINT))
    for y in (-7.0, 7.0):  # solid bike-lane lines
        parts.append(box_from_bounds((x0, y - 0.08, z[0]), (x1, y + 0.08, z[1]), PAINT))
    dashes = np.arange(x0, x1, 12.0)
    for y in (-3.5, 3.5):  # 3 m dashes every 12 m between same-direction lanes
        parts += [
            box_from_bounds((d, y - 0.07, z[0]), (min(float(d) + 3.0, x1), y + 0.07, z[1]), PAINT)
            for d in dashes
        ]
    return parts


def _buildings(rng: np.random.Generator, x0: float, x1: float, side: float) -> list[Mesh]:
    parts: list[Mesh] = []
    x = x0 + rng.uniform(0.0, 6.0)
    while x < x1:
        width = min(rng.uniform(8.0, 30.0), x1 - x)
        if width > 3.0:
            setback = BUILDING_Y + rng.uniform(0.0, 4.0)
            depth = rng.uniform(10.0, 20.0)
            height = rng.uniform(6.0, 25.0)
            building = _y_box(
                x, x + width, side, setback, setback + depth, 0.0, height, rng.uniform(0.12, 0.4)
            )
            # a third of the buildings have glass fronts, which return little but head-on
            parts.append(glossy(building, 0.8) if rng.random() < GLASS_FRONTS else building)
        x += width + rng.uniform(0.0, 10.0)
    return parts


def _furniture(rng: np.random.Generator, x0: float, x1: float, side: float) -> list[Mesh]:
    """Lamp posts, trees and sign poles along the kerb, bushes behind the sidewalk; each part
    labelled with its point class (``pole`` or ``vegetation``)."""
    poles: list[Mesh] = []
    plants: list[Mesh] = []
    y = side * FURNITURE_Y
    # street lamps every 25 m (phase fixed by the chunk), a tree or a sign pole between them
    for x in np.arange(x0 + 5.0, x1, 25.0):
        h = rng.uniform(6.0, 8.0)
        poles.append(cylinder((x, y, SIDEWALK_HEIGHT + h / 2), 0.09, h, METAL, segments=8))
        poles.append(
            box_from_bounds(
                (x - 0.06, min(y, y - side * 1.5), SIDEWALK_HEIGHT + h - 0.15),
                (x + 0.06, max(y, y - side * 1.5), SIDEWALK_HEIGHT + h),
                METAL,
            )
        )
        tx = x + 12.5 + rng.uniform(-3.0, 3.0)
        if tx >= x1:
            continue
        if rng.random() < 0.7:
            # street trees are pruned clear of traffic: the crown starts above a 3.5 m truck
            # parked under it
            trunk = rng.uniform(3.8, 4.5)
            r = rng.uniform(0.12, 0.2)
            # the trunk is vegetation: SemanticKITTI's trunk class is folded into it
            plants.append(
                cylinder((tx, y, SIDEWALK_HEIGHT + trunk / 2), r, trunk, BARK, segments=8)
            )
            crown = (rng.uniform(1.4, 2.4), rng.uniform(1.2, 1.8), rng.uniform(1.2, 2.2))
            plants.append(
                ellipsoid((tx, y, SIDEWALK_HEIGHT + trunk + crown[2] * 0.9), crown, FOLIAGE, 5, 10)
            )
        else:
            pole = rng.uniform(2.2, 3.0)
            poles.append(
                cylinder((tx, y, SIDEWALK_HEIGHT + pole / 2), 0.04, pole, METAL, segments=6)
            )
            # the sign plate is pole: the table has no traffic-sign class
            poles.append(
                box_from_bounds(
                    (tx - 0.02, y - 0.3, SIDEWALK_HEIGHT + pole - 0.6),
                    (tx + 0.02, y + 0.3, SIDEWALK_HEIGHT + pole),
                    0.9,
                )
            )
    # hedges and bushes on the open ground behind the sidewalk
    for _ in range(int(rng.poisson(3.0))):
        bx = rng.uniform(x0, x1)
        radii = (rng.uniform(0.8, 2.5), rng.uniform(0.6, 1.2), rng.uniform(0.5, 1.2))
        plants.append(
            ellipsoid(
                (bx, side * (SIDEWALK_OUTER_Y + 0.5 + radii[1]), SIDEWALK_HEIGHT),
                radii,
                FOLIAGE,
                4,
                8,
            )
        )
    return [with_class(merge(poles), "pole"), with_class(merge(plants), "vegetation")]


def street_mesh(seed: int, x_min: float, x_max: float) -> tuple[Mesh, tuple[int, int]]:
    """Static geometry of every chunk overlapping world x in [x_min, x_max]; also returns the
    chunk index range (first, last) it covers."""
    first = int(np.floor(x_min / CHUNK_LENGTH))
    last = int(np.floor(x_max / CHUNK_LENGTH))
    return merge([chunk_mesh(seed, i) for i in range(first, last + 1)]), (first, last)


def drivable_polygon(x_min: float, x_max: float) -> np.ndarray:
    """The map layer of the drivable area over world x in [x_min, x_max]: the carriageway
    between the kerbs (lanes, bike lanes and parking strips), as one polygon ``(4, 2)`` of world
    (x, y) corners in metres, counter-clockwise. What a real vehicle's HD map gives it."""
    return np.array(
        [[x_min, -KERB_Y], [x_max, -KERB_Y], [x_max, KERB_Y], [x_min, KERB_Y]], dtype=np.float64
    )
