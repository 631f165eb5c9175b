"""The pre-processing half of the pipeline: ground removal, clustering, box fitting, sampling.

``Preprocessor`` turns one frame of points into fixed-size candidates for the network. The same
object runs on the vehicle (inside ``Perception``) and in training (to build the training
candidates), so the model always sees exactly what the runtime will give it. All buffers that do
not depend on the frame size are allocated in the constructor.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, fields
from typing import Any

import numpy as np
import numpy.typing as npt

from agent.errors import ModelPackageError
from agent.perception.boxfit import FACT_NAMES, fit_boxes_kernel
from agent.perception.cluster import cluster_kernel, group_by_label
from agent.perception.ground import grid_size, ground_kernel
from agent.perception.sampling import FEATURE_NAMES, FEATURE_SCALE, sample_kernel

F32 = npt.NDArray[np.float32]

#: stage names of the timing breakdown, in pipeline order
PRE_STAGES = ("ground", "cluster", "box_fit", "sampling")


@dataclass(frozen=True)
class PipelineParams:
    """Settings of the pre-processing (metres unless named); stored in the package metadata."""

    range_m: float = 70.0  #: half side of the square area around the sensor that is processed
    ground_cell: float = 2.0  #: ground grid cell side
    ground_max_slope: float = 0.05  #: steepest road grade followed between cells (rise/run)
    ground_iterations: int = 8  #: relaxation sweeps of the slope cap (cells it can cross)
    ground_threshold: float = 0.25  #: points lower than this above the ground are ground
    max_height: float = 4.0  #: points higher than this above the ground are ignored (canopy)
    cluster_cell: float = 0.25  #: clustering grid cell side
    cluster_reach: int = 2  #: cells this far apart (Chebyshev) still join one cluster
    min_points: int = 5  #: smaller clusters are dropped
    max_length: float = 15.0  #: longer clusters (walls, hedges) are not candidates
    angle_steps: int = 45  #: headings tried by the L-shape fit over 90 degrees
    fit_max_points: int = 256  #: the heading search uses at most this many points per cluster
    min_size: float = 0.1  #: lower bound of each fitted box dimension
    points_per_candidate: int = 64  #: P, points sampled per candidate

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any], source: str) -> PipelineParams:
        names = {f.name: f.type for f in fields(cls)}
        unknown = sorted(set(data) - set(names))
        if unknown:
            raise ModelPackageError(f"{source}: unknown pipeline settings {unknown}")
        values: dict[str, Any] = {}
        for key, value in data.items():
            want = int if names[key] in ("int", int) else float
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise ModelPackageError(f"{source}: pipeline.{key} must be a number, got {value!r}")
            values[key] = want(value)
        params = cls(**values)
        if params.points_per_candidate < 1 or params.min_points < 1:
            raise ModelPackageError(f"{source}: pipeline counts must be >= 1, got {params}")
        return params


@dataclass(frozen=True)
class Candidates:
    """Object candidates of one frame (C of them), all in the sensor frame.

    ``points`` float32 (C, P, 4) in each candidate's box frame (metres, intensity 0..1);
    ``features`` float32 (C, F) scaled as ``sampling.FEATURE_SCALE``; ``boxes`` float32 (C, 7)
    fitted boxes; ``facts`` float32 (C, 6) columns ``boxfit.FACT_NAMES``; ``point_index`` int64
    (N_kept,) indices into the input points and ``offsets`` (C + 1,) delimiting each cluster.
    """

    points: F32
    features: F32
    boxes: F32
    facts: F32
    point_index: npt.NDArray[np.int64]
    offsets: npt.NDArray[np.int64]

    def __len__(self) -> int:
        return int(self.boxes.shape[0])

    @property
    def num_points(self) -> npt.NDArray[np.int32]:
        return self.facts[:, FACT_NAMES.index("num_points")].astype(np.int32)


class Preprocessor:
    """Runs the four pre-processing stages; ``timings_ms`` holds the last frame's breakdown."""

    feature_names = FEATURE_NAMES

    def __init__(self, params: PipelineParams) -> None:
        self.params = params
        self._heights = np.empty(
            (grid_size(params.range_m, params.ground_cell),) * 2, dtype=np.float32
        )
        # -1 everywhere; the clustering kernel restores it after each frame
        self._cluster_grid = np.full(
            (grid_size(params.range_m, params.cluster_cell),) * 2, -1, dtype=np.int32
        )
        self._scale = FEATURE_SCALE.copy()
        self.timings_ms: dict[str, float] = dict.fromkeys(PRE_STAGES, 0.0)

    @property
    def ground_heights(self) -> F32:
        """Ground z per cell of the last frame (G, G), inf where a cell had no points."""
        return self._heights

    def __call__(self, points: F32) -> Candidates:
        """Candidates of ``points`` float32 (N, >=4) x, y, z, intensity in the sensor frame."""
        p = self.params
        pts = np.ascontiguousarray(points[:, :4], dtype=np.float32)
        t0 = time.perf_counter()
        above = np.empty(pts.shape[0], dtype=np.float32)
        ground_kernel(
            pts,
            self._heights,
            p.range_m,
            p.ground_cell,
            p.ground_max_slope,
            p.ground_iterations,
            p.ground_threshold,
            above,
        )
        with np.errstate(invalid="ignore"):  # nan = outside the grid: neither test holds
            objects = np.flatnonzero((above > p.ground_threshold) & (above < p.max_height))
        t1 = time.perf_counter()
        obj = pts[objects]
        labels = np.empty(obj.shape[0], dtype=np.int32)
        n_clusters = cluster_kernel(
            obj,
            self._cluster_grid,
            p.range_m,
            p.cluster_cell,
            p.cluster_reach,
            p.min_points,
            labels,
        )
        order, offsets = group_by_label(labels, n_clusters)
        t2 = time.perf_counter()
        boxes = np.empty((n_clusters, 7), dtype=np.float32)
        facts = np.empty((n_clusters, len(FACT_NAMES)), dtype=np.float32)
        fit_boxes_kernel(
            obj,
            order,
            offsets,
            self._heights,
            p.range_m,
            p.ground_cell,
            p.angle_steps,
            p.fit_max_points,
            p.min_size,
            boxes,
            facts,
        )
        keep = np.flatnonzero(boxes[:, 3] <= p.max_length)
        if keep.shape[0] < n_clusters:
            counts = np.diff(offsets)[keep]
            runs = [order[offsets[i] : offsets[i + 1]] for i in keep]  # C clusters, not points
            order = np.concatenate(runs) if runs else np.zeros(0, dtype=np.int64)
            offsets = np.zeros(keep.shape[0] + 1, dtype=np.int64)
            np.cumsum(counts, out=offsets[1:])
            boxes, facts = boxes[keep], facts[keep]
        t3 = time.perf_counter()
        n = boxes.shape[0]
        cand_points = np.empty((n, p.points_per_candidate, 4), dtype=np.float32)
        features = np.empty((n, len(FEATURE_NAMES)), dtype=np.float32)
        sample_kernel(obj, order, offsets, boxes, self._scale, cand_points, features)
        t4 = time.perf_counter()
        self.timings_ms.update(
            ground=(t1 - t0) * 1e3,
            cluster=(t2 - t1) * 1e3,
            box_fit=(t3 - t2) * 1e3,
            sampling=(t4 - t3) * 1e3,
        )
        return Candidates(cand_points, features, boxes, facts, objects[order], offsets)
