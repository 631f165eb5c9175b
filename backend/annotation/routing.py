"""Routing: which tier of people a new task goes to, by rules written in ``core.expr``.

Signals a rule can use (all floats; NaN where undefined, and no comparison holds on NaN)::

    priority                  the frame's trigger priority
    frames, points            frames in the task, points in the key frame
    frame.<score>             the vehicle's frame-level scores (score, p_value, surprise)
    rule.<name>               1 when trigger rule <name> fired on the key frame, else 0
    prelabel.count            pre-label boxes on the key frame
    prelabel.min_confidence   lowest pre-label confidence (1 when there is none)
    prelabel.mean_confidence  mean pre-label confidence (1 when there is none)
    count.<class>             pre-labels of that class; also count.vru and count.vehicle
    min_confidence.<class>    lowest confidence of that class (1 when none); also .vru
    min.<score>, max.<score>  over the pre-labels' per-detection scores (e.g. min.knn_tail)
    agreement.recent          mean agreement (0..1) of the latest consensus tasks (NaN before any)
    accuracy.crowd            median gold accuracy (0..1) of the active labellers (NaN before any)

Tiers: 1 auto-accepts the pre-labels (a random ``spot_check_share`` still goes to people), 2 is one
annotator plus one reviewer, 3 is ``overlap`` annotators labelling independently, then consensus
and a senior panel on disagreement. Rules are tried in order; the first that holds decides, and
the decision records its name (``default`` when none held).

Pure: the caller passes the random draw for the spot check.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from backend.annotation.ontology import Ontology
from core.errors import ConfigError
from core.expr import Expression, names_in, parse

#: frame-level scores the fleet's model reports (agent.daemon.model.FRAME_SCORE_NAMES)
FRAME_SCORES = ("score", "p_value", "surprise")
#: prefixes whose names are open-ended (rule names and detection score names vary by fleet)
OPEN_PREFIXES = ("rule.", "min.", "max.")


@dataclass(frozen=True)
class RoutingRule:
    """A compiled rule: when ``when`` holds, the task goes to ``tier`` with ``overlap`` people."""

    name: str
    when: Expression
    tier: int
    overlap: int


@dataclass(frozen=True)
class RoutingDecision:
    """Where a task goes and why."""

    rule: str
    tier: int
    overlap: int
    spot_check: bool


@dataclass(frozen=True)
class Prelabel:
    """What routing needs of one pre-label box."""

    class_name: str
    confidence: float
    scores: Mapping[str, float]


def known_signals(ontology: Ontology) -> set[str]:
    """The closed part of the signal vocabulary for ``ontology``."""
    names = {
        "priority",
        "frames",
        "points",
        "prelabel.count",
        "prelabel.min_confidence",
        "prelabel.mean_confidence",
        "agreement.recent",
        "accuracy.crowd",
    }
    names |= {f"frame.{s}" for s in FRAME_SCORES}
    groups = [*ontology.object_classes, "vru", "vehicle"]
    names |= {f"count.{c}" for c in groups} | {f"min_confidence.{c}" for c in groups}
    return names


def compile_rules(
    specs: Iterable[tuple[str, str, int, int]], ontology: Ontology, where: str = "annotation.rules"
) -> list[RoutingRule]:
    """Compile ``(name, when, tier, overlap)`` specs; ConfigError lists every bad rule with its
    index, the problem and the column."""
    known = known_signals(ontology)
    rules: list[RoutingRule] = []
    problems: list[str] = []
    for i, (name, when, tier, overlap) in enumerate(specs):
        label = f"{where}[{i}] ({name or 'unnamed'})"
        if not name or not when:
            problems.append(f"{label}: every rule needs a name and a when")
            continue
        if tier not in (1, 2, 3):
            problems.append(f"{label}: tier must be 1, 2 or 3, got {tier}")
            continue
        if tier == 3 and overlap < 2:
            problems.append(f"{label}: tier 3 needs overlap >= 2, got {overlap}")
            continue
        try:
            open_names = {r.name for r in names_in(parse(when)) if r.name.startswith(OPEN_PREFIXES)}
            rules.append(
                RoutingRule(name, Expression.compile(when, known | open_names), tier, overlap)
            )
        except ConfigError as exc:
            problems.append(f"{label}: {exc}")
    if problems:
        raise ConfigError("\n  ".join(["routing rules are invalid:", *problems]), tuple(problems))
    return rules


def signals(
    *,
    priority: float,
    frames: int,
    points: int,
    frame_scores: Mapping[str, float],
    rules_fired: Sequence[str],
    prelabels: Sequence[Prelabel],
    ontology: Ontology,
    agreement_recent: float = math.nan,
    accuracy_crowd: float = math.nan,
) -> dict[str, float]:
    """The signal values of one new task (see the module docstring)."""
    out: dict[str, float] = {
        "priority": float(priority),
        "frames": float(frames),
        "points": float(points),
        "agreement.recent": agreement_recent,
        "accuracy.crowd": accuracy_crowd,
    }
    for name in FRAME_SCORES:
        out[f"frame.{name}"] = float(frame_scores.get(name, math.nan))
    for rule in rules_fired:
        out[f"rule.{rule}"] = 1.0
    confidences = [p.confidence for p in prelabels]
    out["prelabel.count"] = float(len(prelabels))
    out["prelabel.min_confidence"] = min(confidences, default=1.0)
    out["prelabel.mean_confidence"] = statistics.fmean(confidences) if confidences else 1.0
    classes = ontology.by_name
    groups: dict[str, list[float]] = {}
    for p in prelabels:
        groups.setdefault(p.class_name, []).append(p.confidence)
        known = classes.get(p.class_name)
        if known is not None and known.is_vru:
            groups.setdefault("vru", []).append(p.confidence)
        if known is not None and known.is_vehicle:
            groups.setdefault("vehicle", []).append(p.confidence)
    for name in [*ontology.object_classes, "vru", "vehicle"]:
        values = groups.get(name, [])
        out[f"count.{name}"] = float(len(values))
        out[f"min_confidence.{name}"] = min(values, default=1.0)
    score_names = {k for p in prelabels for k in p.scores}
    for name in score_names:
        values = [float(p.scores[name]) for p in prelabels if name in p.scores]
        finite = [v for v in values if math.isfinite(v)]
        out[f"min.{name}"] = min(finite, default=math.nan)
        out[f"max.{name}"] = max(finite, default=math.nan)
    return out


class _Defaulting(dict[str, float]):
    """Signals where an absent ``rule.*`` reads 0 (the rule did not fire) and anything else NaN."""

    def get(self, key: str, default: float | None = None) -> float:  # type: ignore[override]
        if key in self:
            return self[key]
        return 0.0 if key.startswith("rule.") else math.nan


def route(
    values: Mapping[str, float],
    rules: Sequence[RoutingRule],
    *,
    default_tier: int,
    default_overlap: int,
    spot_check_share: float,
    draw: float,
) -> RoutingDecision:
    """The first rule that holds decides (``default`` otherwise). A tier-1 decision becomes a
    tier-2 spot check when ``draw`` (uniform in [0, 1)) falls below ``spot_check_share``."""
    lookup = _Defaulting(values)
    chosen: tuple[str, int, int] = ("default", default_tier, default_overlap)
    for rule in rules:
        if rule.when(lookup):
            chosen = (rule.name, rule.tier, rule.overlap)
            break
    name, tier, overlap = chosen
    if tier == 1 and draw < spot_check_share:
        return RoutingDecision(name, 2, 1, spot_check=True)
    return RoutingDecision(name, tier, overlap if tier == 3 else 1, spot_check=False)
