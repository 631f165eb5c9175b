"""Box refinement encoding, class decisions and non-maximum suppression (pure numpy).

A refinement ``delta`` (7,) relates a fitted box ``b`` to a refined box ``r`` (both
``(x, y, z, l, w, h, yaw)``, sensor frame):
``(dx, dy)`` = centre offset in metres in the frame of ``b`` (x along its ``l``), ``dz`` in
metres, ``(dl, dw, dh)`` = log size ratios ``ln(r.l / b.l)`` ..., ``dyaw`` = yaw residual in
radians. Encoding wraps ``dyaw`` to (-pi/2, pi/2]: the points cannot tell a box's front from its
back, so a target and its half-turn are the same box.
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt

from core.geometry import bev_iou_matrix

F32 = npt.NDArray[np.float32]
#: a log size ratio is clipped to this magnitude when decoding (x20 either way)
MAX_LOG_RATIO = 3.0


def wrap_angle(
    a: npt.NDArray[np.floating], period: float = 2.0 * math.pi
) -> npt.NDArray[np.float64]:
    """Wrap angles (radians) to (-period/2, period/2]."""
    half = period / 2.0
    out: npt.NDArray[np.float64] = half - np.mod(half - np.asarray(a, dtype=np.float64), period)
    return out


def encode_boxes(fitted: npt.ArrayLike, target: npt.ArrayLike) -> F32:
    """Refinement deltas (N, 7) that turn ``fitted`` boxes (N, 7) into ``target`` boxes."""
    b = np.asarray(fitted, dtype=np.float64).reshape(-1, 7)
    t = np.asarray(target, dtype=np.float64).reshape(-1, 7)
    c, s = np.cos(b[:, 6]), np.sin(b[:, 6])
    dx, dy = t[:, 0] - b[:, 0], t[:, 1] - b[:, 1]
    out = np.empty_like(b)
    out[:, 0] = c * dx + s * dy
    out[:, 1] = -s * dx + c * dy
    out[:, 2] = t[:, 2] - b[:, 2]
    out[:, 3:6] = np.log(t[:, 3:6] / b[:, 3:6])
    out[:, 6] = wrap_angle(t[:, 6] - b[:, 6], math.pi)
    return out.astype(np.float32)


def decode_boxes(fitted: npt.ArrayLike, delta: npt.ArrayLike) -> F32:
    """Refined boxes (N, 7) from ``fitted`` boxes and ``delta`` (N, 7); yaw in (-pi, pi]."""
    b = np.asarray(fitted, dtype=np.float64).reshape(-1, 7)
    d = np.asarray(delta, dtype=np.float64).reshape(-1, 7)
    c, s = np.cos(b[:, 6]), np.sin(b[:, 6])
    out = np.empty_like(b)
    out[:, 0] = b[:, 0] + c * d[:, 0] - s * d[:, 1]
    out[:, 1] = b[:, 1] + s * d[:, 0] + c * d[:, 1]
    out[:, 2] = b[:, 2] + d[:, 2]
    out[:, 3:6] = b[:, 3:6] * np.exp(np.clip(d[:, 3:6], -MAX_LOG_RATIO, MAX_LOG_RATIO))
    out[:, 6] = wrap_angle(b[:, 6] + d[:, 6])
    return out.astype(np.float32)


def ensemble_probabilities(logits: npt.ArrayLike) -> npt.NDArray[np.float64]:
    """Member-mean softmax probabilities (N, K) of ensemble logits (N, M, K)."""
    z = np.asarray(logits, dtype=np.float64)
    z = z - z.max(axis=2, keepdims=True)
    p = np.exp(z)
    p /= p.sum(axis=2, keepdims=True)
    mean: npt.NDArray[np.float64] = p.mean(axis=1)
    return mean


def nms_bev(
    boxes: npt.ArrayLike, scores: npt.ArrayLike, iou_threshold: float
) -> npt.NDArray[np.int64]:
    """Indices kept by greedy BEV non-maximum suppression, highest score first."""
    order = np.argsort(-np.asarray(scores, dtype=np.float64), kind="stable")
    b = np.asarray(boxes, dtype=np.float64).reshape(-1, 7)[order]
    iou = bev_iou_matrix(b, b)  # candidates per frame are few hundred: one matrix is cheap
    suppressed = np.zeros(order.shape[0], dtype=bool)
    keep = []
    for i in range(order.shape[0]):  # over detections, not points
        if suppressed[i]:
            continue
        keep.append(order[i])
        suppressed |= iou[i] > iou_threshold
    return np.asarray(keep, dtype=np.int64)
