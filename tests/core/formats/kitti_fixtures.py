"""Calibrations shared by the KITTI tests.

``data/kitti_000000_calib.txt`` is the calibration of KITTI object training frame 000000;
``PEDESTRIAN`` is the first line of that frame's label file.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import numpy.typing as npt
from hypothesis import strategies as st

from core.formats.kitti_calib import KittiCalib, read_kitti_calib

DATA = Path(__file__).parent / "data"
PEDESTRIAN = (
    "Pedestrian 0.00 0 -0.20 712.40 143.00 810.73 307.92 1.89 0.48 1.20 1.84 1.47 8.41 0.01"
)


def kitti_calib() -> KittiCalib:
    return read_kitti_calib(DATA / "kitti_000000_calib.txt")


def axis_aligned_calib() -> KittiCalib:
    """LiDAR x forward/y left/z up -> camera x right/y down/z forward, no offsets."""
    tr = np.array([[0.0, -1, 0, 0], [0, 0, -1, 0], [1, 0, 0, 0]])
    p = np.array([[700.0, 0, 600, 0], [0, 700, 180, 0], [0, 0, 1, 0]])
    return KittiCalib((p, p, p, p), np.eye(3), tr)


def rotation(roll: float, pitch: float, yaw: float) -> npt.NDArray[np.float64]:
    cr, sr, cp, sp, cy, sy = (f(a) for a in (roll, pitch, yaw) for f in (math.cos, math.sin))
    rx = np.array([[1, 0, 0], [0, cr, -sr], [0, sr, cr]])
    ry = np.array([[cp, 0, sp], [0, 1, 0], [-sp, 0, cp]])
    rz = np.array([[cy, -sy, 0], [sy, cy, 0], [0, 0, 1]])
    matrix: npt.NDArray[np.float64] = rz @ ry @ rx
    return matrix


@st.composite
def calibs(draw: st.DrawFn) -> KittiCalib:
    """The axis-aligned rig perturbed by small rotations and offsets, like real KITTI rigs."""
    small = st.floats(-0.05, 0.05)
    base = axis_aligned_calib()
    tr = base.tr_velo_to_cam.copy()
    tr[:, :3] = rotation(draw(small), draw(small), draw(small)) @ tr[:, :3]
    tr[:, 3] = [draw(st.floats(-1, 1)) for _ in range(3)]
    r0 = rotation(draw(small), draw(small), draw(small))
    return KittiCalib(base.p, r0, tr)
