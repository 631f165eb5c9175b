"""Why rare-object frames are missed: a per-rare-class diagnosis for the selection benchmark.

For every rare-object frame and every rare class with a detection on it, two facts:

* what the model called the detections on the object (its class, or background), and
* for each raw score, where the best on-object detection's score ranks among the frame scores
  (maximum over detections) of the natural drive's ordinary frames: its *percentile*. A frame
  is uploaded at a 1 % budget only when that percentile reaches about 0.99.

A confidently wrong model (an overturned car called "car", a barrier called "pedestrian")
shows up as a percentile near 0: the object looks more ordinary than the most unusual
candidate of almost every ordinary frame. Pure numpy, no I/O.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from agent.scoring import SCORE_NAMES
from benchmarks.selection_drives import DriveScores, frame_max


@dataclass
class RareClassRecord:
    """What one rare class's frames looked like to the model (pooled over drives and seeds)."""

    frames: int = 0
    called: Counter[str] = field(default_factory=Counter)
    percentiles: dict[str, list[float]] = field(
        default_factory=lambda: {name: [] for name in SCORE_NAMES}
    )


def add_rare_classes(
    records: dict[str, RareClassRecord],
    natural: DriveScores,
    natural_labels: npt.NDArray[np.int8],
    drives: Sequence[tuple[DriveScores, npt.NDArray[np.int8]]],
    class_names: Sequence[str],
) -> None:
    """Add the rare-object frames of ``drives`` to ``records`` (by rare class).

    Percentiles are taken against the natural drive's negative frames (labels as
    ``selection_drives.frame_labels``); ``class_names`` are the model's, index 0 background.
    """
    negatives = {
        name: np.sort(frame_max(natural.raw[:, i], natural.offsets)[natural_labels == 0])
        for i, name in enumerate(SCORE_NAMES)
    }
    for drive, labels in drives:
        frame_of = np.repeat(np.arange(drive.frames), np.diff(drive.offsets))
        on = drive.on_rare & (labels[frame_of] == 1)
        for rare in np.unique(drive.rare_class[on]):
            mine = on & (drive.rare_class == rare)
            record = records.setdefault(str(rare), RareClassRecord())
            record.called.update(class_names[c] for c in drive.class_ids[mine])
            frames = np.unique(frame_of[mine])
            record.frames += int(frames.size)
            for i, name in enumerate(SCORE_NAMES):
                best = frame_max(np.where(mine, drive.raw[:, i], -np.inf), drive.offsets)[frames]
                below = np.searchsorted(negatives[name], best, side="left")
                record.percentiles[name].extend((below / max(negatives[name].size, 1)).tolist())


def summarise_rare_classes(records: dict[str, RareClassRecord]) -> dict[str, Any]:
    """JSON-ready per class: frames, detections, share called each class, percentile median
    and maximum per score, and the share of frames at or above the 0.99 percentile."""
    out: dict[str, Any] = {}
    for rare in sorted(records):
        record = records[rare]
        total = sum(record.called.values())
        out[rare] = {
            "rare_object_frames": record.frames,
            "detections_on_the_object": total,
            "called": {k: v / total for k, v in record.called.most_common()},
            "percentile_among_ordinary_frames": {
                name: {
                    "median": float(np.median(values)),
                    "max": float(np.max(values)),
                    "share_at_or_above_0.99": float(np.mean(np.asarray(values) >= 0.99)),
                }
                for name, values in record.percentiles.items()
                if values
            },
        }
    return out
