"""The picture that explains why a frame was sent: the model's detections and the candidate that
fired the trigger rule, drawn over the cloud and the simulator's ground truth, with the rule, the
scores and the priority in the title.

Everything comes from what the backend stored about the frame (``GET /frames/{id}``: detections
with their class, confidence, box and scores, the frame scores, the rules that fired, the
priority) plus the rule expressions the vehicle ran, so the picture shows the vehicle's decision,
not a re-run of the model.

Which candidate fired a rule (:func:`explain_frame`): the rule is evaluated on the frame's
signals (``agent.selection.signals``) with each detection left out in turn; a detection without
which the rule no longer holds decided it. When none alone does (two candidates each enough), the
one holding the most extreme value of the first per-detection signal the rule names is shown.
A frame-level rule (``frame.surprise > 4``) has no single candidate.
"""

from __future__ import annotations

import itertools
import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from agent.selection.rules import CONTEXT_PREFIX
from agent.selection.signals import DetectionFacts, SignalSchema, compute_signals
from core.classes import COMMON_CLASSES, VULNERABLE_ROAD_USERS, is_rare
from core.errors import ExpressionError
from core.expr import evaluate, names_in, parse
from core.formats.dataset import FrameLabels
from simulators.render import TopView

#: drawing colours: the deciding candidate, other detections, ground truth
FIRING_COLOR = "#ff2bd6"
DETECTION_COLOR = "#00e5ff"
TRUTH_COLOR = "0.85"
#: candidates the model calls background are drawn faintly and unlabelled (walls, kerbs, trees)
BACKGROUND = "background"


@dataclass(frozen=True)
class FrameExplanation:
    """Why a stored frame was sent: the rule (its name and expression), the detection that
    decided it (index into the frame's detections, None for a frame-level rule or a frame kept
    as context or sample), and the per-detection signal that names it with its value."""

    rule: str
    when: str
    candidate: int | None
    signal: str | None
    value: float | None


def facts_of(detail: Mapping[str, Any]) -> list[DetectionFacts]:
    """The detections of a ``/frames/{id}`` response as the signals' ``DetectionFacts``."""
    return [
        DetectionFacts(
            class_name=str(d["class_name"]),
            confidence=float(d["confidence"]),
            box=tuple(float(v) for v in d["box"]),  # type: ignore[arg-type]
            num_points=int(d["num_points"]),
            scores={k: float(v) for k, v in d["scores"].items()},
        )
        for d in detail["detections"]
    ]


def _signals(detections: Sequence[DetectionFacts], detail: Mapping[str, Any]) -> dict[str, float]:
    classes = tuple(dict.fromkeys((*COMMON_CLASSES, *(d.class_name for d in detections))))
    score_names = tuple(sorted({name for d in detections for name in d.scores}))
    schema = SignalSchema(classes, score_names, tuple(detail["frame_scores"]))
    return compute_signals(
        schema, detections, detail["frame_scores"], {}, int(detail["num_points"])
    )


def explain_frame(detail: Mapping[str, Any], rules: Mapping[str, str]) -> FrameExplanation:
    """Explain the first rule in ``detail["rules_fired"]`` that ``rules`` (name -> expression)
    knows; context and sample keeps are explained by what they are."""
    fired = list(detail["rules_fired"])
    known = [r for r in fired if r in rules]
    if not known:
        reason = fired[0] if fired else "unknown"
        if reason.startswith(CONTEXT_PREFIX):
            return FrameExplanation(reason, "context around a trigger", None, None, None)
        return FrameExplanation(reason, "", None, None, None)
    rule = known[0]
    when = rules[rule]
    try:
        tree = parse(when)
    except ExpressionError:
        return FrameExplanation(rule, when, None, None, None)
    detections = facts_of(detail)
    holds = _truthy(evaluate(tree, _signals(detections, detail)))
    decisive = [
        i
        for i in range(len(detections))
        if holds
        and not _truthy(evaluate(tree, _signals(detections[:i] + detections[i + 1 :], detail)))
    ]
    per_detection = [n.name for n in names_in(tree) if _attaining(n.name, detections) is not None]
    index: int | None
    if len(decisive) == 1:
        index = decisive[0]
        signal = next((s for s in per_detection if _attaining(s, detections) == index), None)
    elif per_detection:
        signal = per_detection[0]
        index = _attaining(signal, detections)
    else:
        return FrameExplanation(rule, when, None, None, None)
    value = _value(signal, detections[index]) if signal is not None and index is not None else None
    return FrameExplanation(rule, when, index, signal, value)


def _truthy(value: float) -> bool:
    return value != 0.0 and not math.isnan(value)


def _members(group: str, detections: Sequence[DetectionFacts]) -> list[int]:
    if group == "vru":
        return [i for i, d in enumerate(detections) if d.class_name in VULNERABLE_ROAD_USERS]
    return [i for i, d in enumerate(detections) if d.class_name == group]


def _attaining(signal: str, detections: Sequence[DetectionFacts]) -> int | None:
    """The detection whose value is the signal's (argmin / argmax), None for other signals."""
    kind, _, name = signal.partition(".")
    if kind in ("min", "max"):
        candidates = [
            (d.scores[name], i)
            for i, d in enumerate(detections)
            if name in d.scores and not math.isnan(d.scores[name])
        ]
    elif kind in ("min_confidence", "max_confidence"):
        candidates = [(detections[i].confidence, i) for i in _members(name, detections)]
    else:
        return None
    if not candidates:
        return None
    return (min if kind.startswith("min") else max)(candidates)[1]


def _value(signal: str, detection: DetectionFacts) -> float:
    kind, _, name = signal.partition(".")
    return detection.confidence if kind.endswith("confidence") else detection.scores[name]


def title_of(detail: Mapping[str, Any], explanation: FrameExplanation, frame_name: str) -> str:
    """Three lines: the frame and its priority; the rule; the scores that decided."""
    scores = detail["frame_scores"]
    frame_score = scores.get("score")
    surprise = scores.get("surprise")
    lines = [
        f"{frame_name}: sent by {detail['vehicle']} with priority {detail['priority']:.2f}"
        + (
            f" (rules: {', '.join(detail['rules_fired'])})"
            if len(detail["rules_fired"]) > 1
            else ""
        ),
        f"rule {explanation.rule}" + (f": {explanation.when}" if explanation.when else ""),
    ]
    third = []
    if explanation.candidate is not None and explanation.signal is not None:
        det = detail["detections"][explanation.candidate]
        third.append(
            f"candidate: {det['class_name']} ({det['confidence']:.2f}), "
            f"{explanation.signal} = {explanation.value:.3g}"
        )
    if frame_score is not None:
        third.append(
            f"frame score {frame_score:.3f}"
            + (f" (surprise {surprise:.1f})" if surprise is not None else "")
        )
    lines.append("; ".join(third) if third else "no single candidate decided this rule")
    return "\n".join(lines)


def render_urgent_frame(
    points: npt.NDArray[np.float32],
    labels: FrameLabels | None,
    detail: Mapping[str, Any],
    explanation: FrameExplanation,
    out: str | os.PathLike[str],
    *,
    extent: float = 50.0,
    frame_name: str = "frame",
) -> None:
    """Draw the frame (N, 4 points, sensor frame) with the ground truth (grey, dashed; rare
    classes labelled), the model's detections (cyan, class and confidence) and the deciding
    candidate (magenta, thick, with its signal) into the PNG ``out``; ``extent``: half width in
    metres."""
    view = TopView(extent, title_of(detail, explanation, frame_name))
    view.draw_points(points, "height")
    detections = detail["detections"]
    firing = explanation.candidate
    # the deciding candidate first: its label gets the best place
    if firing is not None:
        det = detections[firing]
        corners = view.draw_box(det["box"], FIRING_COLOR, lw=2.5)
        length, width = det["box"][3], det["box"][4]
        text = f"{det['class_name']} {det['confidence']:.2f}, {length:.1f} x {width:.1f} m"
        if explanation.signal is not None and explanation.value is not None:
            text += f"\n{explanation.signal} {explanation.value:.2g}"
        anchor = visible_anchor(corners, det["box"][:2], extent)
        if anchor is not None:
            view.labels.place(*anchor, text, color=FIRING_COLOR, fontsize=9, fontweight="bold")
    if labels is not None:
        for obj in labels.objects:
            corners = view.draw_box(obj.box, TRUTH_COLOR, lw=0.8, ls="--")
            if is_rare(obj.class_name):
                view.labels.place(
                    float(corners[:, 0].min()),
                    float(corners[:, 1].min()),
                    f"truth: {obj.class_name}",
                    color=TRUTH_COLOR,
                    fontsize=8,
                    fontstyle="italic",
                )
    order = sorted(
        (i for i in range(len(detections)) if i != firing),
        key=lambda i: math.hypot(detections[i]["box"][0], detections[i]["box"][1]),
    )
    for i in order:  # nearer detections get their labels first
        det = detections[i]
        if det["class_name"] == BACKGROUND:
            view.draw_box(det["box"], DETECTION_COLOR, lw=0.5, alpha=0.3)
            continue
        corners = view.draw_box(det["box"], DETECTION_COLOR, lw=1.0)
        view.labels.place(
            float(corners[:, 0].max()),
            float(corners[:, 1].max()),
            f"{det['class_name']} {det['confidence']:.2f}",
            color=DETECTION_COLOR,
            fontsize=7,
        )
    _legend(view, firing is not None, labels is not None)
    view.save(out)


def visible_anchor(
    corners: npt.NDArray[np.float64], centre: Sequence[float], extent: float
) -> tuple[float, float] | None:
    """Where to label a box (4, 2 corners) in a view of half width ``extent``: its centre if in
    view, else the point of its outline inside the view nearest its centre (a long wall may have
    its centre off the picture); None if none of it is visible."""
    closed = np.vstack([corners, corners[:1]])
    edges = [
        a + np.linspace(0.0, 1.0, min(4000, 2 + int(np.hypot(*(b - a)) / 0.25)))[:, None] * (b - a)
        for a, b in itertools.pairwise(closed)
    ]  # a point every 25 cm along each edge
    outline = np.concatenate([np.asarray([centre[:2]], dtype=np.float64), *edges])
    limit = extent * 0.95
    inside = outline[(np.abs(outline[:, 0]) < limit) & (np.abs(outline[:, 1]) < limit)]
    if len(inside) == 0:
        return None
    best = inside[np.argmin(np.hypot(inside[:, 0] - centre[0], inside[:, 1] - centre[1]))]
    return float(best[0]), float(best[1])


def _legend(view: TopView, firing: bool, truth: bool) -> None:
    from matplotlib.lines import Line2D

    handles = [
        Line2D([], [], color=DETECTION_COLOR, lw=1.0, label="model detection"),
        Line2D(
            [], [], color=DETECTION_COLOR, lw=0.5, alpha=0.3, label="candidate called background"
        ),
    ]
    if firing:
        handles.insert(0, Line2D([], [], color=FIRING_COLOR, lw=2.5, label="candidate that fired"))
    if truth:
        handles.append(Line2D([], [], color=TRUTH_COLOR, lw=0.8, ls="--", label="ground truth"))
    legend = view.ax.legend(
        handles=handles, loc="lower left", fontsize=8, facecolor="black", framealpha=0.7
    )
    for text in legend.get_texts():
        text.set_color("white")
