"""The on-disk Longtail dataset layout (DESIGN.md)::

    DIR/meta.json              sensor, seed, scenario, frame count
    DIR/velodyne/%06d.bin      KITTI velodyne points, sensor frame (written); any point file
                               ``core.formats.pointfile`` reads is read: %06d.pcd, .ply,
                               .las, .laz, .pcd.bin (nuScenes), the format from the file
    DIR/labels/%06d.json       ground-truth boxes with class, track id and point count; ego pose
    DIR/point_labels/%06d.label  optional: class and instance id of every point (SemanticKITTI
                               layout, ``core.formats.semantic_kitti``; ids from
                               ``core.classes.POINT_CLASS_IDS``), same order as the velodyne file

Boxes are ``(x, y, z, l, w, h, yaw)`` in the sensor frame, centre of the box, yaw in (-pi, pi].
A drive that carries point labels says so in ``meta.json`` (key ``point_labels``: format,
folder and the class table); drives from real sensors, and drives written before point labels
existed, have neither the key nor the folder.
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

from core.classes import POINT_CLASS_IDS, POINT_CLASS_NAMES
from core.errors import FormatError
from core.formats.atomic import atomic_write_bytes
from core.formats.kitti_bin import RECORD_BYTES, write_kitti_bin
from core.formats.pointfile import PointFile, frame_stem, is_point_file, read_point_file
from core.formats.semantic_kitti import PointLabels, read_point_labels, write_point_labels

VELODYNE_DIR = "velodyne"
LABELS_DIR = "labels"
POINT_LABELS_DIR = "point_labels"
META_FILE = "meta.json"
#: the ``meta.json`` key of a drive that carries point labels
POINT_LABELS_KEY = "point_labels"


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


def point_labels_meta() -> dict[str, Any]:
    """The ``meta.json`` entry of a drive that carries point labels: format, folder and the
    class table the ids come from (so a drive stays readable if the table grows)."""
    return {"format": "semantic_kitti", "dir": POINT_LABELS_DIR, "class_ids": POINT_CLASS_IDS}


class DatasetWriter:
    """Writes frames into the dataset layout; each file is written atomically."""

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root)
        (self.root / VELODYNE_DIR).mkdir(parents=True, exist_ok=True)
        (self.root / LABELS_DIR).mkdir(parents=True, exist_ok=True)
        self.point_label_frames = 0

    def write_meta(self, meta: dict[str, Any]) -> dict[str, Any]:
        """Write ``meta.json``; if any frame was written with point labels, the meta gains the
        ``point_labels`` entry (``point_labels_meta()``). Returns the meta as written."""
        if self.point_label_frames:
            meta = {**meta, POINT_LABELS_KEY: point_labels_meta()}
        atomic_write_bytes(
            self.root / META_FILE, json.dumps(meta, indent=2).encode(), durable=False
        )
        return meta

    def write_frame(
        self,
        points: npt.NDArray[np.float32],
        labels: FrameLabels,
        point_labels: PointLabels | None = None,
    ) -> None:
        """Write one frame: its points, its boxes and, if given, its per-point labels (one
        per point, in the order of ``points``; a count mismatch is refused before anything of
        the frame is written)."""
        name = frame_name(labels.index)
        label_path = self.root / POINT_LABELS_DIR / f"{name}.label"
        if point_labels is not None and len(point_labels.semantic) != points.shape[0]:
            raise FormatError(
                f"{label_path}: expected {points.shape[0]} labels (one per point of the "
                f"frame), found {len(point_labels.semantic)}"
            )
        write_kitti_bin(self.root / VELODYNE_DIR / f"{name}.bin", points)
        payload = json.dumps(labels.to_json(), indent=1).encode()
        atomic_write_bytes(self.root / LABELS_DIR / f"{name}.json", payload, durable=False)
        if point_labels is not None:
            write_point_labels(label_path, *point_labels, durable=False)
            self.point_label_frames += 1


class Dataset:
    """Read access to a dataset directory. Labels are optional (real, unlabelled drives)."""

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root)
        velodyne = self.root / VELODYNE_DIR
        if not velodyne.is_dir():
            raise FormatError(f"{self.root}: not a dataset directory (no {VELODYNE_DIR}/ folder)")
        files: dict[int, Path] = {}
        for path in sorted(velodyne.iterdir()):
            stem = frame_stem(path)
            if not (is_point_file(path) and stem.isdigit()):
                continue
            index = int(stem)
            if index in files:
                raise FormatError(
                    f"{velodyne}: frame {index} has two point files, {files[index].name} and "
                    f"{path.name}; keep one"
                )
            files[index] = path
        self.files = files
        self.indices = sorted(files)

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

    def path(self, index: int) -> Path:
        """The point file of frame ``index`` (FormatError if the drive has none)."""
        try:
            return self.files[index]
        except KeyError:
            raise FormatError(
                f"{self.root / VELODYNE_DIR}: no point file for frame {index}"
            ) from None

    def read(self, index: int) -> PointFile:
        """Frame ``index`` read by ``core.formats.pointfile`` (points, ring, intensity rule,
        warnings)."""
        return read_point_file(self.path(index))

    def points(self, index: int) -> npt.NDArray[np.float32]:
        """Frame ``index`` as float32 ``(N, 4)``: x, y, z metres (sensor frame), intensity in
        [0, 1]."""
        return self.read(index).points

    def carries_point_labels(self) -> bool:
        """True if ``meta.json`` says the drive carries a point-label file for every frame."""
        return POINT_LABELS_KEY in self.meta()

    def point_labels(self, index: int) -> PointLabels | None:
        """The class and instance id of every point of frame ``index`` (uint16 arrays aligned
        with ``points(index)``), or None if the frame has none (real-sensor and older drives).

        Raises FormatError naming the file if it is missing although ``meta.json`` declares
        point labels, holds a different number of labels than the frame has points, or holds a
        class id that ``core.classes.POINT_CLASS_IDS`` does not know.
        """
        path = self.root / POINT_LABELS_DIR / f"{frame_name(index)}.label"
        if not path.exists():
            if self.carries_point_labels():
                raise FormatError(f"{path}: missing, but {META_FILE} declares point labels")
            return None
        labels = read_point_labels(path, self._point_count(index))
        known = np.isin(labels.semantic, list(POINT_CLASS_NAMES), kind="table")
        if not known.all():
            unknown = sorted({int(v) for v in np.unique(labels.semantic[~known])})
            raise FormatError(f"{path}: unknown point class id(s) {unknown[:10]}")
        return labels

    def _point_count(self, index: int) -> int:
        path = self.path(index)
        if frame_stem(path) + ".bin" != path.name:  # not KITTI: count what the reader reads
            return len(read_point_file(path, drop_invalid=False).points)
        try:
            size = path.stat().st_size
        except OSError as exc:
            raise FormatError(f"{path}: cannot read KITTI velodyne file: {exc.strerror}") from exc
        if size % RECORD_BYTES:
            raise FormatError(
                f"{path}: size {size} bytes is not a multiple of {RECORD_BYTES} "
                f"(truncated or not a KITTI velodyne file)"
            )
        return size // RECORD_BYTES

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
