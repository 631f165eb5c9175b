"""Ground truth for the crowd: what the simulator knows of each frame the server hands out.

Stored frames map to a simulated drive by capture time: a frame's ``captured_at_ns`` (the
vehicle stamps it with the drive's ``labels.timestamp_ns``) names the drive frame. Boxes are the
drive's objects (sensor frame, metres, radians, box centre); point labels the class and
instance id of every point, in the point order of the drive's velodyne file (the order the
vehicle uploads).
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from core.errors import FormatError
from core.formats.dataset import Dataset, ObjectLabel
from core.formats.semantic_kitti import PointLabels
from simulators.crowd.errors import CrowdError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class FrameTruth:
    """One frame's truth: its objects and, if the drive carries them, its point labels."""

    captured_at_ns: int
    objects: tuple[ObjectLabel, ...]
    points: PointLabels | None

    @property
    def num_points(self) -> int | None:
        return None if self.points is None else int(self.points.semantic.shape[0])


TruthSource = Callable[[Mapping[str, Any]], FrameTruth | None]


def truth_from_drive(drive_dir: str | os.PathLike[str]) -> TruthSource:
    """A truth source over a simulated drive: called with a frame's detail (any mapping with
    ``captured_at_ns``, e.g. a task's frame reference), it returns that frame's truth, or None
    for a frame the drive does not hold. Point labels are read on first use and kept; the
    source is safe to call from several threads."""
    root = Path(drive_dir)
    try:
        dataset = Dataset(root)
        index_of = {
            dataset.labels(i).timestamp_ns: i for i in dataset.indices if dataset.has_labels(i)
        }
    except FormatError as exc:
        raise CrowdError(f"{root}: cannot read the drive's ground truth: {exc}") from exc
    if not index_of:
        raise CrowdError(f"{root}: the drive has no labelled frames")
    cache: dict[int, FrameTruth] = {}
    lock = threading.Lock()

    def truth(frame: Mapping[str, Any]) -> FrameTruth | None:
        stamp = int(frame["captured_at_ns"])
        index = index_of.get(stamp)
        if index is None:
            return None
        with lock:
            found = cache.get(stamp)
        if found is not None:
            return found
        try:
            made = FrameTruth(stamp, dataset.labels(index).objects, dataset.point_labels(index))
        except FormatError as exc:
            raise CrowdError(f"{root}: frame {index}: {exc}") from exc
        with lock:
            cache[stamp] = made
        return made

    log.debug("truth source over %s: %d frames", root, len(index_of))
    return truth
