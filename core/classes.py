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
