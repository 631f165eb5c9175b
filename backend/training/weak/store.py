"""Weakly-labelled drives on disk: the dataset layout (``core.formats.dataset``) of the frames
that got a weak label, marked weak, with the posteriors and the report beside them::

    OUT/velodyne/%06d.bin, OUT/labels/%06d.json   the written frames (weak boxes, ego pose)
    OUT/meta.json    {"weak_labels": {"format": ..., "champion": ..., "settings": ...,
                      "sources": [...], "frames": N}, ...}
    OUT/weak.json    per written frame: its key, points digest and candidate posteriors; the
                     report (``labeller.report``)

The ``weak_labels`` key of ``meta.json`` is what marks the drive weak: a training source reads
it as weak (``backend.training.weak.source``) and the edge-case suite build refuses the drive
and every frame whose points digest ``weak.json`` lists (``backend.evaluation.suite``). A drive
is written into a sibling temporary directory and renamed into place: a crash leaves no
half-written drive under ``OUT``.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any, Final

import numpy as np
import numpy.typing as npt

from backend.errors import TrainingError
from backend.evaluation.algo import json_safe
from backend.evaluation.suite import WEAK_LABELS_KEY, points_digest
from backend.training.sets import FORMAT as SET_FORMAT
from backend.training.sets import MANIFEST_FILE as SET_MANIFEST
from backend.training.weak.labeller import WeakResult
from backend.training.weak.observe import DriveFrame
from core.errors import FormatError
from core.formats.dataset import DatasetWriter, FrameLabels

log = logging.getLogger(__name__)

FORMAT: Final = "longtail.weak-labels/1"
WEAK_FILE: Final = "weak.json"

F32 = npt.NDArray[np.float32]


def write_weak_drive(
    out: str | os.PathLike[str],
    result: WeakResult,
    frames: Iterable[DriveFrame],
    *,
    champion: str,
    settings: dict[str, Any],
    sources: list[str],
    report: dict[str, Any] | None = None,
) -> Path:
    """Write the frames of ``result`` that hold a kept label (``frames``: the drive's frames
    again, in the order they were observed, for their points) to ``out``; ``out`` must not
    exist. Returns ``out``."""
    target = Path(out)
    if target.exists():
        raise TrainingError(f"{target}: exists; weak labels are written into a new directory")
    wanted = set(result.written_positions())
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    try:
        writer = DatasetWriter(tmp)
        rows: list[dict[str, Any]] = []
        for position, frame in enumerate(frames):
            if position >= len(result.observed.keys) or result.observed.keys[position] != frame.key:
                raise TrainingError(
                    f"weak drive {target}: frame {position} is {frame.key}, the labels were "
                    "made for another sequence"
                )
            if position not in wanted:
                continue
            index = len(rows)
            objects = result.frame_objects(position)
            writer.write_frame(frame.points, FrameLabels(index, frame.time_ns, frame.pose, objects))
            rows.append(
                {
                    "index": index,
                    "key": frame.key,
                    "points_sha256": points_digest(frame.points),
                    "posteriors": result.frame_posteriors(position),
                }
            )
        if not rows:
            raise TrainingError(f"weak drive {target}: no frame holds a kept weak label")
        writer.write_meta(
            {
                WEAK_LABELS_KEY: {
                    "format": FORMAT,
                    "champion": champion,
                    "settings": settings,
                    "sources": sources,
                    "frames": len(rows),
                }
            }
        )
        document = {"format": FORMAT, "frames": rows, "report": report or result.report()}
        text = json.dumps(json_safe(document), indent=1, allow_nan=False)
        (tmp / WEAK_FILE).write_text(text + "\n")
        tmp.chmod(0o755)
        tmp.rename(target)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    log.info("weak drive %s: %d frames", target, len(rows))
    return target


def is_weak(meta: dict[str, Any]) -> bool:
    """Whether a dataset's ``meta.json`` content marks it weakly labelled."""
    return WEAK_LABELS_KEY in meta


def weak_digests(root: str | os.PathLike[str]) -> dict[str, str]:
    """The points digest of every frame of the weak drive at ``root`` -> where it is."""
    path = Path(root) / WEAK_FILE
    try:
        rows = json.loads(path.read_text())["frames"]
        return {str(r["points_sha256"]): f"{Path(root).name}/{int(r['index'])}" for r in rows}
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise FormatError(f"{path}: not a weak-label file: {exc}") from exc


def weak_digests_under(folder: str | os.PathLike[str]) -> dict[str, str]:
    """The points digests of every weakly-labelled frame at or under ``folder``: those of
    :func:`weak_digests` of each weak drive, and of the weak groups of each training set
    (``backend.training.sets``), -> where each is. FormatError if the folder holds neither (a
    mistyped folder must not pass as "nothing to refuse")."""
    root = Path(folder)
    drives = sorted(root.rglob(WEAK_FILE)) if root.is_dir() else []
    sets = sorted(root.rglob(SET_MANIFEST)) if root.is_dir() else []
    out: dict[str, str] = {}
    for path in drives:
        out.update(weak_digests(path.parent))
    found_sets = 0
    for path in sets:
        try:
            manifest = json.loads(path.read_text())
        except (OSError, ValueError) as exc:
            raise FormatError(f"{path}: unreadable: {exc}") from exc
        if not isinstance(manifest, dict) or manifest.get("format") != SET_FORMAT:
            continue
        found_sets += 1
        for group in manifest["groups"]:
            if group["kind"] == "weak":
                for row in group["frames"]:
                    out[str(row["points_sha256"])] = f"training set {path.parent.name[:12]}"
    if not drives and not found_sets:
        raise FormatError(
            f"{root}: no weak-label drive ({WEAK_FILE}) or training set at or under it"
        )
    return out


__all__ = [
    "FORMAT",
    "WEAK_FILE",
    "is_weak",
    "weak_digests",
    "weak_digests_under",
    "write_weak_drive",
]
