"""The labelling model: what a person with a given :class:`Profile` submits for a frame, and
what a reviewer or the senior panel decides about someone's labels. Pure numpy: truth and a
random generator in, labels and decisions out; no I/O.

Boxes are ``(x, y, z, l, w, h, yaw)`` in the frame's sensor frame (metres, box centre, yaw in
radians about +z, wrapped to (-pi, pi]). Reviews compare a submission with the truth through
the project's matcher (``backend.annotation.qa.matching``), never another IoU.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from backend.annotation.qa.matching import FrameMatch, MatchSettings, match_frame, summarize
from core.classes import ALL_OBJECT_CLASSES, POINT_CLASS_IDS, UNKNOWN_OBSTACLE
from core.formats.dataset import wrap_yaw
from core.formats.semantic_kitti import PointLabels
from simulators.crowd.profiles import Profile
from simulators.crowd.truth import FrameTruth

BoxValues = tuple[float, float, float, float, float, float, float]
#: the object classes a person may pick from (the ontology's version 1)
OBJECT_CLASSES: tuple[str, ...] = (*ALL_OBJECT_CLASSES, UNKNOWN_OBSTACLE)
#: track ids of boxes around nothing start here (no simulated track comes close)
PHANTOM_TRACK = 1_000_000
#: a reviewer calls a matched box's extent bad beyond this centre error (m) ...
BAD_CENTRE_M = 0.35
#: ... or this relative size error, and its heading bad beyond this error (rad, flips count)
BAD_SIZE = 0.2
BAD_HEADING_RAD = 0.35
#: random boxes stay within this distance of the sensor (m)
RANDOM_BOX_REACH_M = 40.0


@dataclass(frozen=True)
class LabelledBox:
    """A box a person drew: ``truth_index`` is the truth object it came from (-1: none)."""

    track_id: int
    class_name: str
    box: BoxValues
    truth_index: int = -1


@dataclass(frozen=True)
class FrameWork:
    """A person's labels of one frame."""

    boxes: tuple[LabelledBox, ...]
    points: PointLabels | None


def _draw_class(true_class: str, profile: Profile, rng: np.random.Generator) -> str:
    if rng.random() < profile.random_class_rate:
        return str(OBJECT_CLASSES[int(rng.integers(len(OBJECT_CLASSES)))])
    wrong = profile.wrong_classes(true_class)
    u = rng.random()
    for name, p in wrong.items():
        if u < p:
            return name
        u -= p
    return true_class


def _noisy_box(box: Sequence[float], profile: Profile, rng: np.random.Generator) -> BoxValues:
    x, y, z, length, width, height, yaw = (float(v) for v in box)
    c = profile.centre_noise_m
    x, y, z = x + rng.normal(0, c), y + rng.normal(0, c), z + rng.normal(0, c / 2)
    sides = np.array([length, width, height]) * np.exp(rng.normal(0, profile.size_noise, 3))
    length, width, height = (float(np.clip(s, 0.05, 30.0)) for s in sides)
    yaw += rng.normal(0, profile.heading_noise_rad)
    if rng.random() < profile.flip_rate:
        yaw += math.pi
    return (x, y, z, length, width, height, wrap_yaw(yaw))


def _random_box(template: Sequence[float], rng: np.random.Generator) -> BoxValues:
    reach = RANDOM_BOX_REACH_M
    return (
        float(rng.uniform(-reach, reach)),
        float(rng.uniform(-reach, reach)),
        float(template[2]),
        float(template[3]),
        float(template[4]),
        float(template[5]),
        wrap_yaw(float(rng.uniform(-math.pi, math.pi))),
    )


def label_boxes(
    truth: FrameTruth, profile: Profile, rng: np.random.Generator
) -> tuple[LabelledBox, ...]:
    """The boxes ``profile`` draws for ``truth``'s objects: some missed, each moved, resized and
    turned by the profile's noise, some of the wrong class, some at random places, plus boxes
    around nothing (``false_boxes`` per frame on average)."""
    out: list[LabelledBox] = []
    objects = truth.objects
    for i, obj in enumerate(objects):
        if rng.random() < profile.miss_rate:
            continue
        cls = _draw_class(obj.class_name, profile, rng)
        if rng.random() < profile.random_box_rate:
            out.append(LabelledBox(PHANTOM_TRACK + i, cls, _random_box(obj.box, rng)))
        else:
            out.append(LabelledBox(obj.track_id, cls, _noisy_box(obj.box, profile, rng), i))
    for k in range(int(rng.poisson(profile.false_boxes)) if objects else 0):
        template = objects[int(rng.integers(len(objects)))]
        x, y, *rest = template.box
        shift = rng.uniform(3.0, 8.0) * (1 if rng.random() < 0.5 else -1)
        box = (float(x + rng.normal(0, 2.0)), float(y + shift), *(float(v) for v in rest))
        cls = str(OBJECT_CLASSES[int(rng.integers(len(OBJECT_CLASSES)))])
        out.append(LabelledBox(PHANTOM_TRACK + len(objects) + k, cls, box))  # type: ignore[arg-type]
    return tuple(out)


def boundary_neighbours(
    xyz: npt.NDArray[np.float32], semantic: npt.NDArray[np.uint16], within_m: float, reach: int = 2
) -> npt.NDArray[np.int64]:
    """For each point, the index of a point up to ``reach`` places away in scan order, within
    ``within_m`` metres and of another class (-1 where there is none): the points on a class
    boundary and what lies across it."""
    n = semantic.shape[0]
    across = np.full(n, -1, dtype=np.int64)
    index = np.arange(n)
    for step in range(1, reach + 1):
        for shift in (step, -step):
            other = index + shift
            valid = (other >= 0) & (other < n) & (across < 0)
            other = np.clip(other, 0, n - 1)
            close = np.linalg.norm(xyz - xyz[other], axis=1) <= within_m
            hit = valid & close & (semantic != semantic[other])
            across[hit] = other[hit]
    return across


def label_points(
    truth: FrameTruth,
    xyz: npt.NDArray[np.float32] | None,
    boxes: Sequence[LabelledBox],
    profile: Profile,
    rng: np.random.Generator,
) -> PointLabels | None:
    """The point labels ``profile`` paints: each object's points take the class its box was given
    (a missed object keeps the truth), a share ``border_error`` of the points on a class
    boundary take the class across it, a share ``random_class_rate`` a random class. None when
    the truth has no point labels or ``xyz`` does not match them."""
    if truth.points is None or xyz is None or xyz.shape[0] != truth.points.semantic.shape[0]:
        return None
    semantic = truth.points.semantic.copy()
    instance = truth.points.instance.copy()
    for box in boxes:
        if box.truth_index >= 0:
            obj = truth.objects[box.truth_index]
            semantic[truth.points.instance == obj.track_id] = POINT_CLASS_IDS[box.class_name]
    if profile.border_error > 0:
        across = boundary_neighbours(xyz, truth.points.semantic, profile.border_m)
        border = np.flatnonzero(across >= 0)
        sloppy = border[rng.random(border.shape[0]) < profile.border_error]
        semantic[sloppy] = truth.points.semantic[across[sloppy]]
    if profile.random_class_rate > 0:
        ids = np.array(sorted(set(POINT_CLASS_IDS.values()) - {0}), dtype=np.uint16)
        noisy = rng.random(semantic.shape[0]) < profile.random_class_rate
        semantic[noisy] = rng.choice(ids, int(np.count_nonzero(noisy)))
    return PointLabels(semantic, instance)


def label_frame(
    truth: FrameTruth,
    xyz: npt.NDArray[np.float32] | None,
    profile: Profile,
    rng: np.random.Generator,
) -> FrameWork:
    """Everything ``profile`` submits for one frame: boxes and, where possible, point labels."""
    boxes = label_boxes(truth, profile, rng)
    return FrameWork(boxes, label_points(truth, xyz, boxes, profile, rng))


# -- judging labels ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Judged:
    """A submission's frame set against the truth: the matcher's answer and what is wrong.

    ``box_reasons[k]``: reason codes of submitted box ``k``; ``missed``: truth objects nobody
    boxed."""

    match: FrameMatch
    box_reasons: dict[int, list[str]]
    missed: list[int]

    @property
    def errors(self) -> int:
        return len(self.box_reasons) + len(self.missed)


def _arrays(boxes: Sequence[BoxValues]) -> npt.NDArray[np.float64]:
    return np.array(boxes, dtype=np.float64).reshape(-1, 7)


def judge_frame(
    classes: Sequence[str],
    boxes: Sequence[BoxValues],
    truth: FrameTruth,
    settings: MatchSettings | None = None,
) -> Judged:
    """What is wrong with one frame's submitted boxes, by the matcher against the truth."""
    match = match_frame(
        _arrays(boxes),
        list(classes),
        _arrays([o.box for o in truth.objects]),
        [o.class_name for o in truth.objects],
        settings,
    )
    reasons: dict[int, list[str]] = {int(k): ["false_object"] for k in match.unmatched_candidate}
    for k in match.mismatched.candidate.tolist():
        reasons[int(k)] = ["wrong_class"]
    m = match.matched
    for j, (k, r) in enumerate(zip(m.candidate.tolist(), m.reference.tolist(), strict=True)):
        given, true = boxes[k], truth.objects[r].box
        size_error = max(abs(g / t - 1.0) for g, t in zip(given[3:6], true[3:6], strict=True))
        found = []
        if m.centre_error_m[j] > BAD_CENTRE_M or size_error > BAD_SIZE:
            found.append("bad_extent")
        if m.heading_error_rad[j] > BAD_HEADING_RAD:
            found.append("bad_heading")
        if found:
            reasons[int(k)] = found
    return Judged(match, reasons, [int(r) for r in match.unmatched_reference])


@dataclass(frozen=True)
class ReviewDecision:
    """A reviewer's decision: ``decision`` (approve, reject, fix_accept), frame reason codes,
    per-box reason codes (by the box's index in its frame: ``(frame_index, box_index)``), and
    which errors they noticed (the fix they would make)."""

    decision: str
    reasons: list[str]
    box_reasons: dict[tuple[int, int], list[str]] = field(default_factory=dict)
    noticed_missing: dict[int, list[int]] = field(default_factory=dict)


def review(judged: Sequence[Judged], profile: Profile, rng: np.random.Generator) -> ReviewDecision:
    """A reviewer with ``profile`` looks at a submission's frames (each judged against the
    truth): each error is noticed with probability ``review_recall``; nothing noticed approves,
    up to ``fix_limit`` noticed errors are fixed (fix_accept), more are rejected with reasons."""
    box_reasons: dict[tuple[int, int], list[str]] = {}
    missing: dict[int, list[int]] = {}
    for f, frame in enumerate(judged):
        for k, codes in sorted(frame.box_reasons.items()):
            if rng.random() < profile.review_recall:
                box_reasons[(f, k)] = codes
        seen = [r for r in frame.missed if rng.random() < profile.review_recall]
        if seen:
            missing[f] = seen
    noticed = len(box_reasons) + sum(len(v) for v in missing.values())
    if noticed == 0:
        return ReviewDecision("approve", [])
    frame_reasons = ["missed_object"] if missing else []
    decision = "fix_accept" if noticed <= profile.fix_limit else "reject"
    return ReviewDecision(decision, frame_reasons, box_reasons, missing)


def f1_against_truth(
    frames: Sequence[tuple[Sequence[str], Sequence[BoxValues], FrameTruth]],
    settings: MatchSettings | None = None,
) -> float:
    """The class-aware matched F1 of labels against the truth, pooled over frames."""
    matches = [
        match_frame(
            _arrays(boxes),
            list(classes),
            _arrays([o.box for o in truth.objects]),
            [o.class_name for o in truth.objects],
            settings,
        )
        for classes, boxes, truth in frames
    ]
    return summarize(matches).f1


def fix_frame(
    submitted: Sequence[LabelledBox],
    judged: Judged,
    fix_boxes: Sequence[int],
    add_missing: Sequence[int],
    truth: FrameTruth,
    profile: Profile,
    rng: np.random.Generator,
) -> tuple[LabelledBox, ...]:
    """A reviewer's correction of one frame: boxes ``fix_boxes`` (indices into ``submitted``)
    are redrawn from the truth object they belong to by the reviewer's own hand (or dropped when
    they belong to none), and the missed truth objects ``add_missing`` are added."""
    pairs = judged.match.matched, judged.match.mismatched
    reference = {
        int(c): int(r)
        for p in pairs
        for c, r in zip(p.candidate.tolist(), p.reference.tolist(), strict=True)
    }
    out: list[LabelledBox] = []
    for k, box in enumerate(submitted):
        if k not in fix_boxes:
            out.append(box)
        elif k in reference:
            obj = truth.objects[reference[k]]
            out.append(
                LabelledBox(
                    obj.track_id, obj.class_name, _noisy_box(obj.box, profile, rng), reference[k]
                )
            )
    for r in add_missing:
        obj = truth.objects[r]
        out.append(LabelledBox(obj.track_id, obj.class_name, _noisy_box(obj.box, profile, rng), r))
    return tuple(out)
