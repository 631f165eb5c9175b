"""The named signals trigger rules are written over, computed once per frame.

Signal names (all values are floats)::

    num_points, num_detections
    unexplained_clusters     detections of at least UNEXPLAINED_MIN_POINTS points whose confidence
                             is below UNEXPLAINED_MAX_CONFIDENCE: large clusters that no
                             confident detection explains
    count.<class>            detections of that class (0 when none)
    min_confidence.<class>   lowest confidence among them, 1.0 when there are none (so "< x" rules
                             never fire on an absent class)
    max_confidence.<class>   highest confidence, 0.0 when there are none
    max.<score>, min.<score> highest / lowest per-detection score of that name; for calibrated
                             tails (``<score>_tail``, small = anomalous) ``min`` is the one to use.
                             NaN on a frame without detections: no comparison holds, so such a
                             frame cannot fire a score rule by accident
    frame.<score>            frame-level scores from the scorer (e.g. ``frame.score``)
    vehicle.<signal>         vehicle signals when the source provides them (e.g. ``vehicle.speed_mps``)
    unexplained_drivable     with a drivable-area map (``selection.drivable_area_file``): the most
                             unexplained compact candidate on the carriageway, 0..1
                             (``agent.selection.drivable``); NaN when none counts

``<class>`` ranges over the model's classes plus ``vru`` (the vulnerable road users of
``core.classes``).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from core.classes import VULNERABLE_ROAD_USERS

VRU_GROUP = "vru"

#: A cluster this well observed (points) ...
UNEXPLAINED_MIN_POINTS = 20
#: ... that the model cannot name with at least this confidence is "unexplained".
UNEXPLAINED_MAX_CONFIDENCE = 0.5


@dataclass(frozen=True)
class DetectionFacts:
    """What selection and upload need of one detection: box (metres, radians), class, scores."""

    class_name: str
    confidence: float  # [0, 1]
    box: tuple[float, float, float, float, float, float, float]
    num_points: int
    scores: Mapping[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class SignalSchema:
    """The signal names a configuration can refer to; fixed at start-up from the components."""

    class_names: tuple[str, ...]
    detection_score_names: tuple[str, ...] = ()
    frame_score_names: tuple[str, ...] = ()
    vehicle_signal_names: tuple[str, ...] = ()
    drivable_area: bool = False

    def names(self) -> frozenset[str]:
        """Every signal name ``compute_signals`` can produce under this schema."""
        names = {"num_points", "num_detections", "unexplained_clusters"}
        for cls in (*self.class_names, VRU_GROUP):
            names.update((f"count.{cls}", f"min_confidence.{cls}", f"max_confidence.{cls}"))
        names.update(f"max.{s}" for s in self.detection_score_names)
        names.update(f"min.{s}" for s in self.detection_score_names)
        names.update(f"frame.{s}" for s in self.frame_score_names)
        names.update(f"vehicle.{s}" for s in self.vehicle_signal_names)
        if self.drivable_area:
            names.add("unexplained_drivable")
        return frozenset(names)


def compute_signals(
    schema: SignalSchema,
    detections: Sequence[DetectionFacts],
    frame_scores: Mapping[str, float],
    vehicle: Mapping[str, float],
    num_points: int,
    extra: Mapping[str, float] | None = None,
) -> dict[str, float]:
    """All signals of one frame under ``schema`` (see the module docstring for the names);
    ``extra`` holds those computed elsewhere (``unexplained_drivable``)."""
    signals: dict[str, float] = {
        "num_points": float(num_points),
        "num_detections": float(len(detections)),
        "unexplained_clusters": float(
            sum(
                d.num_points >= UNEXPLAINED_MIN_POINTS and d.confidence < UNEXPLAINED_MAX_CONFIDENCE
                for d in detections
            )
        ),
    }
    for cls in schema.class_names:
        _class_signals(signals, cls, [d for d in detections if d.class_name == cls])
    _class_signals(
        signals, VRU_GROUP, [d for d in detections if d.class_name in VULNERABLE_ROAD_USERS]
    )
    for score in schema.detection_score_names:
        values = [float(d.scores.get(score, math.nan)) for d in detections]
        present = [v for v in values if not math.isnan(v)]
        signals[f"max.{score}"] = max(present, default=math.nan)
        signals[f"min.{score}"] = min(present, default=math.nan)
    for name, value in frame_scores.items():
        signals[f"frame.{name}"] = float(value)
    for name, value in vehicle.items():
        signals[f"vehicle.{name}"] = float(value)
    for name, value in (extra or {}).items():
        signals[name] = float(value)
    return signals


def _class_signals(out: dict[str, float], cls: str, matches: Iterable[DetectionFacts]) -> None:
    confidences = [d.confidence for d in matches]
    out[f"count.{cls}"] = float(len(confidences))
    out[f"min_confidence.{cls}"] = min(confidences, default=1.0)
    out[f"max_confidence.{cls}"] = max(confidences, default=0.0)
