"""Weak labels for the pool: frames the vehicles uploaded that no task holds (no person will
label them), read from the metadata database and the blob store.

The newest ``max_frames`` such frames are cut into drives: frames of one vehicle at most
``gap_s`` apart (``backend.training.sources.event_groups``, the events of a dataset version),
each observed in time order with the pose the vehicle reported. One label model is fitted over
all of them with the champion (``labeller.label_drives``); each drive with a kept label is
written under ``OUT/<digest>/`` (``store.write_weak_drive``), where ``<digest>`` covers the
champion's model file, the frames and the settings: the same pool and champion reuse the
written labels. A frame whose payload does not match its id or does not decode is left out
(logged and counted), as one damaged blob must not stop a turn.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from agent.perception.package import ModelPackage
from agent.perception.pipeline import Perception
from backend.datasets.manifest import FrameEntry
from backend.errors import TrainingError
from backend.metadata.records import FrameRecord
from backend.metadata.unit_of_work import Database
from backend.storage.base import BlobNotFoundError, BlobStore
from backend.training.sources import event_groups
from backend.training.weak.labeller import WeakSettings, label_drives, report
from backend.training.weak.observe import DriveFrame, observe
from backend.training.weak.source import WeakSource
from backend.training.weak.store import write_weak_drive
from core.errors import FormatError
from core.formats.atomic import atomic_write_bytes
from core.formats.codec import decode_frame

log = logging.getLogger(__name__)

POSE_KEYS = ("x", "y", "z", "roll", "pitch", "yaw")
DONE_FILE = "pool.json"


@dataclass(frozen=True)
class PoolLabels:
    """The weak sources written for the pool (or found from an earlier identical run) and the
    labelling report."""

    directory: Path
    sources: tuple[WeakSource, ...]
    report: dict[str, Any]


def pool_drives(records: Sequence[FrameRecord], gap_s: float) -> list[list[FrameRecord]]:
    """``records`` cut into drives: frames of one vehicle at most ``gap_s`` seconds apart, each
    drive in capture order, drives in the order of their first frame."""
    # each frame its own "task" (-1 - i): only the vehicle and time join frames here
    entries = [
        FrameEntry(
            i,
            r.id,
            r.blob_key,
            r.payload_size,
            r.num_points,
            r.vehicle,
            r.captured_at_ns,
            r.pose,
            r.sensor_name,
            -1 - i,
        )
        for i, r in enumerate(records)
    ]
    events = event_groups(entries, int(gap_s * 1e9))
    drives: dict[int, list[FrameRecord]] = {}
    for record, event in zip(records, events, strict=True):
        drives.setdefault(event, []).append(record)
    out = [sorted(d, key=lambda r: (r.captured_at_ns, r.id)) for d in drives.values()]
    return sorted(out, key=lambda d: (d[0].captured_at_ns, d[0].vehicle))


class _Frames:
    """Decoded frames of one drive from the blob store; damaged ones are left out, the same
    ones on every pass."""

    def __init__(self, blobs: BlobStore, records: Sequence[FrameRecord]) -> None:
        self._blobs = blobs
        self._records = list(records)
        self.damaged: set[str] = set()
        self.read = 0  #: frames the last pass yielded

    def __iter__(self) -> Iterator[DriveFrame]:
        self.read = 0
        for r in self._records:
            if r.id in self.damaged:
                continue
            try:
                payload = self._blobs.get(r.blob_key)
                if hashlib.sha256(payload).hexdigest() != r.id:
                    raise FormatError(f"frame {r.id}: the payload does not match its id")
                points = decode_frame(payload, source=f"frame {r.id}")
            except (BlobNotFoundError, FormatError) as exc:
                log.warning("weak labels: frame %s left out: %s", r.id, exc)
                self.damaged.add(r.id)
                continue
            x, y, z, roll, pitch, yaw = (float(r.pose.get(k, 0.0)) for k in POSE_KEYS)
            self.read += 1
            yield DriveFrame(r.id, points, (x, y, z, roll, pitch, yaw), r.captured_at_ns)


def label_pool(
    db: Database,
    blobs: BlobStore,
    champion_dir: Path,
    out: Path,
    settings: WeakSettings,
    *,
    max_frames: int,
    gap_s: float = 10.0,
    providers: Sequence[str] | None = None,
) -> PoolLabels:
    """Weak labels for the newest ``max_frames`` pool frames with the champion package at
    ``champion_dir`` (see the module docstring)."""
    if max_frames < 1:
        raise TrainingError(f"weak labels: max_frames must be >= 1, got {max_frames}")
    with db.transaction("read the unlabelled pool") as uow:
        records = uow.frames.unlabelled(limit=max_frames)
    package = ModelPackage.load(champion_dir)
    key = hashlib.sha256()
    key.update(hashlib.sha256(package.model_path.read_bytes()).digest())
    key.update(json.dumps(settings.to_json(), sort_keys=True).encode())
    key.update(json.dumps([gap_s, [r.id for r in records]]).encode())
    directory = out / key.hexdigest()[:24]
    done = directory / DONE_FILE
    if done.is_file():
        document = json.loads(done.read_text())
        sources = tuple(WeakSource(directory / name) for name in document["written"])
        log.info("weak labels of this pool and champion exist: %s", directory)
        return PoolLabels(directory, sources, document["report"])
    if not records:
        return PoolLabels(directory, (), {"frames": 0, "weak_objects": {}})
    perception = Perception(package, providers=providers)
    drives = [_Frames(blobs, d) for d in pool_drives(records, gap_s)]
    observed, readable = [], []
    for frames in drives:
        try:
            observed.append(observe(frames, perception))
        except TrainingError:
            if frames.read:
                raise
            continue  # every frame of the drive is damaged
        readable.append(frames)
    if not observed:
        raise TrainingError(f"weak labels: none of the {len(records)} pool frames decodes")
    results = label_drives(observed, settings)
    written: list[str] = []
    for n, (frames, result) in enumerate(zip(readable, results, strict=True)):
        if not result.written_positions():
            continue
        name = f"drive-{n:04d}"
        write_weak_drive(
            directory / name,
            result,
            frames,
            champion=package.version,
            settings=settings.to_json(),
            sources=[f"frame:{k}" for k in result.observed.keys],
            report=result.report(),
        )
        written.append(name)
    summary = {
        **report(results),
        "pool_frames": len(records),
        "damaged_frames": sum(len(d.damaged) for d in drives),
        "champion": package.version,
    }
    directory.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(done, json.dumps({"written": written, "report": summary}, indent=1).encode())
    return PoolLabels(directory, tuple(WeakSource(directory / n) for n in written), summary)
