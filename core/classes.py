"""The object taxonomy shared by the simulator, the model, evaluation and selection.

The baseline model is trained on ``COMMON_CLASSES`` plus ``BACKGROUND``; the ``RARE_CLASSES`` are
deliberately left out of its training set: they are what the agent must discover on the road.
"""

from __future__ import annotations

from typing import Final

BACKGROUND: Final = "background"

COMMON_CLASSES: Final[tuple[str, ...]] = ("car", "truck", "bus", "pedestrian", "cyclist")

RARE_CLASSES: Final[tuple[str, ...]] = (
    "stroller",
    "wheelchair_user",
    "scooter_rider",
    "deer",
    "dog",
    "traffic_cone",
    "construction_barrier",
    "debris",
    "overturned_car",
    "person_with_object",
)

ALL_OBJECT_CLASSES: Final[tuple[str, ...]] = COMMON_CLASSES + RARE_CLASSES

#: Vulnerable road users: per-class trigger rules and recall-by-class reports single these out.
VULNERABLE_ROAD_USERS: Final[frozenset[str]] = frozenset(
    {"pedestrian", "cyclist", "stroller", "wheelchair_user", "scooter_rider", "person_with_object"}
)


def is_rare(class_name: str) -> bool:
    """True if the class is one the baseline model never saw in training."""
    return class_name in RARE_CLASSES


#: The class of what the loop finds but cannot name yet: annotators use it for an obstacle that
#: fits no class of the ontology; a rare class with enough accepted labels is promoted out of it.
UNKNOWN_OBSTACLE: Final = "unknown_obstacle"

#: "Stuff" (amorphous surfaces) for point-wise semantic segmentation, beside the object classes.
#: ``outlier`` marks returns that hit nothing solid (rain, fog, dust, multipath below the road).
STUFF_CLASSES: Final[tuple[str, ...]] = (
    "road",
    "sidewalk",
    "curb",
    "building",
    "pole",
    "vegetation",
    "terrain",
    "outlier",
)

#: Stable numeric ids of the point classes, as stored per point (SemanticKITTI-style ``.label``
#: files: ``uint32 = semantic_id | instance_id << 16``). Ids are never reused or renumbered: a new
#: class takes a new id, so every stored label file keeps its meaning.
POINT_CLASS_IDS: Final[dict[str, int]] = {
    "unlabelled": 0,
    **{name: 1 + i for i, name in enumerate(STUFF_CLASSES)},
    **{name: 20 + i for i, name in enumerate(COMMON_CLASSES)},
    **{name: 40 + i for i, name in enumerate(RARE_CLASSES)},
    UNKNOWN_OBSTACLE: 60,
}

#: The point class of each id (the inverse of ``POINT_CLASS_IDS``).
POINT_CLASS_NAMES: Final[dict[int, str]] = {i: name for name, i in POINT_CLASS_IDS.items()}
