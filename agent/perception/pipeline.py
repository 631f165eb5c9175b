"""``Perception``: points in, detections out — the runtime that vehicles and evaluation share.

Stages (timed, milliseconds, in ``Perception.timings_ms``): ``ground``, ``cluster``, ``box_fit``,
``sampling`` (``agent.perception.preprocess``), ``network`` (ONNX Runtime), ``post`` (box
refinement, class decision, suppression of duplicate foreground detections).

Every candidate the pre-processing finds is returned, including those the network calls
``background`` (class id 0): an object the model has never seen may well be called background,
and the scoring kernels must still see it. Duplicates among foreground detections (two clusters
of one object) are suppressed by BEV non-maximum suppression; background candidates are kept.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from agent.perception.decode import decode_boxes, ensemble_probabilities, nms_bev
from agent.perception.network import OnnxNetwork
from agent.perception.package import ModelPackage
from agent.perception.preprocess import PRE_STAGES, Preprocessor
from core.errors import FormatError

F32 = npt.NDArray[np.float32]
STAGES = (*PRE_STAGES, "network", "post")


@dataclass(frozen=True)
class Detections:
    """Detections of one frame (N of them), boxes in the sensor frame.

    - ``boxes`` float32 (N, 7): refined boxes ``(x, y, z, l, w, h, yaw)``, metres and radians
    - ``class_ids`` int64 (N,): argmax of the ensemble-mean softmax; 0 = background
    - ``class_names`` (N,): the name of each detection's class (``classes[class_ids]``)
    - ``scores`` float64 (N,): the ensemble-mean probability of that class
    - ``classes`` (K,): the model's classes; ``classes[0] == "background"``
    - ``logits`` float32 (N, M, K): raw logits of each ensemble member
    - ``embeddings`` float32 (N, D): trunk embedding of each candidate
    - ``num_points`` int32 (N,): points in the candidate's cluster
    - ``fitted_boxes`` float32 (N, 7): the box fitted to the points before refinement
    - ``extent`` float32 (N, 3): cluster extent along sensor x, y and z (metres)
    """

    boxes: F32
    class_ids: npt.NDArray[np.int64]
    class_names: tuple[str, ...]
    scores: npt.NDArray[np.float64]
    classes: tuple[str, ...]
    logits: F32
    embeddings: F32
    num_points: npt.NDArray[np.int32]
    fitted_boxes: F32
    extent: F32

    def __len__(self) -> int:
        return int(self.boxes.shape[0])

    def foreground(self) -> npt.NDArray[np.int64]:
        """Indices of the detections not called background."""
        return np.flatnonzero(self.class_ids != 0)


class Perception:
    """The perception model of ``package``: callable on float32 (N, 4) points.

    ``providers`` = None tries CUDA then CPU; ``["CPUExecutionProvider"]`` forces CPU.
    ``intra_op_threads`` defaults to 1 so that perception leaves the other cores to the rest of
    the vehicle software.
    """

    def __init__(
        self,
        package: ModelPackage,
        *,
        providers: Sequence[str] | None = None,
        intra_op_threads: int = 1,
    ) -> None:
        self.package = package
        self.classes = package.class_names
        self.preprocess = Preprocessor(package.params)
        self.network = OnnxNetwork(
            package.model_path, providers=providers, intra_op_threads=intra_op_threads
        )
        self._nms_iou = package.nms_iou
        self.timings_ms: dict[str, float] = dict.fromkeys(STAGES, 0.0)

    def __call__(self, points: F32) -> Detections:
        """Detect objects in ``points`` float32 (N, 4): x, y, z, intensity, sensor frame."""
        if points.ndim != 2 or points.shape[1] < 4:
            raise FormatError(
                f"perception input: points must have shape (N, 4), got {points.shape}"
            )
        cand = self.preprocess(points)
        t0 = time.perf_counter()
        if len(cand):
            logits, embeddings, delta = self.network.run(cand.points, cand.features)
        else:  # ONNX Runtime handles N = 0, but skipping it keeps empty frames free
            k, m, d = len(self.classes), self.package.ensemble_size, self.package.embedding_dim
            logits = np.zeros((0, m, k), dtype=np.float32)
            embeddings = np.zeros((0, d), dtype=np.float32)
            delta = np.zeros((0, 7), dtype=np.float32)
        t1 = time.perf_counter()
        boxes = decode_boxes(cand.boxes, delta)
        probs = ensemble_probabilities(logits)
        class_ids = probs.argmax(axis=1).astype(np.int64)
        scores = probs[np.arange(class_ids.shape[0]), class_ids]
        fg = np.flatnonzero(class_ids != 0)
        kept_fg = fg[nms_bev(boxes[fg], scores[fg], self._nms_iou)] if fg.size else fg
        keep = np.sort(np.concatenate([np.flatnonzero(class_ids == 0), kept_fg]))
        facts = cand.facts[keep]
        extent = np.stack([facts[:, 4], facts[:, 5], facts[:, 2] - facts[:, 1]], axis=1)
        ids = class_ids[keep]
        result = Detections(
            boxes=boxes[keep],
            class_ids=ids,
            class_names=tuple(self.classes[i] for i in ids),
            scores=scores[keep],
            classes=self.classes,
            logits=logits[keep],
            embeddings=embeddings[keep],
            num_points=cand.num_points[keep],
            fitted_boxes=cand.boxes[keep],
            extent=extent.astype(np.float32),
        )
        t2 = time.perf_counter()
        self.timings_ms.update(self.preprocess.timings_ms)
        self.timings_ms.update(network=(t1 - t0) * 1e3, post=(t2 - t1) * 1e3)
        return result
