"""Where the frames of a training set come from: dataset versions (accepted labels of the loop)
and on-disk drives (simulator drives, groups of earlier training sets) replayed so the model
does not forget.

Every frame carries two digests. ``id``: a version's frame id (the SHA-256 of the payload the
vehicle uploaded, DESIGN.md); a drive frame was never uploaded, so its id is its points digest.
``points_sha256``: the SHA-256 of its points as little-endian float32 (N, 4)
(``backend.evaluation.suite.points_digest``), the id the edge-case suite gives its frames, so a
suite frame is recognised whichever way it reached a source.

Every frame also carries its *group*: frames of one group are neighbours in time (one drive, one
captured event) and must land on one side of a split. A drive is one group. In a dataset version
frames of one task, and frames of one vehicle less than ``event_gap_s`` apart, are one event.
"""

from __future__ import annotations

import hashlib
import itertools
import logging
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Protocol

import numpy as np
import numpy.typing as npt

from backend.annotation.labels import LabelContent
from backend.datasets.manifest import FrameEntry, Manifest, canonical_json
from backend.datasets.versions import DatasetVersions
from backend.errors import TrainingError
from backend.evaluation.suite import WEAK_LABELS_KEY, points_digest
from core.errors import FormatError
from core.formats.dataset import Dataset, ObjectLabel
from core.geometry import points_in_boxes

log = logging.getLogger(__name__)

F32 = npt.NDArray[np.float32]
#: frames of one vehicle closer than this (seconds) are one event of a dataset version
DEFAULT_EVENT_GAP_S = 10.0


def labels_digest(objects: Sequence[ObjectLabel]) -> str:
    """SHA-256 of a frame's boxes (class, track, box): what the set's digest covers of labels."""
    rows = [[o.class_name, o.track_id, [round(v, 6) for v in o.box]] for o in objects]
    return hashlib.sha256(canonical_json(rows)).hexdigest()


@dataclass(frozen=True)
class SourceFrame:
    """One labelled frame a source offers: identity, group, position in the group, labels.

    ``objects`` are boxes in the sensor frame; ``num_points`` is -1 where the source does not
    know it (it is counted from the points when the frame is written). ``points_sha256`` is
    None where it is only known once the points are read.
    """

    id: str
    source: str
    group: str
    time_ns: int
    objects: tuple[ObjectLabel, ...]
    ref: int  #: the source's own handle of the frame (drive index or version frame index)
    points_sha256: str | None = None

    @property
    def labels_sha256(self) -> str:
        return labels_digest(self.objects)


class FrameSource(Protocol):
    """What a training set reads frames from."""

    @property
    def name(self) -> str: ...

    @property
    def digest(self) -> str: ...

    def frames(self) -> list[SourceFrame]: ...

    def points(self, frame: SourceFrame) -> F32: ...


def count_points(points: F32, objects: Sequence[ObjectLabel]) -> tuple[ObjectLabel, ...]:
    """``objects`` with ``num_points`` counted in ``points`` (a point in two boxes counts for
    the first)."""
    if not objects:
        return ()
    inside = points_in_boxes(points, np.array([o.box for o in objects], dtype=np.float64))
    counts = np.bincount(inside[inside >= 0], minlength=len(objects))
    return tuple(
        ObjectLabel(o.class_name, o.track_id, o.box, int(c))
        for o, c in zip(objects, counts, strict=True)
    )


def event_groups(entries: Sequence[FrameEntry], gap_ns: int) -> list[int]:
    """Event number of each frame: frames sharing a task, or of one vehicle with capture times
    at most ``gap_ns`` apart, are one event (union-find over both relations)."""
    parent = list(range(len(entries)))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    def union(a: int, b: int) -> None:
        ra, rb = find(a), find(b)
        if ra != rb:
            parent[max(ra, rb)] = min(ra, rb)

    first_of_task: dict[int, int] = {}
    for i, e in enumerate(entries):
        union(i, first_of_task.setdefault(e.task, i))
    by_vehicle = sorted(
        range(len(entries)), key=lambda i: (entries[i].vehicle, entries[i].captured_at_ns)
    )
    for a, b in itertools.pairwise(by_vehicle):
        ea, eb = entries[a], entries[b]
        if ea.vehicle == eb.vehicle and eb.captured_at_ns - ea.captured_at_ns <= gap_ns:
            union(a, b)
    return [find(i) for i in range(len(entries))]


class VersionSource:
    """The frames and accepted labels of one dataset version."""

    def __init__(
        self,
        versions: DatasetVersions,
        digest: str,
        *,
        event_gap_s: float = DEFAULT_EVENT_GAP_S,
    ) -> None:
        self._versions = versions
        self._digest = digest
        self._gap_ns = int(event_gap_s * 1e9)
        self._manifest: Manifest | None = None

    @property
    def name(self) -> str:
        return f"dataset:{self._digest}"

    @property
    def digest(self) -> str:
        return self._digest

    def _read_manifest(self) -> Manifest:
        if self._manifest is None:
            self._manifest = self._versions.manifest(self._digest)
        return self._manifest

    def frames(self) -> list[SourceFrame]:
        manifest = self._read_manifest()
        entries = list(manifest.frames)
        events = event_groups(entries, self._gap_ns)
        event_key: dict[int, str] = {}
        for e, ev in zip(entries, events, strict=True):
            # the event is named after its first frame: stable whatever else the version holds
            event_key.setdefault(ev, f"{self._digest[:12]}-{e.vehicle}-{e.captured_at_ns}")
        tasks = {t.id: t for t in manifest.tasks}
        contents: dict[int, LabelContent] = {}
        out = []
        for pos, entry in enumerate(entries):
            if entry.task not in contents:
                contents[entry.task] = self._versions.labels(self._digest, tasks[entry.task])
            objects = tuple(
                ObjectLabel(b.class_name, b.track_id, b.box, -1)
                for b in contents[entry.task].boxes_of(entry.id)
            )
            group = event_key[events[pos]]
            out.append(SourceFrame(entry.id, self.name, group, entry.captured_at_ns, objects, pos))
        return sorted(out, key=lambda f: (f.group, f.time_ns, f.id))

    def points(self, frame: SourceFrame) -> F32:
        return self._versions.frame_points(self._digest, self._read_manifest().frames[frame.ref])


class DriveSource:
    """A labelled drive in the on-disk dataset layout (a simulator drive, or one group of an
    earlier training set): one group. Unlabelled frames are skipped. A drive whose
    ``meta.json`` marks its labels weak is refused: it is read as weak
    (``backend.training.weak.source.WeakSource``), never as ground truth."""

    #: whether the source reads weakly-labelled drives (and only those)
    weak = False

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)
        try:
            self._ds = Dataset(self.root)
            marked = WEAK_LABELS_KEY in self._ds.meta()
        except FormatError as exc:
            raise TrainingError(f"replay source {self.root}: {exc}") from exc
        if marked and not self.weak:
            raise TrainingError(
                f"replay source {self.root}: meta.json marks its labels weak; weak labels are "
                "read by a weak source, never as ground truth"
            )
        if self.weak and not marked:
            raise TrainingError(
                f"weak source {self.root}: meta.json does not mark its labels weak; only "
                "weakly-labelled drives are weak sources"
            )
        self._frames: list[SourceFrame] | None = None

    @property
    def name(self) -> str:
        return f"drive:{self.root.name}"

    def frames(self) -> list[SourceFrame]:
        if self._frames is None:
            out = []
            for index in self._ds.indices:
                if not self._ds.has_labels(index):
                    continue
                labels = self._ds.labels(index)
                digest = points_digest(self._ds.points(index))
                out.append(
                    SourceFrame(
                        digest,
                        self.name,
                        "",  # filled below: the group is named after the drive's content
                        labels.timestamp_ns,
                        labels.objects,
                        index,
                        digest,
                    )
                )
            if not out:
                raise TrainingError(f"replay source {self.root}: no labelled frames")
            key = f"{self.root.name}-{_digest_of(out)[:12]}"
            self._frames = [replace(f, group=key) for f in out]
        return self._frames

    @property
    def digest(self) -> str:
        return _digest_of(self.frames())

    def points(self, frame: SourceFrame) -> F32:
        return self._ds.points(frame.ref)


def _digest_of(frames: Sequence[SourceFrame]) -> str:
    return hashlib.sha256(canonical_json([[f.id, f.labels_sha256] for f in frames])).hexdigest()
