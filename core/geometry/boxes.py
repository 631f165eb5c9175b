"""Box maths: corners, rotated bird's-eye-view (BEV) IoU, 3D IoU and point-in-box tests.

This is the project's one implementation of box IoU (DESIGN.md): evaluation, the vehicle's NMS,
annotation QA and auto-accept all call it. Boxes are ``(x, y, z, l, w, h, yaw)`` in one common
frame: centre of the box in metres, ``l`` along the heading, yaw in radians about +z from +x. The
BEV footprint is the rotated rectangle ``l x w``; the 3D box extends ``h / 2`` above and below the
centre (boxes rotate about z only, as every LiDAR box does).

How the IoU is computed, and why:

- Exact: one rectangle is clipped by the other (Sutherland-Hodgman, four half-planes) and the
  clipped polygon's area is the shoelace sum; no sampling, no rasterising. The 3D intersection is
  the BEV intersection times the overlap of the z intervals.
- Degenerate boxes score 0 against everything, themselves included: a box is valid only if all
  seven values are finite and ``l``, ``w`` and ``h`` are > 0 (:func:`valid_box_mask`). Without this
  rule a zero-footprint clip polygon has only zero-length edges, every cross product against them
  is 0, every vertex of the other box counts as "inside", and the "intersection" is the whole
  other box: its area divided by a union of rounding noise gave 1.0 (or 1e15) one way round and
  0 the other.
- Symmetric to the last bit: each pair is computed in one canonical order (the lexicographically
  smaller box is the subject), so ``iou(a, b) == iou(b, a)`` exactly, not just to 1e-16.
- Precise far from the origin: corners are offsets from the subject box's centre (the other box
  is translated by the difference of centres), so boxes in a map frame 10 km out lose no digits
  to cancellation.
- Bounded: the intersection is clamped to the smaller box's area (rounding of identical boxes
  cannot give an IoU above 1). Touching boxes (a shared edge or corner) give exactly 0.
- Fast: pairs whose axis-aligned bounding boxes (or z intervals, for 3D) do not overlap are
  rejected before any clipping; matrices run one numba loop with reused scratch buffers.
"""

from __future__ import annotations

import numba as nb
import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]

#: corner signs (along l, along w) in counter-clockwise order seen from above
_CORNER_SIGNS = np.array([[0.5, 0.5], [-0.5, 0.5], [-0.5, -0.5], [0.5, -0.5]], dtype=np.float64)

#: scratch rows for a clipped polygon: a quadrilateral clipped by four half-planes has at most
#: eight vertices; sixteen leaves headroom for repeated vertices on touching edges
_SCRATCH = 16


def _as_boxes(boxes: npt.ArrayLike, name: str) -> FloatArray:
    arr = np.ascontiguousarray(boxes, dtype=np.float64)
    if arr.ndim != 2 or arr.shape[1] < 7:
        raise ValueError(f"{name}: expected boxes of shape (N, 7), got {arr.shape}")
    return np.ascontiguousarray(arr[:, :7]) if arr.shape[1] > 7 else arr


def valid_box_mask(boxes: npt.ArrayLike) -> BoolArray:
    """Which boxes ``(N, 7)`` have an IoU at all: every value finite and ``l, w, h > 0`` (metres).

    Invalid boxes score 0 against every box in :func:`bev_iou_matrix`, :func:`iou3d_matrix` and
    the ``_pairs`` variants (BEV as well as 3D: a box without height is not a box).
    """
    mask: BoolArray = _prepare(_as_boxes(boxes, "boxes"))[2]
    return mask


def box_corners_bev(boxes: npt.ArrayLike) -> FloatArray:
    """BEV corners ``(N, 4, 2)`` (metres, the boxes' frame), counter-clockwise seen from +z."""
    b = _as_boxes(boxes, "boxes")
    out: FloatArray = _prepare(b)[0]
    out[:, :, 0] += b[:, 0:1]
    out[:, :, 1] += b[:, 1:2]
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
def _prepare(b: FloatArray) -> tuple[FloatArray, FloatArray, BoolArray]:
    """Corner offsets ``(N, 4, 2)`` from each centre (counter-clockwise seen from +z), half
    extents of the axis-aligned bounding box ``(N, 2)`` (metres) and validity ``(N,)``.

    The one definition of a valid box. In numba because the numpy version of this preparation
    cost more than a whole 50 x 50 IoU matrix.
    """
    n = b.shape[0]
    offsets = np.empty((n, 4, 2))
    half = np.zeros((n, 2))
    valid = np.zeros(n, dtype=np.bool_)
    for i in range(n):
        c, s = np.cos(b[i, 6]), np.sin(b[i, 6])
        for q in range(4):
            lx = _CORNER_SIGNS[q, 0] * b[i, 3]
            ly = _CORNER_SIGNS[q, 1] * b[i, 4]
            offsets[i, q, 0] = c * lx - s * ly
            offsets[i, q, 1] = s * lx + c * ly
        ok = b[i, 3] > 0.0 and b[i, 4] > 0.0 and b[i, 5] > 0.0
        for k in range(7):
            ok = ok and np.isfinite(b[i, k])
        if ok:
            valid[i] = True
            half[i, 0] = 0.5 * (abs(c) * b[i, 3] + abs(s) * b[i, 4])
            half[i, 1] = 0.5 * (abs(s) * b[i, 3] + abs(c) * b[i, 4])
    return offsets, half, valid


@nb.njit(cache=True, nogil=True)
def _clip_area(
    subjects: FloatArray,
    s: int,
    clips: FloatArray,
    c: int,
    tx: float,
    ty: float,
    poly: FloatArray,
    nxt: FloatArray,
) -> float:
    """Area of the convex CCW quadrilateral ``subjects[s]`` (4, 2) clipped by the convex CCW
    quadrilateral ``clips[c]`` translated by ``(tx, ty)``; ``poly``/``nxt`` are scratch.

    Indices rather than row views: a view per call costs reference counting in the hot loop.
    """
    n = 4
    for i in range(4):
        poly[i, 0] = subjects[s, i, 0]
        poly[i, 1] = subjects[s, i, 1]
    for e in range(4):
        f = (e + 1) % 4
        ax, ay = clips[c, e, 0] + tx, clips[c, e, 1] + ty
        ex, ey = clips[c, f, 0] - clips[c, e, 0], clips[c, f, 1] - clips[c, e, 1]
        k = 0
        for i in range(n):
            px, py = poly[i, 0], poly[i, 1]
            j = i + 1 if i + 1 < n else 0
            qx, qy = poly[j, 0], poly[j, 1]
            # cross product of the edge with the vertex: >= 0 means inside (left of a CCW edge)
            dp = ex * (py - ay) - ey * (px - ax)
            dq = ex * (qy - ay) - ey * (qx - ax)
            if dp >= 0.0:
                nxt[k, 0] = px
                nxt[k, 1] = py
                k += 1
            if (dp >= 0.0) != (dq >= 0.0):
                # one strictly negative, the other >= 0: dp - dq cannot be zero
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
        j = i + 1 if i + 1 < n else 0
        area += poly[i, 0] * poly[j, 1] - poly[j, 0] * poly[i, 1]
    return float(0.5 * abs(area))


@nb.njit(cache=True, nogil=True)
def _overlap_iou(
    a: FloatArray,
    i: int,
    b: FloatArray,
    j: int,
    oa: FloatArray,
    ob: FloatArray,
    dz: float,
    three_d: bool,
    poly: FloatArray,
    nxt: FloatArray,
) -> float:
    """IoU of valid boxes ``a[i]`` and ``b[j]`` whose bounding boxes overlap, in the order given
    (the caller puts the pair in canonical order); ``dz`` is their z overlap (metres, 3D)."""
    inter = _clip_area(oa, i, ob, j, b[j, 0] - a[i, 0], b[j, 1] - a[i, 1], poly, nxt)
    if inter <= 0.0:
        return 0.0
    area_a = a[i, 3] * a[i, 4]
    area_b = b[j, 3] * b[j, 4]
    inter = min(inter, area_a, area_b)
    if three_d:
        inter *= dz
        union = area_a * a[i, 5] + area_b * b[j, 5] - inter
    else:
        union = area_a + area_b - inter
    return float(min(inter / union, 1.0))


@nb.njit(cache=True, nogil=True)
def _iou_kernel(
    a: FloatArray,
    b: FloatArray,
    oa: FloatArray,
    ob: FloatArray,
    ha: FloatArray,
    hb: FloatArray,
    va: BoolArray,
    vb: BoolArray,
    three_d: bool,
    pairs: bool,
) -> FloatArray:
    """IoU of every ``a[i]`` with every ``b[j]`` ``(N, M)``, or of aligned pairs ``(N, 1)``.

    The rejection tests sit in the loop itself, not in a helper: a call passing the arrays costs
    more reference counting than the tests, and most pairs of a frame are rejected by them.
    """
    n = a.shape[0]
    out = np.zeros((n, 1 if pairs else b.shape[0]))
    poly = np.empty((_SCRATCH, 2))
    nxt = np.empty((_SCRATCH, 2))
    for i in range(n):
        if not va[i]:
            continue
        j0 = i if pairs else 0
        j1 = i + 1 if pairs else b.shape[0]
        for j in range(j0, j1):
            if not vb[j]:
                continue
            # axis-aligned bounding boxes apart (a symmetric test): no clipping needed
            if abs(b[j, 0] - a[i, 0]) >= ha[i, 0] + hb[j, 0]:
                continue
            if abs(b[j, 1] - a[i, 1]) >= ha[i, 1] + hb[j, 1]:
                continue
            dz = 0.0
            if three_d:
                top = min(a[i, 2] + 0.5 * a[i, 5], b[j, 2] + 0.5 * b[j, 5])
                dz = top - max(a[i, 2] - 0.5 * a[i, 5], b[j, 2] - 0.5 * b[j, 5])
                if dz <= 0.0:
                    continue
            # canonical order (the lexicographically smaller box is the subject): the result is
            # bit-identical both ways round
            swap = False
            for k in range(7):
                if a[i, k] != b[j, k]:
                    swap = b[j, k] < a[i, k]
                    break
            if swap:
                value = _overlap_iou(b, j, a, i, ob, oa, dz, three_d, poly, nxt)
            else:
                value = _overlap_iou(a, i, b, j, oa, ob, dz, three_d, poly, nxt)
            out[i, j - j0] = value
    return out


def _iou(a: npt.ArrayLike, b: npt.ArrayLike, three_d: bool, pairs: bool) -> FloatArray:
    aa, bb = _as_boxes(a, "a"), _as_boxes(b, "b")
    if pairs and aa.shape[0] != bb.shape[0]:
        raise ValueError(
            f"aligned pairs need as many boxes in a as in b, got {aa.shape[0]} and {bb.shape[0]}"
        )
    oa, ha, va = _prepare(aa)
    ob, hb, vb = _prepare(bb)
    result: FloatArray = _iou_kernel(aa, bb, oa, ob, ha, hb, va, vb, three_d, pairs)
    return result[:, 0] if pairs else result


def bev_iou_matrix(a: npt.ArrayLike, b: npt.ArrayLike) -> FloatArray:
    """Rotated BEV IoU of every box in ``a`` ``(N, 7)`` with every box in ``b`` ``(M, 7)``.

    Returns float64 ``(N, M)`` in [0, 1]; boxes must be in the same frame. Columns beyond the
    seventh are ignored; an invalid box (:func:`valid_box_mask`) scores 0.
    """
    return _iou(a, b, three_d=False, pairs=False)


def iou3d_matrix(a: npt.ArrayLike, b: npt.ArrayLike) -> FloatArray:
    """3D IoU (rotated about z only) of every box in ``a`` ``(N, 7)`` with every box in ``b``.

    Returns float64 ``(N, M)`` in [0, 1]; an invalid box (:func:`valid_box_mask`) scores 0.
    """
    return _iou(a, b, three_d=True, pairs=False)


def bev_iou_pairs(a: npt.ArrayLike, b: npt.ArrayLike) -> FloatArray:
    """Rotated BEV IoU of aligned pairs: ``a[i]`` with ``b[i]``, both ``(N, 7)``; returns ``(N,)``."""
    return _iou(a, b, three_d=False, pairs=True)


def iou3d_pairs(a: npt.ArrayLike, b: npt.ArrayLike) -> FloatArray:
    """3D IoU of aligned pairs: ``a[i]`` with ``b[i]``, both ``(N, 7)``; returns ``(N,)``."""
    return _iou(a, b, three_d=True, pairs=True)


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


def heading_error(
    yaw_a: npt.ArrayLike, yaw_b: npt.ArrayLike, ignore_flip: bool = False
) -> FloatArray:
    """Absolute heading difference (radians) of yaws ``yaw_a`` and ``yaw_b`` (broadcast).

    In [0, pi]; with ``ignore_flip`` a box and its half turn count as the same heading (a LiDAR
    box's front is often ambiguous) and the result is in [0, pi/2].
    """
    period = np.pi if ignore_flip else 2.0 * np.pi
    d = np.mod(np.asarray(yaw_a, dtype=np.float64) - np.asarray(yaw_b, dtype=np.float64), period)
    out: FloatArray = np.minimum(d, period - d)
    return out
