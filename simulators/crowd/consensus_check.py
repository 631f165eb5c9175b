"""Did Dawid-Skene choose better classes than a majority vote would have? Scored on the truth.

For every overlap (tier 3) task the server fused, the ``consensus.built`` audit record names,
per object, the Dawid-Skene class and the majority class; the consensus label set holds the
fused boxes in the same order (frame by frame, object by object). Each fused box is paired with
a truth object by the project's matcher (either pass: same or different class), and both
choices are scored against that object's class.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from backend.annotation.qa.matching import match_frame
from simulators.crowd.client import ApiClient
from simulators.crowd.errors import CrowdError
from simulators.crowd.truth import TruthSource


@dataclass(frozen=True)
class ConsensusAccuracy:
    """Objects of overlap tasks paired with a truth object, and how many of them each rule
    classed right."""

    tasks: int
    objects: int
    dawid_skene_right: int
    majority_right: int

    @property
    def dawid_skene(self) -> float:
        return self.dawid_skene_right / self.objects if self.objects else float("nan")

    @property
    def majority(self) -> float:
        return self.majority_right / self.objects if self.objects else float("nan")


def _item_order(item: str, frame_ids: Sequence[str]) -> tuple[int, int]:
    """``task:<id>:<frame id prefix>:<index>`` -> (frame position, index)."""
    _, _, prefix, index = item.split(":")
    position = next((i for i, f in enumerate(frame_ids) if f.startswith(prefix)), len(frame_ids))
    return position, int(index)


def consensus_accuracy(admin: ApiClient, truth: TruthSource) -> ConsensusAccuracy:
    """Dawid-Skene against majority vote on every fused overlap task (module docstring);
    ``admin`` needs to read tasks, frames and the audit log."""
    tasks = objects = ds_right = mv_right = 0
    frames: dict[str, dict[str, Any]] = {}
    for task in admin.tasks(tier=3, gold=False):
        built = [e for e in admin.audit(task_id=task["id"]) if e["action"] == "consensus.built"]
        if not built:
            continue
        detail = admin.task(task["id"])
        proposals = [s for s in detail["label_sets"] if s["source"] == "consensus"]
        if not proposals:
            continue
        frame_ids = task["frame_ids"]
        classes: dict[str, dict[str, str]] = built[-1]["details"]["classes"]
        items = sorted(classes, key=lambda i: _item_order(i, frame_ids))
        fused = sorted(proposals[-1]["labels"]["boxes"], key=lambda b: int(b["id"][1:]))
        if len(fused) != len(items):
            raise CrowdError(
                f"task {task['id']}: {len(fused)} fused boxes but {len(items)} consensus items"
            )
        tasks += 1
        for frame_id in frame_ids:
            if frame_id not in frames:
                frames[frame_id] = admin.frame(frame_id)
            known = truth(frames[frame_id])
            if known is None:
                raise CrowdError(f"the truth source does not know frame {frame_id}")
            mine = [k for k, b in enumerate(fused) if b["frame_id"] == frame_id]
            match = match_frame(
                np.array([fused[k]["box"] for k in mine], dtype=np.float64).reshape(-1, 7),
                [fused[k]["class_name"] for k in mine],
                np.array([o.box for o in known.objects], dtype=np.float64).reshape(-1, 7),
                [o.class_name for o in known.objects],
            )
            for pairs in (match.matched, match.mismatched):
                for c, r in zip(pairs.candidate.tolist(), pairs.reference.tolist(), strict=True):
                    choice = classes[items[mine[c]]]
                    true_class = known.objects[r].class_name
                    ds = choice["dawid_skene"]
                    ds = choice["majority"] if ds in ("None", None) else ds
                    objects += 1
                    ds_right += int(ds == true_class)
                    mv_right += int(choice["majority"] == true_class)
    return ConsensusAccuracy(tasks, objects, ds_right, mv_right)
