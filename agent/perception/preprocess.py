"""The pre-processing half of the pipeline: ground removal, clustering, box fitting, sampling.

``Preprocessor`` turns one frame of points into fixed-size candidates for the network. The same
object runs on the vehicle (inside ``Perception``) and in training (to build the training
candidates), so the model always sees exactly what the runtime will give it. All buffers that do
not depend on the frame size are allocated in the constructor.
"""

from __future__ import annotations

import logging
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
log = logging.getLogger(__name__)

#: stage names of the timing breakdown, in pipeline order
PRE_STAGES = ("ground", "cluster", "box_fit", "sampling")


@dataclass(frozen=True)
class PipelineParams:
    """Settings of the pre-processing (metres unless named); stored in the package metadata."""

    range_m: float = 70.0  #: half side of the square area around the sensor that is processed
    ground_cell: float = 2.0  #: ground grid cell side
    ground_max_slope: float = 0.05  #: steepest road grade followed between cells (rise/run)
    ground_iterations: int = 8  #: relaxation sweeps of the slope cap (cells it can cross)
    ground_support: int = 3  #: points that make a cell's lowest dense layer (ground.py)
    ground_band: float = 0.2  #: z span of those points
    ground_max_drop: float = 0.2  #: points this far below the neighbours' ground are passed over
    ground_threshold: float = 0.25  #: points lower than this above the ground are ground
    max_height: float = 4.0  #: points higher than this above the ground are ignored (canopy)
    cluster_cell: float = 0.25  #: clustering grid cell side
    cluster_reach: int = 2  #: cells this far apart (Chebyshev) still join one cluster
    bridge_height: float = 0.4  #: only cells with a point this high above ground join clusters
    min_points: int = 5  #: smaller clusters are dropped
    max_length: float = 15.0  #: longer clusters (walls, hedges) are not candidates
    max_width: float = 6.0  #: wider clusters (road patches, walls seen end-on) neither
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
        if params.points_per_candidate < 1 or params.min_points < 1 or params.ground_support < 1:
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


@dataclass(frozen=True)
class Rejected:
    """Clusters of one frame that the size limits kept from being candidates (R of them):
    ``boxes`` float32 (R, 7) fitted boxes in the sensor frame, ``num_points`` int32 (R,) and
    ``reasons`` (R,) one sentence each naming the limit and the values, e.g.
    ``"length 18.2 m > max_length 15.0 m"``."""

    boxes: F32
    num_points: npt.NDArray[np.int32]
    reasons: tuple[str, ...]

    def __len__(self) -> int:
        return len(self.reasons)


def size_rejections(boxes: F32, params: PipelineParams) -> list[str | None]:
    """Per fitted box (C, 7): why the size limits of ``params`` refuse it, or None."""
    out: list[str | None] = [None] * boxes.shape[0]
    too_long = boxes[:, 3] > params.max_length
    too_wide = boxes[:, 4] > params.max_width
    for i in np.flatnonzero(too_long | too_wide):  # the refused clusters only, a few a frame
        why = []
        if too_long[i]:
            why.append(f"length {boxes[i, 3]:.1f} m > max_length {params.max_length} m")
        if too_wide[i]:
            why.append(f"width {boxes[i, 4]:.1f} m > max_width {params.max_width} m")
        out[i] = "; ".join(why)
    return out


def height_above_ground(points: F32, heights: F32, params: PipelineParams) -> F32:
    """Each point's height above the estimated ground (metres; nan outside the grid) of
    ``points`` float32 (N, >=3), filling ``heights`` (G, G) with the ground z per cell."""
    above = np.empty(points.shape[0], dtype=np.float32)
    ground_kernel(
        np.ascontiguousarray(points, dtype=np.float32),
        heights,
        params.range_m,
        params.ground_cell,
        params.ground_max_slope,
        params.ground_iterations,
        params.ground_support,
        params.ground_band,
        params.ground_max_drop,
        above,
    )
    return above


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
        #: clusters of the last frame that the size limits refused, with the reason of each
        self.rejected = Rejected(np.zeros((0, 7), np.float32), np.zeros(0, np.int32), ())
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
        above = height_above_ground(pts, self._heights, p)
        with np.errstate(invalid="ignore"):  # nan = outside the grid: neither test holds
            objects = np.flatnonzero((above > p.ground_threshold) & (above < p.max_height))
        t1 = time.perf_counter()
        obj = pts[objects]
        labels = np.empty(obj.shape[0], dtype=np.int32)
        n_clusters = cluster_kernel(
            obj,
            above[objects],
            self._cluster_grid,
            p.range_m,
            p.cluster_cell,
            p.cluster_reach,
            p.bridge_height,
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
        reasons = size_rejections(boxes, p)
        keep = np.array([i for i, r in enumerate(reasons) if r is None], dtype=np.int64)
        refused = np.array([i for i, r in enumerate(reasons) if r is not None], dtype=np.int64)
        self.rejected = Rejected(
            boxes[refused],
            facts[refused, FACT_NAMES.index("num_points")].astype(np.int32),
            tuple(r for r in reasons if r is not None),
        )
        if refused.size:
            log.debug("%d clusters refused: %s", refused.size, "; ".join(self.rejected.reasons))
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
