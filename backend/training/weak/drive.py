"""Weak labels for drive directories (``core.formats.dataset`` layout) with a model package.

Each frame's ego pose and capture time come from its label file when it has one (as the
vehicle's replay source reads them, ``agent.daemon.sources``), else the pose is zero and frames
are 0.1 s apart (the tracker then works in the sensor frame). Where every frame of a drive has
ground truth, each candidate's gold class is taken too (``accuracy.gold_classes``) and the
report measures the weak labels against it; gold never labels anything.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from agent.perception.package import ModelPackage
from agent.perception.pipeline import Detections, Perception
from backend.errors import TrainingError
from backend.evaluation.algo import json_safe
from backend.training.weak.accuracy import gold_classes
from backend.training.weak.labeller import WeakResult, WeakSettings, label_drives, report
from backend.training.weak.observe import DriveFrame, Observed, observe
from backend.training.weak.store import is_weak, write_weak_drive
from core.errors import FormatError
from core.formats.atomic import atomic_write_bytes
from core.formats.dataset import Dataset, FrameLabels

log = logging.getLogger(__name__)

#: seconds between frames of a drive without timestamps
DEFAULT_PERIOD_S = 0.1
REPORT_FILE = "report.json"


def _open(root: Path) -> Dataset:
    try:
        ds = Dataset(root)
        meta = ds.meta()
    except FormatError as exc:
        raise TrainingError(f"weak labels: {exc}") from exc
    if is_weak(meta):
        raise TrainingError(f"{root}: already weakly labelled; label the drive it came from")
    if len(ds) == 0:
        raise TrainingError(f"{root}: the drive has no frames")
    return ds


def _labels(ds: Dataset, index: int) -> FrameLabels | None:
    return ds.labels(index) if ds.has_labels(index) else None


def drive_frames(root: str | os.PathLike[str]) -> Iterator[DriveFrame]:
    """The frames of the drive at ``root`` in index order (see the module docstring)."""
    ds = _open(Path(root))
    for position, index in enumerate(ds.indices):
        labels = _labels(ds, index)
        pose = labels.pose if labels is not None else (0.0,) * 6
        time_ns = (
            labels.timestamp_ns if labels is not None else round(position * DEFAULT_PERIOD_S * 1e9)
        )
        yield DriveFrame(str(index), ds.points(index), pose, time_ns)


def has_truth(root: str | os.PathLike[str]) -> bool:
    """Whether every frame of the drive at ``root`` has ground truth."""
    ds = _open(Path(root))
    return all(ds.has_labels(i) for i in ds.indices)


def observe_drive(
    root: str | os.PathLike[str], perception: Perception
) -> tuple[Observed, list[str] | None]:
    """The drive's observations and, when it has ground truth, each candidate's gold class."""
    ds = _open(Path(root))
    truth = has_truth(root)
    gold: list[str] = []

    def match(frame: DriveFrame, det: Detections) -> None:
        labels = ds.labels(int(frame.key))
        gold.extend(
            gold_classes(frame.points, det.fitted_boxes, labels.boxes(), labels.class_names())
        )

    observed = observe(drive_frames(root), perception, on_frame=match if truth else None)
    return observed, (gold if truth else None)


def label_drive_dirs(
    drives: Sequence[str | os.PathLike[str]],
    package_dir: str | os.PathLike[str],
    out: str | os.PathLike[str],
    settings: WeakSettings | None = None,
    *,
    providers: Sequence[str] | None = None,
) -> dict[str, Any]:
    """Weak labels for ``drives`` with the package at ``package_dir``: one label model over
    all of them, each written to ``out/<drive name>`` (``store.write_weak_drive``), the report
    to ``out/report.json``; returns the report."""
    if not drives:
        raise TrainingError("weak labels: no drive given")
    names = [Path(d).name for d in drives]
    if len(set(names)) != len(names):
        raise TrainingError(f"weak labels: drives {names} share a name; out/<name> would clash")
    target = Path(out)
    for name in names:
        if (target / name).exists():
            raise TrainingError(f"{target / name}: exists; pick another --out")
    settings = settings or WeakSettings()
    package = ModelPackage.load(package_dir)
    perception = Perception(package, providers=providers)
    observed, golds = [], []
    for d in drives:
        o, g = observe_drive(d, perception)
        observed.append(o)
        golds.append(g)
    with_gold = all(g is not None for g in golds)
    results: list[WeakResult] = label_drives(
        observed, settings, gold=[g or [] for g in golds] if with_gold else None
    )
    summary = report(results)
    summary["champion"] = package.version
    summary["settings"] = settings.to_json()
    written: dict[str, int] = {}
    for d, result in zip(drives, results, strict=True):
        if not result.written_positions():
            log.warning("weak labels: no frame of %s holds a kept label; nothing written", d)
            continue
        path = write_weak_drive(
            target / Path(d).name,
            result,
            drive_frames(d),
            champion=package.version,
            settings=settings.to_json(),
            sources=[f"drive:{Path(d).name}"],
            report=result.report(),
        )
        written[path.name] = len(result.written_positions())
    summary["written"] = written
    target.mkdir(parents=True, exist_ok=True)
    text = json.dumps(json_safe(summary), indent=1, allow_nan=False) + "\n"
    atomic_write_bytes(target / REPORT_FILE, text.encode(), durable=False)
    return summary
