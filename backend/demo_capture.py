"""What the vehicle captured, against the simulator's ground truth (the demo's capture summary).

Two views of the same uploads: **frames** (how many of the frames that show a rare object were
uploaded: a diagnostic, tens of correlated frames per object) and **events** (how many rare actors'
tracks were captured: one well-observed uploaded frame of a track is enough, the definition of
``backend.evaluation.selection_metrics.EventRule`` that the capture benchmark uses too).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from backend.evaluation.selection_metrics import EventRule, event_capture, wilson_interval
from core.classes import is_rare
from core.formats.dataset import Dataset


def rare_frames(dataset: Dataset) -> dict[int, list[str]]:
    """Frame timestamp (ns) -> rare classes visible in it, from the simulator's ground truth."""
    found: dict[int, list[str]] = {}
    for index in dataset.indices:
        labels = dataset.labels(index)
        rare = sorted({o.class_name for o in labels.objects if is_rare(o.class_name)})
        if rare:
            found[labels.timestamp_ns] = rare
    return found


@dataclass(frozen=True)
class RareObservations:
    """One row per rare object with points in one frame (simulator ground truth): its track,
    class, the points on it, its range from the sensor (metres) and the frame's timestamp."""

    track: npt.NDArray[np.int64]
    class_name: list[str]
    points: npt.NDArray[np.int64]
    range_m: npt.NDArray[np.float64]
    timestamp_ns: npt.NDArray[np.int64]


def rare_observations(dataset: Dataset) -> RareObservations:
    """Every rare object with at least one point, in every frame of ``dataset``."""
    rows = [
        (
            o.track_id,
            o.class_name,
            o.num_points,
            float(np.hypot(o.box[0], o.box[1])),
            labels.timestamp_ns,
        )
        for labels in (dataset.labels(i) for i in dataset.indices)
        for o in labels.objects
        if is_rare(o.class_name) and o.num_points > 0
    ]
    return RareObservations(
        np.array([r[0] for r in rows], dtype=np.int64),
        [r[1] for r in rows],
        np.array([r[2] for r in rows], dtype=np.int64),
        np.array([r[3] for r in rows], dtype=np.float64),
        np.array([r[4] for r in rows], dtype=np.int64),
    )


def summarize_events(seen: RareObservations, sent: set[int]) -> dict[str, Any]:
    """Rare-object events (tracks) captured by the uploads: eligible when some frame shows the
    object well observed (``EventRule``'s defaults), captured when such a frame was uploaded."""
    rule = EventRule()
    uploaded = np.isin(seen.timestamp_ns, np.fromiter(sent, dtype=np.int64, count=len(sent)))
    result = event_capture(seen.track, seen.points, seen.range_m, uploaded, rule)
    class_of = dict(zip(seen.track.tolist(), seen.class_name, strict=True))
    by_class: dict[str, list[int]] = {}
    for track, eligible, captured in zip(
        result.tracks, result.eligible, result.captured, strict=True
    ):
        if eligible:
            counts = by_class.setdefault(class_of[int(track)], [0, 0])
            counts[0] += int(captured)
            counts[1] += 1
    eligible_n = int(result.eligible.sum())
    captured_n = int(result.captured.sum())
    low, high = wilson_interval(captured_n, eligible_n) if eligible_n else (None, None)
    # the best view of a captured event: the uploaded frame with the most points on it
    good = rule.well_observed(seen.points, seen.range_m) & uploaded
    best = int(np.argmax(np.where(good, seen.points, -1))) if good.any() else None
    return {
        "rule": {
            "min_points": rule.min_points,
            "near_points": rule.near_points,
            "near_range_m": rule.near_range_m,
        },
        "events": int(result.tracks.size),
        "eligible": eligible_n,
        "captured": captured_n,
        "recall": captured_n / eligible_n if eligible_n else None,
        "recall_wilson95": [low, high],
        "by_class": {c: {"captured": n[0], "eligible": n[1]} for c, n in sorted(by_class.items())},
        "best_view": None
        if best is None
        else {
            "timestamp_ns": int(seen.timestamp_ns[best]),
            "track": int(seen.track[best]),
            "class": seen.class_name[best],
            "points": int(seen.points[best]),
            "range_m": float(seen.range_m[best]),
        },
    }


def summarize(
    stored: list[dict[str, Any]],
    rare: dict[int, list[str]],
    timestamps: dict[int, int],
    total_frames: int,
    elapsed_s: float,
) -> dict[str, Any]:
    """Compare what the backend stored with the simulator's ground truth."""
    sent = {f["captured_at_ns"] for f in stored}
    caught = sorted(t for t in rare if t in sent)
    by_rule = Counter(rule for f in stored for rule in f["rules_fired"])
    classes_caught = Counter(c for t in caught for c in rare[t])
    classes_present = Counter(c for t in rare for c in rare[t])
    return {
        "frames_driven": total_frames,
        "frames_uploaded": len(stored),
        "upload_fraction": len(stored) / max(total_frames, 1),
        "rare_object_frames": len(rare),
        "rare_object_frames_uploaded": len(caught),
        "rare_frame_recall": len(caught) / len(rare) if rare else None,
        "uploads_by_rule": dict(by_rule.most_common()),
        "rare_classes_present_frames": dict(classes_present),
        "rare_classes_uploaded_frames": dict(classes_caught),
        "agent_wall_s": elapsed_s,
        "agent_frames_per_s": total_frames / elapsed_s if elapsed_s > 0 else None,
        "uploaded_frame_indices": sorted(timestamps[t] for t in sent if t in timestamps),
    }


def event_lines(events: dict[str, Any]) -> list[str]:
    """The events part of the summary: counts, recall with its Wilson 95 % interval, per class."""
    rule = events["rule"]
    lines = [
        f"rare-object events (tracks)      {events['events']}, {events['eligible']} well observed "
        f"(>= {rule['min_points']} points, or >= {rule['near_points']} within "
        f"{rule['near_range_m']:.0f} m)",
    ]
    if events["recall"] is not None:
        low, high = events["recall_wilson95"]
        lines.append(
            f"  of them captured               {events['captured']} "
            f"(event recall {events['recall']:.2f}, 95 % interval {low:.2f}-{high:.2f})"
        )
        lines.append(
            "  per class (captured / events): "
            + ", ".join(
                f"{c} {n['captured']}/{n['eligible']}" for c, n in events["by_class"].items()
            )
        )
    return lines


def print_summary(summary: dict[str, Any]) -> None:
    recall = summary["rare_frame_recall"]
    lines = [
        "",
        f"frames driven                    {summary['frames_driven']}",
        f"frames uploaded and stored       {summary['frames_uploaded']} "
        f"({100 * summary['upload_fraction']:.1f} % of the drive)",
        *event_lines(summary["rare_events"]),
        f"frames showing a rare object     {summary['rare_object_frames']} (frames: a diagnostic)",
        f"  of them uploaded               {summary['rare_object_frames_uploaded']}"
        + (f" (recall {recall:.2f})" if recall is not None else ""),
        f"agent throughput                 {summary['agent_frames_per_s']:.1f} frames/s "
        "(replay as fast as possible, upload included)",
        "uploads by rule                  "
        + ", ".join(f"{rule}: {n}" for rule, n in summary["uploads_by_rule"].items()),
        "rare classes (frames uploaded / frames present): "
        + ", ".join(
            f"{c} {summary['rare_classes_uploaded_frames'].get(c, 0)}/{n}"
            for c, n in sorted(summary["rare_classes_present_frames"].items())
        ),
        "",
    ]
    print("\n".join(lines))
