"""KITTI object-detection ``calib/%06d.txt`` files and the LiDAR <-> rectified-camera transforms.

A calib file holds ``key: v1 v2 ...`` lines: the camera projections ``P0..P3`` (3x4), the
rectifying rotation ``R0_rect`` (3x3), ``Tr_velo_to_cam`` (3x4, LiDAR -> reference camera) and
optionally ``Tr_imu_to_velo`` (3x4). The rectified camera frame has x right, y down, z forward
(metres); a LiDAR point ``p`` maps to it as ``R0_rect @ (Tr_velo_to_cam @ [p; 1])``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

from core.errors import FormatError
from core.formats.atomic import atomic_write_bytes

Matrix = npt.NDArray[np.float64]

#: accepted spellings of each entry (the raw-data and object benchmarks differ)
_ALIASES = {
    "R0_rect": ("R0_rect", "R_rect", "R0"),
    "Tr_velo_to_cam": ("Tr_velo_to_cam", "Tr_velo_cam"),
    "Tr_imu_to_velo": ("Tr_imu_to_velo", "Tr_imu_velo"),
}


def _homogeneous(matrix: Matrix) -> Matrix:
    out = np.eye(4)
    out[: matrix.shape[0], : matrix.shape[1]] = matrix
    return out


@dataclass(frozen=True, eq=False)
class KittiCalib:
    """The matrices of one KITTI calib file (float64, metres)."""

    p: tuple[Matrix, Matrix, Matrix, Matrix]  # P0..P3, each 3x4
    r0_rect: Matrix  # 3x3
    tr_velo_to_cam: Matrix  # 3x4
    tr_imu_to_velo: Matrix | None = None  # 3x4

    def velo_to_rect(self) -> Matrix:
        """The 4x4 transform from the LiDAR frame to the rectified camera frame."""
        return _homogeneous(self.r0_rect) @ _homogeneous(self.tr_velo_to_cam)

    def rect_to_velo(self) -> Matrix:
        """The 4x4 transform from the rectified camera frame to the LiDAR frame."""
        return np.linalg.inv(self.velo_to_rect()).astype(np.float64)

    def lidar_to_rect(self, xyz: npt.ArrayLike) -> Matrix:
        """Map ``(N, 3)`` LiDAR-frame points to the rectified camera frame."""
        pts = np.asarray(xyz, dtype=np.float64).reshape(-1, 3)
        transform = self.velo_to_rect()
        return pts @ transform[:3, :3].T + transform[:3, 3]

    def rect_to_lidar(self, xyz: npt.ArrayLike) -> Matrix:
        """Map ``(N, 3)`` rectified-camera points to the LiDAR frame."""
        pts = np.asarray(xyz, dtype=np.float64).reshape(-1, 3)
        transform = self.rect_to_velo()
        return pts @ transform[:3, :3].T + transform[:3, 3]

    def to_text(self) -> str:
        """The calib file text; ``%.12e`` keeps every float64 within 1e-12 relative."""

        def row(key: str, matrix: Matrix) -> str:
            return f"{key}: " + " ".join(f"{v:.12e}" for v in matrix.ravel()) + "\n"

        text = "".join(row(f"P{i}", m) for i, m in enumerate(self.p))
        text += row("R0_rect", self.r0_rect) + row("Tr_velo_to_cam", self.tr_velo_to_cam)
        if self.tr_imu_to_velo is not None:
            text += row("Tr_imu_to_velo", self.tr_imu_to_velo)
        return text


def parse_kitti_calib(text: str, source: str) -> KittiCalib:
    """Parse calib text; ``source`` names the file in error messages."""
    entries: dict[str, Matrix] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        key, sep, values = line.partition(":")
        if not sep:
            raise FormatError(f"{source}: line {number}: expected 'key: values', got {line!r}")
        try:
            entries[key.strip()] = np.array(values.split(), dtype=np.float64)
        except ValueError as exc:
            raise FormatError(f"{source}: line {number} ({key.strip()}): {exc}") from exc

    def find(name: str, shape: tuple[int, int]) -> Matrix | None:
        for alias in _ALIASES.get(name, (name,)):
            if alias in entries:
                values = entries[alias]
                if values.size != shape[0] * shape[1]:
                    raise FormatError(
                        f"{source}: {alias} has {values.size} values, expected "
                        f"{shape[0] * shape[1]} ({shape[0]}x{shape[1]})"
                    )
                if not np.isfinite(values).all():
                    raise FormatError(f"{source}: {alias} has non-finite values")
                return values.reshape(shape)
        return None

    def get(name: str, shape: tuple[int, int]) -> Matrix:
        matrix = find(name, shape)
        if matrix is None:
            raise FormatError(f"{source}: no {name} entry (found {sorted(entries)})")
        return matrix

    p = (get("P0", (3, 4)), get("P1", (3, 4)), get("P2", (3, 4)), get("P3", (3, 4)))
    calib = KittiCalib(
        p, get("R0_rect", (3, 3)), get("Tr_velo_to_cam", (3, 4)), find("Tr_imu_to_velo", (3, 4))
    )
    det = float(np.linalg.det(calib.velo_to_rect()))
    if abs(det) < 1e-6:
        raise FormatError(f"{source}: R0_rect @ Tr_velo_to_cam is singular (det {det:g})")
    return calib


def read_kitti_calib(path: str | os.PathLike[str]) -> KittiCalib:
    """Read a KITTI calib file; a missing entry or a wrong value count is a FormatError."""
    path = Path(path)
    try:
        text = path.read_text(encoding="ascii")
    except (OSError, UnicodeDecodeError) as exc:
        raise FormatError(f"{path}: cannot read KITTI calib file: {exc}") from exc
    return parse_kitti_calib(text, str(path))


def write_kitti_calib(path: str | os.PathLike[str], calib: KittiCalib) -> None:
    """Write a calib file atomically."""
    atomic_write_bytes(Path(path), calib.to_text().encode("ascii"), durable=False)
