"""Per-drive records of the selection benchmark: what perception and scoring made of each frame.

``score_drive`` runs the model and its scoring kernels over a simulated drive and reduces the
result to flat arrays (``DriveScores``) that the benchmark caches, so re-running the policies or
the diagnosis costs no perception. Ground truth enters only here: which detections lie on a rare
object, which rare class and track that is, how many points the frame's best-hit rare object has,
and every rare object of every frame (track, class, points, range) for the event-level measure.
"""

from __future__ import annotations

import dataclasses
import hashlib
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import numpy as np
import numpy.typing as npt
from tqdm import tqdm

from agent.scoring import SCORE_NAMES, Scorer
from core.classes import is_rare
from core.formats.dataset import Dataset, FrameLabels
from core.geometry.boxes import bev_iou_matrix

F64 = npt.NDArray[np.float64]
#: bump when the cached arrays change: older cache files are then recomputed, not misread
RECORD_VERSION: Final = 3


@dataclass(frozen=True)
class DriveScores:
    """Cached outputs for one drive of F frames and their D detections in total.

    ``offsets`` int64 ``[F + 1]`` (detections of frame f are ``offsets[f]:offsets[f+1]``),
    ``raw`` / ``tail`` float64 ``[D, S]`` in ``SCORE_NAMES`` order, ``class_ids`` int64 ``[D]``
    (0 = background), ``on_rare`` bool ``[D]`` (detection box overlaps a rare object's box in
    BEV), ``rare_class`` str ``[D]`` (the rare class of the object it overlaps most, "" when
    none), ``rare_points`` int64 ``[F]`` (points on the frame's best-hit rare object, 0 without),
    ``num_points`` int64 ``[F]`` (LiDAR points of the frame), ``cpu_s`` perception + scoring CPU.

    Event-level fields: ``rare_track`` int64 ``[D]`` (track id of the rare object a detection
    overlaps most, -1 none), ``boxes`` float32 ``[D, 7]`` (fitted boxes, sensor frame),
    ``confidence`` float64 ``[D]`` (the model's class probability), ``det_points`` int64 ``[D]``
    (points in the candidate's cluster), ``gt_class`` str ``[D]`` (class of the labelled object,
    ordinary or rare, its box overlaps most; "" for clutter), ``pose`` float64 ``[F, 6]``
    (sensor pose in the world frame, as the source gives it), and the frames' rare objects, ``O``
    in all: ``obj_offsets`` int64 ``[F + 1]``, ``obj_track`` int64, ``obj_class`` str,
    ``obj_points`` int64 (LiDAR points on it), ``obj_range`` float64 (horizontal distance of its
    box centre from the sensor, metres), each ``[O]``.
    """

    offsets: npt.NDArray[np.int64]
    raw: F64
    tail: F64
    class_ids: npt.NDArray[np.int64]
    on_rare: npt.NDArray[np.bool_]
    rare_class: npt.NDArray[np.str_]
    rare_points: npt.NDArray[np.int64]
    num_points: npt.NDArray[np.int64]
    rare_track: npt.NDArray[np.int64]
    boxes: npt.NDArray[np.float32]
    confidence: F64
    det_points: npt.NDArray[np.int64]
    gt_class: npt.NDArray[np.str_]
    pose: F64
    obj_offsets: npt.NDArray[np.int64]
    obj_track: npt.NDArray[np.int64]
    obj_class: npt.NDArray[np.str_]
    obj_points: npt.NDArray[np.int64]
    obj_range: F64
    cpu_s: float

    @property
    def frames(self) -> int:
        return int(self.offsets.size - 1)

    def save(self, path: Path) -> None:
        """Write to ``path`` (npz) atomically."""
        save_fields(self, path)

    @classmethod
    def load(cls, path: Path) -> DriveScores:
        with np.load(path, allow_pickle=False) as data:
            arrays = {f.name: data[f.name] for f in dataclasses.fields(cls) if f.name != "cpu_s"}
            return cls(**arrays, cpu_s=float(data["cpu_s"]))


def save_fields(record: Any, path: Path) -> None:
    """Write the fields of the dataclass ``record`` to ``path`` (npz), atomically: a cache file
    is either whole or absent, so an interrupted run never leaves one half-written."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp.npz")
    np.savez(tmp, **{f.name: getattr(record, f.name) for f in dataclasses.fields(record)})
    tmp.replace(path)


def simulator_fingerprint() -> str:
    """A digest of the simulator's code and shipped scenarios: part of every cached drive's name,
    so a drive simulated by an older simulator is never mistaken for what the current one makes."""
    root = Path(__file__).resolve().parents[1] / "simulators"
    digest = hashlib.sha256()
    for path in sorted([*root.glob("*.py"), *(root / "scenarios").glob("*.toml")]):
        digest.update(path.name.encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()[:10]


def cache_name(drive_name: str) -> str:
    """File name of a drive's cached records (carries ``RECORD_VERSION``)."""
    return f"{drive_name}-v{RECORD_VERSION}.npz"


def frame_max(values: F64, offsets: npt.NDArray[np.int64]) -> F64:
    """Per frame, the maximum of ``values`` over its detections (``-inf`` for none)."""
    out = np.full(offsets.size - 1, -np.inf)
    has = offsets[1:] > offsets[:-1]
    if values.size:
        out[has] = np.maximum.reduceat(values, offsets[:-1][has])
    return out


def rare_points_of(labels: FrameLabels) -> int:
    """Points on the best-hit rare-class object of the frame (0 when it shows none)."""
    return max((o.num_points for o in labels.objects if is_rare(o.class_name)), default=0)


def frame_labels(rare_points: npt.NDArray[np.int64], min_points: int) -> npt.NDArray[np.int8]:
    """1 = rare-object frame, 0 = negative, -1 = ignored (rare objects with too few points)."""
    out = np.zeros(rare_points.shape, dtype=np.int8)
    out[rare_points > 0] = -1
    out[rare_points >= min_points] = 1
    return out


def rare_overlap(
    fitted_boxes: npt.NDArray[np.float32], labels: FrameLabels, rare_only: bool = True
) -> tuple[npt.NDArray[np.str_], npt.NDArray[np.int64]]:
    """Per detection (fitted box, sensor frame), the class and track id of the rare object
    (any labelled object unless ``rare_only``) its box overlaps most in BEV, or ("", -1) when
    it overlaps none."""
    rare = [o for o in labels.objects if is_rare(o.class_name) or not rare_only]
    out = np.full(fitted_boxes.shape[0], "", dtype="U32")
    tracks = np.full(fitted_boxes.shape[0], -1, dtype=np.int64)
    if not rare or not fitted_boxes.shape[0]:
        return out, tracks
    boxes = np.asarray([o.box for o in rare], dtype=np.float64).reshape(-1, 7)
    iou = bev_iou_matrix(fitted_boxes, boxes)
    names = np.array([o.class_name for o in rare], dtype="U32")
    ids = np.array([o.track_id for o in rare], dtype=np.int64)
    hit = iou.max(axis=1) > 0.0
    best = iou.argmax(axis=1)[hit]
    out[hit] = names[best]
    tracks[hit] = ids[best]
    return out, tracks


def score_drive(path: Path, frames: int, perception: Any, scorer: Scorer, desc: str) -> DriveScores:
    """Run perception and scoring on the first ``frames`` frames of the drive at ``path``."""
    data = Dataset(path)
    offsets, raws, tails, classes, rare_class, rare_track = [0], [], [], [], [], []
    boxes, confidence, det_points, poses, gt_class = [], [], [], [], []
    rare_points, num_points = [], []
    obj_offsets, obj_track, obj_class, obj_points, obj_range = [0], [], [], [], []
    started = time.process_time()
    for index in tqdm(data.indices[:frames], desc=desc, unit="frame"):
        points, labels = data.points(index), data.labels(index)
        dets = perception(points)
        scores = scorer.score(dets.logits, dets.embeddings)
        raws.append(np.stack([scores.raw[n] for n in SCORE_NAMES], axis=1))
        tails.append(np.stack([scores.tail[n] for n in SCORE_NAMES], axis=1))
        classes.append(np.asarray(dets.class_ids, dtype=np.int64))
        names, tracks = rare_overlap(dets.fitted_boxes, labels)
        rare_class.append(names)
        gt_class.append(rare_overlap(dets.fitted_boxes, labels, rare_only=False)[0])
        rare_track.append(tracks)
        boxes.append(np.asarray(dets.fitted_boxes, dtype=np.float32).reshape(-1, 7))
        confidence.append(np.asarray(dets.scores, dtype=np.float64))
        det_points.append(np.asarray(dets.num_points, dtype=np.int64))
        poses.append(labels.pose)
        offsets.append(offsets[-1] + len(dets))
        rare_points.append(rare_points_of(labels))
        num_points.append(points.shape[0])
        rare = [o for o in labels.objects if is_rare(o.class_name)]
        obj_offsets.append(obj_offsets[-1] + len(rare))
        obj_track += [o.track_id for o in rare]
        obj_class += [o.class_name for o in rare]
        obj_points += [o.num_points for o in rare]
        obj_range += [float(np.hypot(o.box[0], o.box[1])) for o in rare]
    s = len(SCORE_NAMES)
    names_all = np.concatenate(rare_class) if rare_class else np.zeros(0, dtype="U32")
    return DriveScores(
        offsets=np.asarray(offsets, dtype=np.int64),
        raw=np.concatenate(raws) if raws else np.zeros((0, s)),
        tail=np.concatenate(tails) if tails else np.zeros((0, s)),
        class_ids=np.concatenate(classes) if classes else np.zeros(0, np.int64),
        on_rare=names_all != "",
        rare_class=names_all,
        rare_points=np.asarray(rare_points, dtype=np.int64),
        num_points=np.asarray(num_points, dtype=np.int64),
        rare_track=np.concatenate(rare_track) if rare_track else np.zeros(0, np.int64),
        boxes=np.concatenate(boxes) if boxes else np.zeros((0, 7), np.float32),
        confidence=np.concatenate(confidence) if confidence else np.zeros(0),
        det_points=np.concatenate(det_points) if det_points else np.zeros(0, np.int64),
        gt_class=np.concatenate(gt_class) if gt_class else np.zeros(0, dtype="U32"),
        pose=np.asarray(poses, dtype=np.float64).reshape(-1, 6),
        obj_offsets=np.asarray(obj_offsets, dtype=np.int64),
        obj_track=np.asarray(obj_track, dtype=np.int64),
        obj_class=np.asarray(obj_class, dtype="U32"),
        obj_points=np.asarray(obj_points, dtype=np.int64),
        obj_range=np.asarray(obj_range, dtype=np.float64),
        cpu_s=time.process_time() - started,
    )
