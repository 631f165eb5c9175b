"""Group the boxes k annotators drew in one frame into clusters, one per object (pure numpy/scipy).

Algorithm (running consensus, one Hungarian assignment per annotator):

1. The first annotator's boxes open one cluster each.
2. Each next annotator's boxes are assigned (``matching.assign``, maximum summed IoU) to the
   clusters' current *representatives* (the fused box of the members so far,
   ``fusion.fuse_boxes``), counting only pairs whose IoU reaches ``min_iou``. An assigned box
   joins its cluster and the representative is re-fused; an unassigned box opens a new cluster.

Class names play no part: two annotators who boxed the same object with different classes must
land in one cluster, so that the class vote (``backend.annotation.aggregation``) sees both. Each
annotator contributes at most one box to a cluster. The result depends on the annotators' order
only through ties and borderline overlaps (the representative moves as members join); callers
pass the annotators in a stable order (e.g. by id) so that a rerun gives the same clusters.
Degenerate boxes overlap nothing and stay singleton clusters.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
import numpy.typing as npt

from backend.annotation.qa.fusion import fuse_boxes
from backend.annotation.qa.matching import assign
from backend.errors import QualityError
from core.geometry import bev_iou_matrix, iou3d_matrix

F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]


@dataclass(frozen=True)
class Cluster:
    """One object as seen by several annotators: member ``k`` is box ``indices[k]`` of annotator
    ``annotators[k]`` (position in the input list), with that box ``boxes[k]`` and its class
    ``classes[k]``; members are in annotator order."""

    annotators: I64
    indices: I64
    boxes: F64
    classes: tuple[str, ...]

    def __len__(self) -> int:
        return int(self.annotators.shape[0])


def group_boxes(
    boxes_per_annotator: Sequence[npt.ArrayLike],
    classes_per_annotator: Sequence[Sequence[str]],
    min_iou: float = 0.2,
    iou_kind: Literal["3d", "bev"] = "bev",
) -> list[Cluster]:
    """Cluster one frame's boxes from k annotators (``(N_i, 7)`` each, one frame, metres and
    radians; class names aligned) by the running-consensus algorithm of the module docstring.

    ``min_iou`` (0 < t <= 1) is the overlap at which a box is taken to be the same object as a
    cluster; it is looser than a quality threshold because it only decides identity, and it is a
    bird's-eye-view IoU by default: 15 cm of centre noise on a 0.6 m pedestrian already pulls
    its 3D IoU below 0.3, while two distinct objects rarely overlap from above.
    """
    if not 0.0 < min_iou <= 1.0:
        raise QualityError(f"group boxes: min_iou = {min_iou!r} is not in (0, 1]")
    if iou_kind not in ("3d", "bev"):
        raise QualityError(f"group boxes: iou_kind = {iou_kind!r}, not '3d' or 'bev'")
    if len(boxes_per_annotator) != len(classes_per_annotator):
        raise QualityError(
            f"group boxes: {len(boxes_per_annotator)} box sets but "
            f"{len(classes_per_annotator)} class lists"
        )
    iou_fn = iou3d_matrix if iou_kind == "3d" else bev_iou_matrix
    members: list[list[tuple[int, int]]] = []
    member_boxes: list[list[F64]] = []
    member_classes: list[list[str]] = []
    representatives = np.zeros((0, 7), dtype=np.float64)
    for k, (raw, classes) in enumerate(
        zip(boxes_per_annotator, classes_per_annotator, strict=True)
    ):
        boxes = np.asarray(raw, dtype=np.float64)
        boxes = boxes.reshape(0, 7) if boxes.size == 0 else boxes
        if boxes.ndim != 2 or boxes.shape[1] != 7 or boxes.shape[0] != len(classes):
            raise QualityError(
                f"group boxes: annotator {k} has boxes of shape {boxes.shape} and "
                f"{len(classes)} class names; expected (N, 7) and N names"
            )
        iou = iou_fn(boxes, representatives)
        rows, cols = assign(np.where(iou >= min_iou, iou, 0.0))
        for r, c in zip(rows.tolist(), cols.tolist(), strict=True):
            members[c].append((k, r))
            member_boxes[c].append(boxes[r])
            member_classes[c].append(classes[r])
        joined = set(rows.tolist())
        fresh = [r for r in range(boxes.shape[0]) if r not in joined]  # over boxes, not points
        for r in fresh:
            members.append([(k, r)])
            member_boxes.append([boxes[r]])
            member_classes.append([classes[r]])
        new_reps = np.empty((len(members), 7), dtype=np.float64)
        new_reps[: representatives.shape[0]] = representatives
        for c in cols.tolist():
            new_reps[c] = fuse_boxes(np.stack(member_boxes[c])).box
        for offset, r in enumerate(fresh):
            new_reps[representatives.shape[0] + offset] = boxes[r]
        representatives = new_reps
    return [
        Cluster(
            annotators=np.array([a for a, _ in group], dtype=np.int64),
            indices=np.array([i for _, i in group], dtype=np.int64),
            boxes=np.stack(b),
            classes=tuple(cls),
        )
        for group, b, cls in zip(members, member_boxes, member_classes, strict=True)
    ]


def reliability_tables(
    clusters: Sequence[Cluster], n_annotators: int
) -> tuple[F64, list[list[str | None]]]:
    """The clusters as raters x units tables for ``agreement.krippendorff_alpha``: box values
    ``(n_annotators, n_clusters, 7)`` (NaN where an annotator has no box in the cluster) and class
    names ``n_annotators x n_clusters`` (``None`` where missing; ``agreement.encode_nominal``).

    Interval alpha is meaningful on the sizes ``l, w, h`` (``values[:, :, 3]`` ...): centres vary
    between objects far more than between annotators (alpha near 1 whatever the noise), and yaw
    is circular (use ``fusion``'s heading spread instead).
    """
    values = np.full((n_annotators, len(clusters), 7), np.nan, dtype=np.float64)
    names: list[list[str | None]] = [[None] * len(clusters) for _ in range(n_annotators)]
    for u, cluster in enumerate(clusters):  # over clusters, not points
        if cluster.annotators.size and cluster.annotators.max() >= n_annotators:
            raise QualityError(
                f"reliability tables: cluster {u} names annotator {cluster.annotators.max()} "
                f"but n_annotators = {n_annotators}"
            )
        values[cluster.annotators, u] = cluster.boxes
        for a, name in zip(cluster.annotators.tolist(), cluster.classes, strict=True):
            names[a][u] = name
    return values, names
