"""Fuse the boxes several annotators drew around one object into one box, and say how much they
disagree (pure numpy).

Boxes are ``(x, y, z, l, w, h, yaw)`` in one frame (metres, radians). The fused box takes:

- **centre and size**: the per-coordinate median of the members (robust to one sloppy member);
- **heading**: a circular mean that respects the 180-degree ambiguity. Annotators of a
  near-symmetric object (a barrier, a parked trailer, debris) often agree on its axis and not on
  which end is the front; a plain circular mean of two opposite headings is undefined (or picks
  a perpendicular). So the *axis* is the circular mean of the doubled angles (mod pi), and the
  *direction* along it is the one most members point to (ties go to the sign of the summed
  cosines to the axis, then to the axis angle itself). Members pointing the other way are
  reported in ``flipped``: their box is the same, their front is not.

The disagreement figures let the caller escalate a cluster above a threshold:
``mean_iou``/``min_iou`` (3D IoU of each member with the fused box), ``centre_spread_m`` (RMS
distance of the members' centres from the fused centre) and ``heading_spread_rad`` (mean
flip-invariant heading error of the members, radians in [0, pi/2]); ``disagreement`` is
``1 - mean_iou``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from backend.errors import QualityError
from core.geometry import heading_error, iou3d_pairs

F64 = npt.NDArray[np.float64]
Bool = npt.NDArray[np.bool_]


@dataclass(frozen=True)
class FusedBox:
    """One fused box ``(7,)`` and the disagreement of its ``n_members`` members (see module)."""

    box: F64
    n_members: int
    flipped: Bool
    mean_iou: float
    min_iou: float
    centre_spread_m: float
    heading_spread_rad: float

    @property
    def disagreement(self) -> float:
        """``1 - mean_iou``: 0 when every member is the fused box, 1 when none overlaps it."""
        return 1.0 - self.mean_iou


def _wrap(angle: float) -> float:
    """Wrap radians to (-pi, pi]."""
    wrapped = math.remainder(angle, 2.0 * math.pi)
    return math.pi if wrapped == -math.pi else wrapped


def fused_heading(yaws: npt.ArrayLike) -> tuple[float, Bool]:
    """Heading (radians, (-pi, pi]) of members with yaws ``(K,)``, and which members point the
    other way along its axis (see the module docstring for the rule)."""
    yaw = np.asarray(yaws, dtype=np.float64).reshape(-1)
    if yaw.size == 0:
        raise QualityError("fused heading: no yaws to fuse")
    axis = 0.5 * math.atan2(float(np.sin(2 * yaw).sum()), float(np.cos(2 * yaw).sum()))
    cos_to_axis = np.cos(yaw - axis)
    forward = int((cos_to_axis > 0).sum())
    backward = int((cos_to_axis < 0).sum())
    if forward != backward:
        heading = axis if forward > backward else axis + math.pi
    else:
        heading = axis if cos_to_axis.sum() >= 0 else axis + math.pi
    heading = _wrap(heading)
    flipped: Bool = heading_error(yaw, heading) > 0.5 * math.pi
    return heading, flipped


def fuse_boxes(boxes: npt.ArrayLike) -> FusedBox:
    """Fuse ``(K, 7)`` boxes of one object (K >= 1) into a :class:`FusedBox`."""
    b = np.asarray(boxes, dtype=np.float64)
    if b.ndim != 2 or b.shape[1] != 7 or b.shape[0] == 0:
        raise QualityError(f"fuse boxes: expected shape (K >= 1, 7), got {b.shape}")
    heading, flipped = fused_heading(b[:, 6])
    fused = np.empty(7, dtype=np.float64)
    fused[:6] = np.median(b[:, :6], axis=0)
    fused[6] = heading
    iou = iou3d_pairs(b, np.broadcast_to(fused, b.shape))
    centre_d = np.linalg.norm(b[:, :3] - fused[:3], axis=1)
    return FusedBox(
        box=fused,
        n_members=int(b.shape[0]),
        flipped=flipped,
        mean_iou=float(iou.mean()),
        min_iou=float(iou.min()),
        centre_spread_m=float(np.sqrt(np.mean(centre_d**2))),
        heading_spread_rad=float(heading_error(b[:, 6], heading, ignore_flip=True).mean()),
    )
