"""The label ontology: which classes and attributes a label may use, versioned.

A task records the ontology version it was labelled under; a version is never changed once
stored (a new class, say a rare class the loop promoted, makes a new version). Version 1 is the
project taxonomy (``core.classes``): the known road users, the rare classes the loop is
discovering, ``unknown_obstacle`` for what fits no class, and the "stuff" surfaces of point
segmentation. Object attributes: occlusion, truncation and motion.

Pure: no I/O. ``document()`` / ``from_document()`` are the stored JSON form.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from backend.errors import InvalidInputError
from core.classes import (
    COMMON_CLASSES,
    POINT_CLASS_IDS,
    RARE_CLASSES,
    STUFF_CLASSES,
    UNKNOWN_OBSTACLE,
    VULNERABLE_ROAD_USERS,
)

#: the groups a class belongs to
GROUPS: Final = ("known", "rare", "unknown", "stuff")

#: object attributes and their allowed values; the first value is the default
DEFAULT_ATTRIBUTES: Final[dict[str, tuple[str, ...]]] = {
    "occluded": ("none", "partly", "mostly"),
    "truncated": ("no", "yes"),
    "motion": ("unknown", "moving", "static"),
}

#: vehicle-like classes: matched at the stricter IoU threshold in QA
VEHICLE_CLASSES: Final = frozenset({"car", "truck", "bus", "overturned_car"})


@dataclass(frozen=True)
class ClassDef:
    """One class: ``group`` (known, rare, unknown, stuff), its stable per-point id, whether it is
    a box-able object, a vulnerable road user, or vehicle-like."""

    name: str
    group: str
    point_id: int

    @property
    def is_object(self) -> bool:
        """Objects get boxes; stuff only point labels."""
        return self.group != "stuff"

    @property
    def is_vru(self) -> bool:
        return self.name in VULNERABLE_ROAD_USERS

    @property
    def is_vehicle(self) -> bool:
        return self.name in VEHICLE_CLASSES


@dataclass(frozen=True)
class Ontology:
    """One version of the ontology."""

    version: int
    classes: tuple[ClassDef, ...]
    attributes: tuple[tuple[str, tuple[str, ...]], ...]

    def __post_init__(self) -> None:
        names = [c.name for c in self.classes]
        if len(set(names)) != len(names):
            raise InvalidInputError(f"ontology v{self.version}: duplicate class names in {names}")
        ids = [c.point_id for c in self.classes]
        if len(set(ids)) != len(ids) or min(ids, default=1) < 1 or max(ids, default=1) > 0xFFFF:
            raise InvalidInputError(
                f"ontology v{self.version}: point ids must be unique in 1..65535, got {ids}"
            )
        for c in self.classes:
            if c.group not in GROUPS:
                raise InvalidInputError(f"class {c.name!r}: group {c.group!r} not in {GROUPS}")

    @property
    def by_name(self) -> dict[str, ClassDef]:
        return {c.name: c for c in self.classes}

    @property
    def object_classes(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.classes if c.is_object)

    @property
    def point_ids(self) -> frozenset[int]:
        """Valid per-point semantic ids (0 = unlabelled is always valid)."""
        return frozenset({0} | {c.point_id for c in self.classes})

    def object_class(self, name: str, where: str) -> ClassDef:
        """The object class ``name``; InvalidInputError naming ``where`` if it is not one."""
        found = self.by_name.get(name)
        if found is None or not found.is_object:
            raise InvalidInputError(
                f"{where}: class {name!r} is not an object class of ontology v{self.version} "
                f"(known: {', '.join(self.object_classes)})"
            )
        return found

    def check_attributes(self, attributes: Mapping[str, str], where: str) -> dict[str, str]:
        """``attributes`` completed with defaults; InvalidInputError for an unknown name or value."""
        allowed = dict(self.attributes)
        for key, value in attributes.items():
            if key not in allowed:
                raise InvalidInputError(
                    f"{where}: unknown attribute {key!r} (known: {', '.join(allowed)})"
                )
            if value not in allowed[key]:
                raise InvalidInputError(
                    f"{where}: attribute {key}={value!r} is not one of {', '.join(allowed[key])}"
                )
        return {key: attributes.get(key, values[0]) for key, values in allowed.items()}

    def document(self) -> dict[str, Any]:
        """The stored JSON form."""
        return {
            "version": self.version,
            "classes": [
                {"name": c.name, "group": c.group, "point_id": c.point_id} for c in self.classes
            ],
            "attributes": {name: list(values) for name, values in self.attributes},
        }

    @classmethod
    def from_document(cls, document: Mapping[str, Any]) -> Ontology:
        """Parse the stored form; InvalidInputError names what is malformed."""
        try:
            classes = tuple(
                ClassDef(str(c["name"]), str(c["group"]), int(c["point_id"]))
                for c in document["classes"]
            )
            attributes = tuple(
                (str(name), tuple(str(v) for v in values))
                for name, values in dict(document["attributes"]).items()
            )
            return cls(int(document["version"]), classes, attributes)
        except (KeyError, TypeError, ValueError) as exc:
            raise InvalidInputError(f"malformed ontology document: {exc!r}") from exc

    def with_class(self, name: str, group: str, point_id: int | None = None) -> Ontology:
        """The next version with one more class (a promoted rare class, a new stuff surface)."""
        if name in self.by_name:
            raise InvalidInputError(f"class {name!r} is already in ontology v{self.version}")
        next_id = point_id if point_id is not None else max(c.point_id for c in self.classes) + 1
        return Ontology(
            self.version + 1, (*self.classes, ClassDef(name, group, next_id)), self.attributes
        )


def default_ontology() -> Ontology:
    """Version 1: the project taxonomy with stable point ids (``core.classes``)."""
    groups = (
        [(c, "known") for c in COMMON_CLASSES]
        + [(c, "rare") for c in RARE_CLASSES]
        + [(UNKNOWN_OBSTACLE, "unknown")]
        + [(c, "stuff") for c in STUFF_CLASSES]
    )
    return Ontology(
        1,
        tuple(ClassDef(name, group, POINT_CLASS_IDS[name]) for name, group in groups),
        tuple(DEFAULT_ATTRIBUTES.items()),
    )
