"""Auto-fit: a tight box around the object inside a rough one, with the vehicle's own kernels.

The project has one box fitter, the vehicle's L-shape fit (``agent.perception.boxfit``), and one
ground estimate (``agent.perception.ground``); the labelling tool's auto-fit calls them through
``POST /work/{assignment}/fit`` instead of carrying a second copy in JavaScript. Steps, all in a
frame centred on the rough box (so precision holds far from the sensor):

1. keep the points within ``context_m`` of the rough box and estimate the ground under them;
2. the candidates are the points inside the rough box's footprint grown by ``margin_m`` on each
   side (any height) that lie more than ``ground_threshold`` and less than ``max_height`` metres
   above the ground;
3. they are clustered on a BEV grid and the largest cluster is the object (stray points of a
   neighbour, a pole or a wall that the rough box clipped are outliers);
4. the L-shape fit gives centre, extents and heading; the box bottom is the ground under it.

The fitted heading is only known modulo pi (the points do not tell front from back): of the two,
the one nearer the rough box's heading is returned, so a person's "front" is kept.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace

import numpy as np
import numpy.typing as npt

from agent.perception.boxfit import fit_boxes_kernel
from agent.perception.cluster import cluster_kernel, group_by_label
from agent.perception.ground import grid_size
from agent.perception.preprocess import PipelineParams, height_above_ground
from backend.errors import InvalidInputError

F32 = npt.NDArray[np.float32]


#: the vehicle's pipeline settings, finer for one object: 1 m ground cells, 20 cm clustering
#: cells, headings 1 degree apart on up to 1024 points (``range_m`` is set per fit)
FIT_PIPELINE = PipelineParams(
    ground_cell=1.0,
    ground_iterations=12,
    ground_threshold=0.2,
    cluster_cell=0.2,
    angle_steps=90,
    fit_max_points=1024,
)


@dataclass(frozen=True)
class FitParams:
    """Settings of the auto-fit (metres unless named); ground, clustering and fitting are the
    vehicle pipeline's (``pipeline``)."""

    margin_m: float = 0.4  #: the rough footprint grows this much on each side
    context_m: float = 12.0  #: the ground is estimated this far around the rough box
    min_points: int = 5  #: fewer object points than this inside the rough box: no fit
    pipeline: PipelineParams = field(default_factory=lambda: FIT_PIPELINE)


@dataclass(frozen=True)
class FitResult:
    """A fitted box ``(x, y, z, l, w, h, yaw)`` in the points' frame and the points it holds."""

    box: tuple[float, float, float, float, float, float, float]
    num_points: int


def _wrap(angle: float) -> float:
    """``angle`` wrapped to (-pi, pi]."""
    wrapped = math.remainder(angle, 2.0 * math.pi)
    return math.pi if wrapped == -math.pi else wrapped


def fit_box(points: F32, rough: npt.ArrayLike, params: FitParams | None = None) -> FitResult:
    """The box fitted to the object inside ``rough`` (7,) among ``points`` (N, >=3) float32,
    both in one frame (the sensor frame: x forward, y left, z up, metres). Only the rough box's
    footprint (x, y, l, w, yaw) matters; its z and h are ignored. Raises
    :class:`~backend.errors.InvalidInputError` naming the counts when too few points are in it."""
    p = params or FitParams()
    r = np.asarray(rough, dtype=np.float64).reshape(-1)
    if r.shape != (7,) or not np.all(np.isfinite(r)) or r[3] <= 0 or r[4] <= 0:
        raise InvalidInputError(f"rough box must be 7 finite values with l, w > 0, got {r}")
    cx, cy, length, width, yaw = float(r[0]), float(r[1]), float(r[3]), float(r[4]), float(r[6])
    reach = 0.5 * math.hypot(length, width) + p.margin_m + p.context_m
    dx = points[:, 0].astype(np.float64) - cx
    dy = points[:, 1].astype(np.float64) - cy
    near = np.flatnonzero((np.abs(dx) < reach) & (np.abs(dy) < reach))
    local = np.empty((near.shape[0], 3), dtype=np.float32)
    local[:, 0] = dx[near]
    local[:, 1] = dy[near]
    local[:, 2] = points[near, 2]
    q = replace(p.pipeline, range_m=reach)
    heights = np.empty((grid_size(reach, q.ground_cell),) * 2, dtype=np.float32)
    above = height_above_ground(local, heights, q)
    c, s = math.cos(yaw), math.sin(yaw)
    u = c * local[:, 0] + s * local[:, 1]
    v = -s * local[:, 0] + c * local[:, 1]
    in_box = (np.abs(u) <= 0.5 * length + p.margin_m) & (np.abs(v) <= 0.5 * width + p.margin_m)
    with np.errstate(invalid="ignore"):  # nan: outside the ground grid
        lifted = (above > q.ground_threshold) & (above < q.max_height)
    candidates = np.flatnonzero(in_box & lifted)
    if candidates.shape[0] < p.min_points:
        raise InvalidInputError(
            f"auto-fit found {candidates.shape[0]} points above the ground inside the box "
            f"(of {int(in_box.sum())} in its footprint); it needs at least {p.min_points}"
        )
    obj = np.ascontiguousarray(local[candidates])
    grid = np.full((grid_size(reach, q.cluster_cell),) * 2, -1, dtype=np.int32)
    labels = np.empty(obj.shape[0], dtype=np.int32)
    n_clusters = cluster_kernel(
        obj,
        np.ascontiguousarray(above[candidates]),
        grid,
        reach,
        q.cluster_cell,
        q.cluster_reach,
        q.bridge_height,
        p.min_points,
        labels,
    )
    if n_clusters == 0:
        raise InvalidInputError(
            f"auto-fit found {obj.shape[0]} scattered points inside the box and no group of "
            f"{p.min_points} or more"
        )
    order, offsets = group_by_label(labels, n_clusters)
    largest = int(np.argmax(np.diff(offsets)))
    members = order[offsets[largest] : offsets[largest + 1]]
    boxes = np.empty((1, 7), dtype=np.float32)
    facts = np.empty((1, 6), dtype=np.float32)
    fit_boxes_kernel(
        obj,
        members,
        np.array([0, members.shape[0]], dtype=np.int64),
        heights,
        reach,
        q.ground_cell,
        q.angle_steps,
        q.fit_max_points,
        q.min_size,
        boxes,
        facts,
    )
    fitted = boxes[0].astype(np.float64)
    heading = float(fitted[6])
    if abs(_wrap(heading + math.pi - yaw)) < abs(_wrap(heading - yaw)):
        heading += math.pi
    return FitResult(
        box=(
            cx + float(fitted[0]),
            cy + float(fitted[1]),
            float(fitted[2]),
            float(fitted[3]),
            float(fitted[4]),
            float(fitted[5]),
            _wrap(heading),
        ),
        num_points=int(members.shape[0]),
    )
