"""Longtail point classes <-> SemanticKITTI's own label ids.

``core.formats.semantic_kitti`` stores Longtail's class ids (``core.classes.POINT_CLASS_IDS``) in
the SemanticKITTI ``.label`` layout; a dataset meant for SemanticKITTI tools (their
``semantic-kitti.yaml``: 0 unlabeled, 10 car, 40 road, ...) needs SemanticKITTI's ids instead.
This module is that mapping, both ways, and the vectorised id conversion. Instance ids (the
upper 16 bits) mean the same in both and are not touched.

Longtail -> SemanticKITTI (what an export writes):

=====================  ======================  ==============================================
Longtail               SemanticKITTI           note
=====================  ======================  ==============================================
unlabelled             0 unlabeled
outlier                1 outlier
road                   40 road
sidewalk               48 sidewalk
curb                   48 sidewalk             lossy (no curb class): reads back as sidewalk
building               50 building
pole                   80 pole
vegetation             70 vegetation
terrain                72 terrain
car                    10 car
overturned_car         10 car                  lossy: reads back as car
truck                  18 truck
bus                    13 bus
pedestrian             30 person
person_with_object     30 person               lossy: reads back as pedestrian
wheelchair_user        30 person               lossy: reads back as pedestrian
cyclist                31 bicyclist
scooter_rider          32 motorcyclist         lossy: reads back as cyclist
stroller               99 other-object         lossy: reads back as unknown_obstacle
deer, dog              99 other-object         lossy (no animal class): unknown_obstacle
traffic_cone           99 other-object         lossy: reads back as unknown_obstacle
construction_barrier   51 fence                lossy: reads back as unknown_obstacle
debris                 99 other-object         lossy: reads back as unknown_obstacle
unknown_obstacle       99 other-object
=====================  ======================  ==============================================

SemanticKITTI -> Longtail (what a reader gets back): each SemanticKITTI id maps to one Longtail
class: for the ids an export writes, the class of the row not marked lossy, and for the
others the nearest class: moving-X as X; lane-marking, parking -> road; other-ground ->
terrain; other-structure -> building; trunk -> vegetation; traffic-sign -> pole; on-rails ->
bus; other-vehicle -> truck; motorcyclist -> cyclist; bicycle, motorcycle (parked, no rider),
fence and other-object -> unknown_obstacle. :data:`EXACT_CLASSES` names the Longtail classes a
round trip gives back unchanged; every other class comes back as the class its row names.
"""

from __future__ import annotations

import functools
from typing import Final

import numpy as np
import numpy.typing as npt

from core.classes import POINT_CLASS_IDS, UNKNOWN_OBSTACLE
from core.errors import FormatError

U16 = npt.NDArray[np.uint16]

#: SemanticKITTI's label table (``semantic-kitti.yaml``, ``labels``)
SEMANTIC_KITTI_NAMES: Final[dict[int, str]] = {
    0: "unlabeled",
    1: "outlier",
    10: "car",
    11: "bicycle",
    13: "bus",
    15: "motorcycle",
    16: "on-rails",
    18: "truck",
    20: "other-vehicle",
    30: "person",
    31: "bicyclist",
    32: "motorcyclist",
    40: "road",
    44: "parking",
    48: "sidewalk",
    49: "other-ground",
    50: "building",
    51: "fence",
    52: "other-structure",
    60: "lane-marking",
    70: "vegetation",
    71: "trunk",
    72: "terrain",
    80: "pole",
    81: "traffic-sign",
    99: "other-object",
    252: "moving-car",
    253: "moving-bicyclist",
    254: "moving-person",
    255: "moving-motorcyclist",
    256: "moving-on-rails",
    257: "moving-bus",
    258: "moving-truck",
    259: "moving-other-vehicle",
}

#: Longtail point class -> the SemanticKITTI id an export writes (see the module table)
LONGTAIL_TO_SEMANTIC_KITTI: Final[dict[str, int]] = {
    "unlabelled": 0,
    "outlier": 1,
    "road": 40,
    "sidewalk": 48,
    "curb": 48,
    "building": 50,
    "pole": 80,
    "vegetation": 70,
    "terrain": 72,
    "car": 10,
    "overturned_car": 10,
    "truck": 18,
    "bus": 13,
    "pedestrian": 30,
    "person_with_object": 30,
    "wheelchair_user": 30,
    "cyclist": 31,
    "scooter_rider": 32,
    "stroller": 99,
    "deer": 99,
    "dog": 99,
    "traffic_cone": 99,
    "construction_barrier": 51,
    "debris": 99,
    UNKNOWN_OBSTACLE: 99,
}

#: SemanticKITTI id -> the Longtail point class a reader gets (see the module docstring)
SEMANTIC_KITTI_TO_LONGTAIL: Final[dict[int, str]] = {
    0: "unlabelled",
    1: "outlier",
    10: "car",
    11: UNKNOWN_OBSTACLE,
    13: "bus",
    15: UNKNOWN_OBSTACLE,
    16: "bus",
    18: "truck",
    20: "truck",
    30: "pedestrian",
    31: "cyclist",
    32: "cyclist",
    40: "road",
    44: "road",
    48: "sidewalk",
    49: "terrain",
    50: "building",
    51: UNKNOWN_OBSTACLE,
    52: "building",
    60: "road",
    70: "vegetation",
    71: "vegetation",
    72: "terrain",
    80: "pole",
    81: "pole",
    99: UNKNOWN_OBSTACLE,
    252: "car",
    253: "cyclist",
    254: "pedestrian",
    255: "cyclist",
    256: "bus",
    257: "bus",
    258: "truck",
    259: "truck",
}

#: Longtail classes that an export and a read give back unchanged
EXACT_CLASSES: Final[frozenset[str]] = frozenset(
    name
    for name, sk in LONGTAIL_TO_SEMANTIC_KITTI.items()
    if SEMANTIC_KITTI_TO_LONGTAIL[sk] == name
)


@functools.cache
def _to_table() -> U16:
    """Lookup table: Longtail id -> SemanticKITTI id; unmapped ids hold 0xFFFF."""
    table = np.full(max(POINT_CLASS_IDS.values()) + 1, 0xFFFF, dtype=np.uint16)
    for name, sk in LONGTAIL_TO_SEMANTIC_KITTI.items():
        table[POINT_CLASS_IDS[name]] = sk
    table.flags.writeable = False
    return table


@functools.cache
def _from_table() -> U16:
    """Lookup table: SemanticKITTI id -> Longtail id; unknown ids hold 0xFFFF."""
    table = np.full(max(SEMANTIC_KITTI_NAMES) + 1, 0xFFFF, dtype=np.uint16)
    for sk, name in SEMANTIC_KITTI_TO_LONGTAIL.items():
        table[sk] = POINT_CLASS_IDS[name]
    table.flags.writeable = False
    return table


def _lookup(ids: npt.ArrayLike, table: U16, what: str, source: str) -> U16:
    array = np.asarray(ids)
    if array.ndim != 1 or not np.issubdtype(array.dtype, np.integer):
        raise FormatError(f"{source}: {what} ids must be a 1-D integer array, got {array.dtype}")
    inside = (array >= 0) & (array < table.shape[0])
    mapped = np.full(array.shape, 0xFFFF, dtype=np.uint16)
    mapped[inside] = table[array[inside]]
    bad = mapped == 0xFFFF
    if bad.any():
        unknown = sorted({int(v) for v in np.unique(array[bad])})
        raise FormatError(
            f"{source}: {int(bad.sum())} point(s) carry {what} ids with no mapping: {unknown[:10]}"
        )
    return mapped


def to_semantic_kitti(semantic: npt.ArrayLike, source: str = "point labels") -> U16:
    """SemanticKITTI ids of Longtail point class ids (uint16 ``(N,)``); an id that is no
    Longtail class is a FormatError naming ``source`` and the ids."""
    return _lookup(semantic, _to_table(), "Longtail class", source)


def from_semantic_kitti(semantic: npt.ArrayLike, source: str = "point labels") -> U16:
    """Longtail point class ids of SemanticKITTI ids (uint16 ``(N,)``); an id outside
    SemanticKITTI's table is a FormatError naming ``source`` and the ids."""
    return _lookup(semantic, _from_table(), "SemanticKITTI", source)


def semantic_kitti_name(longtail_class: str) -> str:
    """The SemanticKITTI label name an export writes for a Longtail point class."""
    return SEMANTIC_KITTI_NAMES[LONGTAIL_TO_SEMANTIC_KITTI[longtail_class]]


__all__ = [
    "EXACT_CLASSES",
    "LONGTAIL_TO_SEMANTIC_KITTI",
    "SEMANTIC_KITTI_NAMES",
    "SEMANTIC_KITTI_TO_LONGTAIL",
    "from_semantic_kitti",
    "semantic_kitti_name",
    "to_semantic_kitti",
]
