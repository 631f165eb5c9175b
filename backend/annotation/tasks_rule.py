"""The task rule: which stored frames become annotation tasks (``annotation.task_rule``).

An expression in ``core.expr`` over one frame's metadata::

    priority                 the frame's trigger priority
    points, detections       point count, number of detections the vehicle reported
    frame.<score>            the vehicle's frame-level scores
    rule.<name>              1 when trigger rule <name> fired (context frames: ``rule.context``)
    count.<class>            detections of that class

An empty rule takes every frame.
"""

from __future__ import annotations

from collections import Counter

from backend.annotation.routing import FRAME_SCORES
from backend.metadata.records import FrameRecord
from core.classes import ALL_OBJECT_CLASSES, BACKGROUND
from core.expr import Expression, names_in, parse


def _known() -> set[str]:
    names = {"priority", "points", "detections"} | {f"frame.{s}" for s in FRAME_SCORES}
    return names | {f"count.{c}" for c in (*ALL_OBJECT_CLASSES, BACKGROUND)}


def compile_task_rule(text: str) -> Expression | None:
    """The compiled rule (None when empty); ConfigError with the column of a bad name."""
    if not text.strip():
        return None
    opened = {r.name for r in names_in(parse(text)) if r.name.startswith("rule.")}
    return Expression.compile(text, _known() | opened)


def frame_signals(frame: FrameRecord) -> dict[str, float]:
    """The signal values of ``frame`` (see the module docstring)."""
    out: dict[str, float] = {
        "priority": frame.priority,
        "points": float(frame.num_points),
        "detections": float(len(frame.detections)),
    }
    out.update({f"frame.{k}": float(v) for k, v in frame.frame_scores.items()})
    for rule in frame.rules_fired:
        out[f"rule.{rule}"] = 1.0
        if rule.startswith("context:"):
            out["rule.context"] = 1.0
    counts = Counter(d.class_name for d in frame.detections)
    out.update({f"count.{c}": float(counts.get(c, 0)) for c in (*ALL_OBJECT_CLASSES, BACKGROUND)})
    return out


def takes(rule: Expression | None, frame: FrameRecord) -> bool:
    """Whether ``frame`` becomes a task (absent ``rule.*`` names read 0)."""
    if rule is None:
        return True
    values = frame_signals(frame)
    for ref in names_in(rule.tree):
        if ref.name.startswith("rule.") and ref.name not in values:
            values[ref.name] = 0.0
    return rule(values)
