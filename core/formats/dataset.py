"""The on-disk Longtail dataset layout (DESIGN.md)::

    DIR/meta.json              sensor, seed, scenario, frame count
    DIR/velodyne/%06d.bin      KITTI velodyne points, sensor frame
    DIR/labels/%06d.json       ground-truth boxes with class, track id and point count; ego pose

Boxes are ``(x, y, z, l, w, h, yaw)`` in the sensor frame, centre of the box, yaw in (-pi, pi].
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from core.errors import FormatError
from core.formats.atomic import atomic_write_bytes
from core.formats.kitti_bin import read_kitti_bin, write_kitti_bin

VELODYNE_DIR = "velodyne"
LABELS_DIR = "labels"
META_FILE = "meta.json"


def wrap_yaw(yaw: float) -> float:
    """Wrap an angle in radians to (-pi, pi]."""
    wrapped = math.remainder(yaw, 2.0 * math.pi)
    return math.pi if wrapped == -math.pi else wrapped


@dataclass(frozen=True)
class ObjectLabel:
    """One ground-truth object: box in the sensor frame (metres, radians), class and track."""

    class_name: str
    track_id: int
    box: tuple[float, float, float, float, float, float, float]
    num_points: int

    def to_json(self) -> dict[str, Any]:
        return {
            "class": self.class_name,
            "track_id": self.track_id,
            "box": [round(v, 6) for v in self.box],
            "num_points": self.num_points,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any], source: str) -> ObjectLabel:
        try:
            box = tuple(float(v) for v in data["box"])
            label = cls(str(data["class"]), int(data["track_id"]), box, int(data["num_points"]))  # type: ignore[arg-type]
        except (KeyError, TypeError, ValueError) as exc:
            raise FormatError(f"{source}: bad object entry {data!r}: {exc}") from exc
        if len(box) != 7 or not all(math.isfinite(v) for v in box):
            raise FormatError(f"{source}: box must be 7 finite numbers, got {data['box']!r}")
        if min(box[3:6]) <= 0:
            raise FormatError(f"{source}: box dimensions must be positive, got {box[3:6]}")
        return label


@dataclass(frozen=True)
class FrameLabels:
    """Ground truth of one frame plus the ego pose in the world frame (x, y, z, roll, pitch, yaw)."""

    index: int
    timestamp_ns: int
    pose: tuple[float, float, float, float, float, float]
    objects: tuple[ObjectLabel, ...] = field(default_factory=tuple)

    def boxes(self) -> npt.NDArray[np.float64]:
        """All boxes as a float64 ``(K, 7)`` array."""
        return np.array([o.box for o in self.objects], dtype=np.float64).reshape(-1, 7)

    def class_names(self) -> list[str]:
        return [o.class_name for o in self.objects]

    def to_json(self) -> dict[str, Any]:
        return {
            "frame": self.index,
            "timestamp_ns": self.timestamp_ns,
            "pose": list(self.pose),
            "objects": [o.to_json() for o in self.objects],
        }

    @classmethod
    def from_json(cls, data: dict[str, Any], source: str) -> FrameLabels:
        try:
            objects = tuple(ObjectLabel.from_json(o, source) for o in data["objects"])
            pose = tuple(float(v) for v in data.get("pose", [0.0] * 6))
            if len(pose) != 6 or not all(math.isfinite(v) for v in pose):
                raise ValueError(f"pose must have 6 finite values, got {data['pose']!r}")
            return cls(int(data["frame"]), int(data.get("timestamp_ns", 0)), pose, objects)
        except (KeyError, TypeError, ValueError) as exc:
            raise FormatError(f"{source}: bad label file: {exc}") from exc


def frame_name(index: int) -> str:
    return f"{index:06d}"


class DatasetWriter:
    """Writes frames into the dataset layout; each file is written atomically."""

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root)
        (self.root / VELODYNE_DIR).mkdir(parents=True, exist_ok=True)
        (self.root / LABELS_DIR).mkdir(parents=True, exist_ok=True)

    def write_meta(self, meta: dict[str, Any]) -> None:
        atomic_write_bytes(
            self.root / META_FILE, json.dumps(meta, indent=2).encode(), durable=False
        )

    def write_frame(self, points: npt.NDArray[np.float32], labels: FrameLabels) -> None:
        name = frame_name(labels.index)
        write_kitti_bin(self.root / VELODYNE_DIR / f"{name}.bin", points)
        payload = json.dumps(labels.to_json(), indent=1).encode()
        atomic_write_bytes(self.root / LABELS_DIR / f"{name}.json", payload, durable=False)


class Dataset:
    """Read access to a dataset directory. Labels are optional (real, unlabelled drives)."""

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root)
        velodyne = self.root / VELODYNE_DIR
        if not velodyne.is_dir():
            raise FormatError(f"{self.root}: not a dataset directory (no {VELODYNE_DIR}/ folder)")
        self.indices = sorted(int(p.stem) for p in velodyne.glob("*.bin") if p.stem.isdigit())

    def __len__(self) -> int:
        return len(self.indices)

    def meta(self) -> dict[str, Any]:
        path = self.root / META_FILE
        if not path.exists():
            return {}
        try:
            data = json.loads(path.read_text())
        except (OSError, ValueError) as exc:
            raise FormatError(f"{path}: cannot parse dataset metadata: {exc}") from exc
        if not isinstance(data, dict):
            raise FormatError(f"{path}: expected a JSON object, got {type(data).__name__}")
        return data

    def points(self, index: int) -> npt.NDArray[np.float32]:
        return read_kitti_bin(self.root / VELODYNE_DIR / f"{frame_name(index)}.bin")

    def has_labels(self, index: int) -> bool:
        return (self.root / LABELS_DIR / f"{frame_name(index)}.json").exists()

    def labels(self, index: int) -> FrameLabels:
        path = self.root / LABELS_DIR / f"{frame_name(index)}.json"
        try:
            data = json.loads(path.read_text())
        except (OSError, ValueError) as exc:
            raise FormatError(f"{path}: cannot read label file: {exc}") from exc
        return FrameLabels.from_json(data, str(path))

    def __iter__(self) -> Iterator[tuple[npt.NDArray[np.float32], FrameLabels | None]]:
        for index in self.indices:
            yield self.points(index), (self.labels(index) if self.has_labels(index) else None)
