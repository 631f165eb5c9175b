"""Who is in the simulated crowd: a skill profile per person, and the default crowd.

A :class:`Profile` says how a person's labels differ from the truth (the labelling model in
``simulators.crowd.labelling`` draws from it) and how fast they work. Units: metres for centre
noise (one sigma per horizontal axis, half of it vertically), relative one-sigma for size noise
(a side is multiplied by ``exp(N(0, size_noise))``), radians for heading noise; rates are
probabilities per object (or per point for ``border_error``); speeds are simulated seconds.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from types import MappingProxyType
from typing import Literal

from simulators.crowd.errors import CrowdError

Role = Literal["annotator", "reviewer", "senior"]

#: mix-ups people actually make between similar classes (true class -> {given class: weight});
#: a profile's ``confusion`` scales these into probabilities
SIMILAR: Mapping[str, Mapping[str, float]] = MappingProxyType(
    {
        "car": {"truck": 0.8, "bus": 0.1, "overturned_car": 0.1},
        "truck": {"car": 0.5, "bus": 0.5},
        "bus": {"truck": 0.9, "car": 0.1},
        "pedestrian": {"cyclist": 0.5, "person_with_object": 0.3, "wheelchair_user": 0.2},
        "cyclist": {"scooter_rider": 0.6, "pedestrian": 0.4},
        "stroller": {"pedestrian": 0.5, "person_with_object": 0.5},
        "wheelchair_user": {"pedestrian": 0.6, "stroller": 0.4},
        "scooter_rider": {"cyclist": 1.0},
        "deer": {"dog": 0.7, "unknown_obstacle": 0.3},
        "dog": {"deer": 0.6, "unknown_obstacle": 0.4},
        "traffic_cone": {"construction_barrier": 0.6, "debris": 0.4},
        "construction_barrier": {"traffic_cone": 0.5, "debris": 0.5},
        "debris": {"unknown_obstacle": 0.7, "traffic_cone": 0.3},
        "overturned_car": {"car": 0.7, "debris": 0.3},
        "person_with_object": {"pedestrian": 1.0},
    }
)


@dataclass(frozen=True)
class Profile:
    """One person's skill and speed (see the module docstring for units).

    ``confusion``: probability that an object gets a similar but wrong class (drawn from
    ``SIMILAR``), or an explicit table ``class_confusion`` (true class -> {given class: p}) that
    replaces ``SIMILAR`` for the classes it names. ``random_class_rate`` / ``random_box_rate``:
    probability that an object gets a uniformly random class / a box at a random place (a
    spammer has both at 1). ``border_error``: share of the points near a class boundary (within
    ``border_m`` of a differently labelled neighbour) given the neighbour's class.
    ``false_boxes``: mean number of boxes per frame around nothing. Reviewers notice each error
    with probability ``review_recall``, fix up to ``fix_limit`` errors themselves and reject
    above that; the senior panel accepts a label set whose F1 against what they see reaches
    ``accept_f1`` and labels the task themselves otherwise.
    """

    name: str
    role: Role = "annotator"
    centre_noise_m: float = 0.05
    size_noise: float = 0.03
    heading_noise_rad: float = 0.02
    flip_rate: float = 0.0
    miss_rate: float = 0.02
    false_boxes: float = 0.0
    confusion: float = 0.0
    class_confusion: Mapping[str, Mapping[str, float]] = field(
        default_factory=lambda: MappingProxyType({})
    )
    random_class_rate: float = 0.0
    random_box_rate: float = 0.0
    border_error: float = 0.05
    border_m: float = 0.3
    seconds_per_box: float = 25.0
    seconds_per_task: float = 60.0
    review_recall: float = 0.9
    fix_limit: int = 2
    accept_f1: float = 0.9

    def __post_init__(self) -> None:
        rates = {
            "flip_rate": self.flip_rate,
            "miss_rate": self.miss_rate,
            "confusion": self.confusion,
            "random_class_rate": self.random_class_rate,
            "random_box_rate": self.random_box_rate,
            "border_error": self.border_error,
            "review_recall": self.review_recall,
            "accept_f1": self.accept_f1,
        }
        for key, value in rates.items():
            if not 0.0 <= value <= 1.0:
                raise CrowdError(f"profile {self.name!r}: {key} must be in [0, 1], got {value!r}")
        amounts = {
            "centre_noise_m": self.centre_noise_m,
            "size_noise": self.size_noise,
            "heading_noise_rad": self.heading_noise_rad,
            "false_boxes": self.false_boxes,
            "border_m": self.border_m,
            "seconds_per_box": self.seconds_per_box,
            "seconds_per_task": self.seconds_per_task,
        }
        for key, value in amounts.items():
            if not value >= 0.0:
                raise CrowdError(f"profile {self.name!r}: {key} must be >= 0, got {value!r}")
        if self.role not in ("annotator", "reviewer", "senior"):
            raise CrowdError(f"profile {self.name!r}: role {self.role!r} is not a crowd role")
        for true_class, row in self.class_confusion.items():
            total = sum(row.values())
            if any(p < 0 for p in row.values()) or total > 1.0 + 1e-9:
                raise CrowdError(
                    f"profile {self.name!r}: class_confusion[{true_class!r}] must hold "
                    f"probabilities summing to at most 1, got {dict(row)}"
                )

    def wrong_classes(self, true_class: str) -> dict[str, float]:
        """Probabilities of each wrong class this person gives an object of ``true_class``."""
        if true_class in self.class_confusion:
            return dict(self.class_confusion[true_class])
        row = SIMILAR.get(true_class, {})
        total = sum(row.values())
        if not total or not self.confusion:
            return {}
        return {c: self.confusion * w / total for c, w in row.items()}

    def noisier(self, factor: float) -> Profile:
        """This profile with every error scaled by ``factor`` (rates capped at 1)."""
        if factor < 0:
            raise CrowdError(f"noise factor must be >= 0, got {factor!r}")

        def rate(p: float) -> float:
            return min(1.0, p * factor)

        return replace(
            self,
            centre_noise_m=self.centre_noise_m * factor,
            size_noise=self.size_noise * factor,
            heading_noise_rad=self.heading_noise_rad * factor,
            flip_rate=rate(self.flip_rate),
            miss_rate=rate(self.miss_rate),
            false_boxes=self.false_boxes * factor,
            confusion=rate(self.confusion),
            class_confusion=MappingProxyType(
                {k: _scaled_row(v, factor) for k, v in self.class_confusion.items()}
            ),
            random_class_rate=rate(self.random_class_rate),
            random_box_rate=rate(self.random_box_rate),
            border_error=rate(self.border_error),
        )


def _scaled_row(row: Mapping[str, float], factor: float) -> dict[str, float]:
    """A confusion row scaled by ``factor``, renormalised if it would exceed 1."""
    scaled = {c: p * factor for c, p in row.items()}
    total = sum(scaled.values())
    return {c: p / total for c, p in scaled.items()} if total > 1.0 else scaled


def default_crowd() -> tuple[Profile, ...]:
    """Five careful annotators of varied skill and speed, one careless one, one spammer (random
    classes at random places), two reviewers and a senior."""
    return (
        Profile(
            "ann-ada",
            centre_noise_m=0.03,
            size_noise=0.02,
            heading_noise_rad=0.01,
            miss_rate=0.01,
            confusion=0.01,
            border_error=0.02,
            seconds_per_box=30.0,
        ),
        Profile(
            "ann-ben",
            centre_noise_m=0.05,
            size_noise=0.03,
            heading_noise_rad=0.02,
            miss_rate=0.02,
            confusion=0.03,
            border_error=0.05,
            seconds_per_box=22.0,
        ),
        Profile(
            "ann-cho",
            centre_noise_m=0.06,
            size_noise=0.04,
            heading_noise_rad=0.03,
            flip_rate=0.01,
            miss_rate=0.03,
            confusion=0.04,
            seconds_per_box=18.0,
        ),
        Profile(
            "ann-dev",
            centre_noise_m=0.08,
            size_noise=0.05,
            heading_noise_rad=0.04,
            flip_rate=0.02,
            miss_rate=0.05,
            confusion=0.06,
            border_error=0.08,
            seconds_per_box=15.0,
        ),
        Profile(
            "ann-eli",
            centre_noise_m=0.05,
            size_noise=0.04,
            heading_noise_rad=0.02,
            miss_rate=0.03,
            confusion=0.05,
            seconds_per_box=20.0,
        ),
        Profile(
            "ann-careless",
            centre_noise_m=0.1,
            size_noise=0.05,
            heading_noise_rad=0.08,
            flip_rate=0.1,
            miss_rate=0.08,
            false_boxes=0.3,
            confusion=0.12,
            border_error=0.3,
            seconds_per_box=8.0,
            seconds_per_task=20.0,
        ),
        Profile(
            "ann-spammer",
            random_class_rate=1.0,
            random_box_rate=1.0,
            miss_rate=0.3,
            border_error=1.0,
            seconds_per_box=2.0,
            seconds_per_task=5.0,
        ),
        Profile(
            "rev-kim",
            role="reviewer",
            review_recall=0.9,
            seconds_per_box=6.0,
            seconds_per_task=40.0,
        ),
        Profile(
            "rev-lou",
            role="reviewer",
            review_recall=0.75,
            centre_noise_m=0.04,
            seconds_per_box=4.0,
            seconds_per_task=30.0,
        ),
        Profile(
            "sen-mo",
            role="senior",
            centre_noise_m=0.02,
            size_noise=0.02,
            heading_noise_rad=0.01,
            miss_rate=0.0,
            review_recall=0.97,
            border_error=0.01,
            seconds_per_box=10.0,
            seconds_per_task=60.0,
        ),
    )
