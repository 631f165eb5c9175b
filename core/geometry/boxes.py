"""Box maths: corners, rotated bird's-eye-view (BEV) IoU, 3D IoU and point-in-box tests.

This is the project's one implementation of box IoU (DESIGN.md). Boxes are ``(x, y, z, l, w, h,
yaw)`` in one common frame: centre of the box in metres, ``l`` along the heading, yaw in radians
about +z from +x. The BEV footprint is the rotated rectangle ``l x w``; the 3D box extends
``h / 2`` above and below the centre.

The kernels clip one convex quadrilateral by another (Sutherland-Hodgman) and take the
shoelace area of the result: exact for rectangles, no sampling.
"""

from __future__ import annotations

import numba as nb
import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]

#: corner signs (along l, along w) in counter-clockwise order seen from above
_CORNER_SIGNS = np.array([[0.5, 0.5], [-0.5, 0.5], [-0.5, -0.5], [0.5, -0.5]], dtype=np.float64)


def _as_boxes(boxes: npt.ArrayLike, name: str) -> FloatArray:
    arr = np.ascontiguousarray(boxes, dtype=np.float64)
    if arr.ndim != 2 or arr.shape[1] < 7:
        raise ValueError(f"{name}: expected boxes of shape (N, 7), got {arr.shape}")
    return arr[:, :7] if arr.shape[1] > 7 else arr


def box_corners_bev(boxes: npt.ArrayLike) -> FloatArray:
    """BEV corners ``(N, 4, 2)`` (metres, the boxes' frame), counter-clockwise seen from +z."""
    b = _as_boxes(boxes, "boxes")
    c, s = np.cos(b[:, 6]), np.sin(b[:, 6])
    local_x = _CORNER_SIGNS[None, :, 0] * b[:, 3:4]
    local_y = _CORNER_SIGNS[None, :, 1] * b[:, 4:5]
    out = np.empty((b.shape[0], 4, 2), dtype=np.float64)
    out[:, :, 0] = b[:, 0:1] + c[:, None] * local_x - s[:, None] * local_y
    out[:, :, 1] = b[:, 1:2] + s[:, None] * local_x + c[:, None] * local_y
    return out


def box_corners_3d(boxes: npt.ArrayLike) -> FloatArray:
    """3D corners ``(N, 8, 3)``: the four BEV corners at the bottom, then the same four on top."""
    b = _as_boxes(boxes, "boxes")
    bev = box_corners_bev(b)
    out = np.empty((b.shape[0], 8, 3), dtype=np.float64)
    out[:, :4, :2] = bev
    out[:, 4:, :2] = bev
    out[:, :4, 2] = (b[:, 2] - b[:, 5] / 2.0)[:, None]
    out[:, 4:, 2] = (b[:, 2] + b[:, 5] / 2.0)[:, None]
    return out


@nb.njit(cache=True, nogil=True)
def _clip_area(subject: FloatArray, clip: FloatArray) -> float:
    """Area of convex polygon ``subject`` (n, 2) clipped by convex CCW polygon ``clip`` (m, 2)."""
    # a convex quad clipped by 4 half-planes has at most 8 vertices; 16 leaves headroom
    poly = np.empty((16, 2))
    nxt = np.empty((16, 2))
    n = subject.shape[0]
    for i in range(n):
        poly[i, 0] = subject[i, 0]
        poly[i, 1] = subject[i, 1]
    m = clip.shape[0]
    for e in range(m):
        ax, ay = clip[e, 0], clip[e, 1]
        bx, by = clip[(e + 1) % m, 0], clip[(e + 1) % m, 1]
        ex, ey = bx - ax, by - ay
        k = 0
        for i in range(n):
            px, py = poly[i, 0], poly[i, 1]
            qx, qy = poly[(i + 1) % n, 0], poly[(i + 1) % n, 1]
            # signed distance-like value: >= 0 means inside (left of the CCW edge)
            dp = ex * (py - ay) - ey * (px - ax)
            dq = ex * (qy - ay) - ey * (qx - ax)
            if dp >= 0.0:
                nxt[k, 0] = px
                nxt[k, 1] = py
                k += 1
            if (dp >= 0.0) != (dq >= 0.0):
                t = dp / (dp - dq)
                nxt[k, 0] = px + t * (qx - px)
                nxt[k, 1] = py + t * (qy - py)
                k += 1
        n = k
        if n < 3:
            return 0.0
        for i in range(n):
            poly[i, 0] = nxt[i, 0]
            poly[i, 1] = nxt[i, 1]
    area = 0.0
    for i in range(n):
        j = (i + 1) % n
        area += poly[i, 0] * poly[j, 1] - poly[j, 0] * poly[i, 1]
    return abs(area) * 0.5


@nb.njit(cache=True, nogil=True)
def _iou_kernel(
    a: FloatArray, b: FloatArray, ca: FloatArray, cb: FloatArray, three_d: bool
) -> FloatArray:
    n, m = a.shape[0], b.shape[0]
    out = np.zeros((n, m))
    for i in range(n):
        ra = 0.5 * np.hypot(a[i, 3], a[i, 4])
        for j in range(m):
            rb = 0.5 * np.hypot(b[j, 3], b[j, 4])
            # circumscribed circles apart: no overlap, skip the clipping
            if np.hypot(a[i, 0] - b[j, 0], a[i, 1] - b[j, 1]) >= ra + rb:
                continue
            inter = _clip_area(ca[i], cb[j])
            if inter <= 0.0:
                continue
            if three_d:
                top = min(a[i, 2] + a[i, 5] * 0.5, b[j, 2] + b[j, 5] * 0.5)
                bottom = max(a[i, 2] - a[i, 5] * 0.5, b[j, 2] - b[j, 5] * 0.5)
                if top <= bottom:
                    continue
                inter *= top - bottom
                union = a[i, 3] * a[i, 4] * a[i, 5] + b[j, 3] * b[j, 4] * b[j, 5] - inter
            else:
                union = a[i, 3] * a[i, 4] + b[j, 3] * b[j, 4] - inter
            out[i, j] = inter / union if union > 0.0 else 0.0
    return out


def bev_iou_matrix(a: npt.ArrayLike, b: npt.ArrayLike) -> FloatArray:
    """Rotated BEV IoU of every box in ``a`` ``(N, 7)`` with every box in ``b`` ``(M, 7)``.

    Returns float64 ``(N, M)`` in [0, 1]; boxes must be in the same frame.
    """
    aa, bb = _as_boxes(a, "a"), _as_boxes(b, "b")
    result: FloatArray = _iou_kernel(aa, bb, box_corners_bev(aa), box_corners_bev(bb), False)
    return result


def iou3d_matrix(a: npt.ArrayLike, b: npt.ArrayLike) -> FloatArray:
    """3D IoU (rotated about z only) of every box in ``a`` ``(N, 7)`` with every box in ``b``."""
    aa, bb = _as_boxes(a, "a"), _as_boxes(b, "b")
    result: FloatArray = _iou_kernel(aa, bb, box_corners_bev(aa), box_corners_bev(bb), True)
    return result


@nb.njit(cache=True, nogil=True)
def _points_in_boxes_kernel(
    xyz: npt.NDArray[np.float32], boxes: FloatArray, margin: float
) -> npt.NDArray[np.int64]:
    out = np.full(xyz.shape[0], -1, dtype=np.int64)
    k = boxes.shape[0]
    cos = np.cos(boxes[:, 6])
    sin = np.sin(boxes[:, 6])
    for p in range(xyz.shape[0]):
        x, y, z = xyz[p, 0], xyz[p, 1], xyz[p, 2]
        for j in range(k):
            dx, dy = x - boxes[j, 0], y - boxes[j, 1]
            u = cos[j] * dx + sin[j] * dy
            if abs(u) > boxes[j, 3] * 0.5 + margin:
                continue
            v = -sin[j] * dx + cos[j] * dy
            if abs(v) > boxes[j, 4] * 0.5 + margin:
                continue
            if abs(z - boxes[j, 2]) > boxes[j, 5] * 0.5 + margin:
                continue
            out[p] = j
            break
    return out


def points_in_boxes(
    points: npt.NDArray[np.float32], boxes: npt.ArrayLike, margin: float = 0.0
) -> npt.NDArray[np.int64]:
    """For each point ``(P, >=3)`` the index of the first box ``(K, 7)`` containing it, else -1.

    ``margin`` (metres) enlarges every box on each side; points and boxes share one frame.
    """
    xyz = np.ascontiguousarray(points[:, :3], dtype=np.float32)
    bb = _as_boxes(boxes, "boxes")
    result: npt.NDArray[np.int64] = _points_in_boxes_kernel(xyz, bb, float(margin))
    return result
