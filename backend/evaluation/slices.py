"""Slices of the edge-case suite: which frames belong to a slice and which objects it is about.

Pure functions over plain facts of a frame (no files, no model). A slice is a set of frames plus
a *focus*: the objects of those frames its headline recall is measured on.

==========================  =================================================  ===================
slice                       a frame belongs when it has ...                    focus objects
==========================  =================================================  ===================
``all``                     (every frame)                                      every object
``class:<rare class>``      an object of that rare class                       that class's objects
``distance:<lo>-<hi>m``     an object at horizontal range lo <= r < hi         the objects in band
``occlusion``               an object hit by <= ``occlusion_max_points``       those objects
                            points (occluded, truncated or far)
``weather:rain|fog``        its drive's weather kind (``meta.json``)           every object
``sparse``                  a sensor of <= ``sparse_max_beams`` beams (the     every object
                            night-equivalent: few returns per object)
==========================  =================================================  ===================

Objects farther than ``max_range`` metres (horizontal) are in no slice and no focus (evaluation
ignores them too). Distances are horizontal ranges from the sensor in metres.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from backend.evaluation.algo import DISTANCE_BANDS
from core.classes import RARE_CLASSES

ALL = "all"
OCCLUSION = "occlusion"
SPARSE = "sparse"
WEATHER_KINDS = ("rain", "fog")


@dataclass(frozen=True)
class SliceSpec:
    """The parameters of the slices (stored in the suite manifest, so the version covers them)."""

    rare_classes: tuple[str, ...] = RARE_CLASSES
    distance_bands: tuple[tuple[float, float], ...] = DISTANCE_BANDS
    #: an object hit by at most this many points counts as occluded (labels need >= 5)
    occlusion_max_points: int = 25
    #: a sensor with at most this many beams gives night-equivalent sparsity
    sparse_max_beams: int = 32
    max_range: float = 70.0
    weather_kinds: tuple[str, ...] = field(default=WEATHER_KINDS)

    def names(self) -> tuple[str, ...]:
        """Every slice name, in report order."""
        return (
            ALL,
            *(f"class:{c}" for c in self.rare_classes),
            *(band_name(lo, hi) for lo, hi in self.distance_bands),
            OCCLUSION,
            *(f"weather:{w}" for w in self.weather_kinds),
            SPARSE,
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "rare_classes": list(self.rare_classes),
            "distance_bands": [list(b) for b in self.distance_bands],
            "occlusion_max_points": self.occlusion_max_points,
            "sparse_max_beams": self.sparse_max_beams,
            "max_range": self.max_range,
            "weather_kinds": list(self.weather_kinds),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> SliceSpec:
        """The spec ``to_json`` wrote (KeyError/TypeError/ValueError on a malformed one)."""
        return cls(
            rare_classes=tuple(str(c) for c in data["rare_classes"]),
            distance_bands=tuple((float(lo), float(hi)) for lo, hi in data["distance_bands"]),
            occlusion_max_points=int(data["occlusion_max_points"]),
            sparse_max_beams=int(data["sparse_max_beams"]),
            max_range=float(data["max_range"]),
            weather_kinds=tuple(str(w) for w in data["weather_kinds"]),
        )


def band_name(lo: float, hi: float) -> str:
    """The slice name of the distance band [lo, hi) metres, e.g. ``distance:20-40m``."""
    return f"distance:{lo:g}-{hi:g}m"


@dataclass(frozen=True)
class FrameFacts:
    """What slicing needs of one frame: per object its class, horizontal range (m) and point
    count; the drive's weather kind and the sensor's beam count."""

    classes: tuple[str, ...]
    ranges: npt.NDArray[np.float64]
    num_points: npt.NDArray[np.int64]
    weather: str
    beams: int | None  #: None when the source does not say (never sparse then)


def focus_mask(spec: SliceSpec, slice_name: str, facts: FrameFacts) -> npt.NDArray[np.bool_]:
    """Which objects of the frame the slice is about (the frame may still not belong to it:
    see ``member``); objects beyond ``spec.max_range`` never are."""
    in_range = facts.ranges <= spec.max_range
    if slice_name.startswith("class:"):
        cls = slice_name.removeprefix("class:")
        named: npt.NDArray[np.bool_] = np.array([c == cls for c in facts.classes], dtype=bool)
        return in_range & named
    if slice_name.startswith("distance:"):
        for lo, hi in spec.distance_bands:
            if band_name(lo, hi) == slice_name:
                return in_range & (facts.ranges >= lo) & (facts.ranges < hi)
        raise KeyError(f"no distance band named {slice_name!r} in {spec.distance_bands}")
    if slice_name == OCCLUSION:
        return in_range & (facts.num_points <= spec.occlusion_max_points)
    if slice_name in (ALL, SPARSE) or slice_name.startswith("weather:"):
        return in_range
    raise KeyError(f"unknown slice {slice_name!r}; slices are {list(spec.names())}")


def member(spec: SliceSpec, slice_name: str, facts: FrameFacts) -> bool:
    """Whether the frame belongs to the slice."""
    if slice_name == ALL:
        return True
    if slice_name.startswith("weather:"):
        return facts.weather == slice_name.removeprefix("weather:")
    if slice_name == SPARSE:
        return facts.beams is not None and facts.beams <= spec.sparse_max_beams
    return bool(focus_mask(spec, slice_name, facts).any())


def memberships(spec: SliceSpec, facts: FrameFacts) -> list[str]:
    """The slices the frame belongs to, in ``spec.names()`` order."""
    return [name for name in spec.names() if member(spec, name, facts)]


def horizontal_ranges(boxes: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    """Horizontal range (m) of each box centre ``(K, 7)`` from the sensor."""
    return np.hypot(boxes[:, 0], boxes[:, 1]).astype(np.float64)


def facts_of(
    classes: Sequence[str],
    boxes: npt.NDArray[np.float64],
    num_points: Sequence[int],
    weather: str,
    beams: int | None,
) -> FrameFacts:
    """``FrameFacts`` from a frame's labels (boxes ``(K, 7)``, sensor frame) and drive facts."""
    return FrameFacts(
        tuple(classes),
        horizontal_ranges(boxes.reshape(-1, 7)),
        np.asarray(num_points, dtype=np.int64).reshape(-1),
        weather,
        beams,
    )
