"""Rare-object events and their capture by a selection policy (pure numpy, from cached records).

An **event** is one rare actor's track in one drive (``DriveScores.obj_track``). A frame shows it
**well observed** when the object has at least ``min_points`` LiDAR points, or at least
``near_points`` within ``near_range_m`` metres of the sensor (``EventRule``). An event is
**eligible** when at least one frame shows it well observed, and **captured** by a policy at a
budget when at least one uploaded frame shows it well observed.

A policy's upload threshold is fixed on natural drives (``threshold_rule`` keeps the budget's
share of their frames). Events come from enriched drives, where rare actors are more frequent and
sometimes share a frame. So that one rare actor cannot lift another's frame above the threshold,
an event's frames are scored **as if the other rare actors were absent**: the detections on other
rare tracks are left out of the frame score (``EventView.mask``), the counterfactual of a drive
with this one rare actor. Capture is an expectation over the threshold's tie-break: with
``p_f`` the probability that frame ``f`` is kept, an event is captured with probability
``1 - prod(1 - p_f)`` over its well-observed frames. Random selection keeps each frame with
probability ``b``, so it captures an event with ``n`` well-observed frames with probability
``1 - (1 - b) ** n``: long, well-observed events are easy for it.

With **one upload per place** (``dedup_capture``, the selector's ``PlaceFilter``) a frame above
the threshold is uploaded only if its trigger (the detection holding the frame's maximum) lies
more than ``radius_m`` from the triggers uploaded in the last ``window_frames``; the threshold
is then the lowest whose de-duplicated uploads fill the budget of the natural drives, so the
budget goes to distinct places instead of thirty frames of one odd parked truck.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

import numpy as np
import numpy.typing as npt
from numba import njit

from backend.evaluation import selection_metrics as sm
from backend.evaluation.selection_metrics import EventRule
from benchmarks.selection_drives import DriveScores

F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]
#: a policy scores the frames ``frames`` of a drive from the detections ``mask`` keeps
Policy = Callable[[DriveScores, npt.NDArray[np.bool_], I64], F64]
#: the budgets of the headline table
BUDGETS: Final = (0.005, 0.01, 0.02, 0.05)


@dataclass(frozen=True)
class Event:
    """One rare actor's track in one drive: its class, the frames that show it well observed,
    and facts about its visibility (frames with any points, first range with points, most
    points in a frame)."""

    drive: str
    track: int
    class_name: str
    frames: I64
    visible_frames: int
    first_range_m: float
    max_points: int

    @property
    def eligible(self) -> bool:
        return bool(self.frames.size)


def events_of(drive: DriveScores, name: str, rule: EventRule) -> list[Event]:
    """Every rare track of ``drive`` (eligible or not), in order of first appearance."""
    frame_of = np.repeat(np.arange(drive.frames), np.diff(drive.obj_offsets))
    good = rule.well_observed(drive.obj_points, drive.obj_range)
    out = []
    tracks, first = np.unique(drive.obj_track, return_index=True)
    for track in tracks[np.argsort(first)]:
        rows = np.flatnonzero(drive.obj_track == track)
        out.append(
            Event(
                drive=name,
                track=int(track),
                class_name=str(drive.obj_class[rows[0]]),
                frames=np.unique(frame_of[rows[good[rows]]]),
                visible_frames=int(np.unique(frame_of[rows]).size),
                first_range_m=float(drive.obj_range[rows[0]]),
                max_points=int(drive.obj_points[rows].max()),
            )
        )
    return out


def mask_for(drive: DriveScores, track: int | None) -> npt.NDArray[np.bool_]:
    """Detections a frame score may use: the ordinary ones and those on ``track`` (None: all)."""
    if track is None:
        return np.ones(drive.rare_track.shape, dtype=bool)
    keep: npt.NDArray[np.bool_] = (drive.rare_track == -1) | (drive.rare_track == track)
    return keep


def keep_probability(scores: F64, rule: sm.ThresholdRule) -> F64:
    """Per frame, the probability that ``rule`` keeps it (1 above, ``tie_keep`` at, 0 below)."""
    return np.where(
        scores > rule.threshold, 1.0, np.where(scores == rule.threshold, rule.tie_keep, 0.0)
    )


def capture_probability(scores: F64, rule: sm.ThresholdRule) -> float:
    """Probability that at least one of an event's well-observed frames (``scores``) is kept."""
    return float(1.0 - np.prod(1.0 - keep_probability(scores, rule)))


def random_capture_probability(frames: int, budget: float) -> float:
    """The same for random selection: every frame kept with probability ``budget``."""
    return 1.0 - (1.0 - budget) ** frames


@dataclass(frozen=True)
class Capture:
    """Per event (in the order of ``events``), the capture probability at each budget."""

    budgets: tuple[float, ...]
    probability: F64  # [events, budgets]


def capture(
    policy: Policy,
    natural: Sequence[DriveScores],
    enriched: Mapping[str, DriveScores],
    events: Sequence[Event],
    budgets: Sequence[float],
) -> Capture:
    """Capture probabilities of ``events`` (eligible ones, from the drives ``enriched`` by
    name) under ``policy`` with thresholds fixed on the pooled frames of ``natural``."""
    reference = np.concatenate(
        [policy(d, mask_for(d, None), np.arange(d.frames, dtype=np.int64)) for d in natural]
    )
    rules = [sm.threshold_rule(reference, b) for b in budgets]
    out = np.zeros((len(events), len(budgets)))
    for i, event in enumerate(events):
        drive = enriched[event.drive]
        scores = policy(drive, mask_for(drive, event.track), event.frames)
        out[i] = [capture_probability(scores, r) for r in rules]
    return Capture(tuple(budgets), out)


def random_capture(events: Sequence[Event], budgets: Sequence[float]) -> Capture:
    """Capture probabilities of random selection (exact)."""
    out = np.array(
        [[random_capture_probability(int(e.frames.size), b) for b in budgets] for e in events]
    ).reshape(len(events), len(budgets))
    return Capture(tuple(budgets), out)


def recall_row(probability: F64, budgets: Sequence[float]) -> dict[str, Any]:
    """Event recall (expected captured / eligible) with its Wilson 95 % interval per budget."""
    n = int(probability.shape[0])
    row: dict[str, Any] = {"events": n}
    for j, b in enumerate(budgets):
        captured = float(probability[:, j].sum()) if n else 0.0
        low, high = sm.wilson_interval(min(captured, float(n)), n)
        row[f"{b:g}"] = {
            "recall": captured / n if n else math.nan,
            "captured": captured,
            "wilson95": [low, high],
        }
    return row


def summarise_capture(
    result: Capture, events: Sequence[Event], classes: Sequence[str]
) -> dict[str, Any]:
    """Recall rows over all events and per rare class, plus the mean recall curve."""
    names = np.array([e.class_name for e in events])
    out: dict[str, Any] = {"all": recall_row(result.probability, result.budgets)}
    out["per_class"] = {
        c: recall_row(result.probability[names == c], result.budgets) for c in classes
    }
    return out


# ---- one upload per place: the selector's PlaceFilter, replayed on the records ------------


@njit(cache=True)
def place_dedup_select(
    scores: F64, places: F64, threshold: float, radius_m: float, window: int
) -> npt.NDArray[np.bool_]:  # pragma: no cover - numba
    """Frames kept, in time order, by a threshold rule with one upload per place: a frame
    scoring at least ``threshold`` is kept unless its trigger (``places`` world x, y) lies
    within ``radius_m`` of a kept trigger of the last ``window`` frames (``PlaceFilter``)."""
    n = scores.shape[0]
    kept = np.zeros(n, dtype=np.bool_)
    recent = np.empty(n, dtype=np.int64)
    count = 0
    r2 = radius_m * radius_m
    for f in range(n):
        if not scores[f] >= threshold:
            continue
        dup = False
        for k in range(count):
            g = recent[k]
            if f - g > window:
                continue
            dx = places[f, 0] - places[g, 0]
            dy = places[f, 1] - places[g, 1]
            if dx * dx + dy * dy <= r2:
                dup = True
                break
        if not dup:
            kept[f] = True
            recent[count] = f
            count += 1
    return kept


@dataclass(frozen=True)
class PlaceDedup:
    """One upload per place: radius (metres, world frame) and memory (frames)."""

    radius_m: float = 10.0
    window_frames: int = 300


def scores_and_places(
    values: F64, drive: DriveScores, mask: npt.NDArray[np.bool_]
) -> tuple[F64, F64]:
    """Per frame, the max of ``values`` over the kept detections and the world (x, y) of the
    detection that holds it (the trigger; NaN without one)."""
    v = np.where(mask, values, -np.inf)
    scores = np.full(drive.frames, -np.inf)
    places = np.full((drive.frames, 2), np.nan)
    for f in range(drive.frames):
        lo, hi = int(drive.offsets[f]), int(drive.offsets[f + 1])
        if hi == lo:
            continue
        j = lo + int(np.argmax(v[lo:hi]))
        scores[f] = v[j]
        pose = drive.pose[f]
        c, s = math.cos(pose[5]), math.sin(pose[5])
        x, y = float(drive.boxes[j, 0]), float(drive.boxes[j, 1])
        places[f] = (pose[0] + c * x - s * y, pose[1] + s * x + c * y)
    return scores, places


def dedup_threshold(
    per_drive: Sequence[tuple[F64, F64]], budget: float, dedup: PlaceDedup
) -> float:
    """The lowest threshold whose de-duplicated uploads over the natural drives stay within
    ``budget`` of their frames (bisection over the observed scores)."""
    total = sum(s.size for s, _ in per_drive)
    k = sm.budget_count(total, budget)
    levels = np.unique(np.concatenate([s[np.isfinite(s)] for s, _ in per_drive]))[::-1]

    def kept(t: float) -> int:
        return sum(
            int(place_dedup_select(s, p, t, dedup.radius_m, dedup.window_frames).sum())
            for s, p in per_drive
        )

    lo, hi = 0, levels.size - 1  # levels[lo] keeps few; find the last index keeping <= k
    if kept(float(levels[0])) > k:
        return math.inf
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if kept(float(levels[mid])) <= k:
            lo = mid
        else:
            hi = mid - 1
    return float(levels[lo])


def dedup_capture(
    values_of: Callable[[DriveScores], F64],
    natural: Sequence[DriveScores],
    enriched: Mapping[str, DriveScores],
    events: Sequence[Event],
    budgets: Sequence[float],
    dedup: PlaceDedup = PlaceDedup(),
) -> Capture:
    """Capture (0 or 1 per event) of a max-type policy with one upload per place, thresholds
    fixed on the natural drives so that the de-duplicated uploads fill the budget."""
    per_drive = [scores_and_places(values_of(d), d, mask_for(d, None)) for d in natural]
    thresholds = [dedup_threshold(per_drive, b, dedup) for b in budgets]
    out = np.zeros((len(events), len(budgets)))
    cache: dict[tuple[str, int], tuple[F64, F64]] = {}
    for i, event in enumerate(events):
        drive = enriched[event.drive]
        key = (event.drive, event.track)
        if key not in cache:
            cache[key] = scores_and_places(values_of(drive), drive, mask_for(drive, event.track))
        scores, places = cache[key]
        for j, t in enumerate(thresholds):
            kept = place_dedup_select(scores, places, t, dedup.radius_m, dedup.window_frames)
            out[i, j] = float(kept[event.frames].any())
    return Capture(tuple(budgets), out)
