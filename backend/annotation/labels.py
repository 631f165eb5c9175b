"""What a label set holds, how it is checked, stored, compared and digested.

* **Boxes**: ``BoxLabel`` objects, each with a stable ``id`` (so saves can be diffed), the frame
  it belongs to, a ``track_id`` shared by the same object across the task's frames, the class,
  attributes and ``box = (x, y, z, l, w, h, yaw)`` in that frame's sensor frame (metres, centre
  of the box, yaw radians about +z from +x, wrapped to (-pi, pi]). Pre-labels carry the model's
  ``score``; people's boxes have none. In a sequence (a task of several frames), a box a person
  placed or edited is a *keyframe* of its track; the boxes the tool interpolated between two
  keyframes of a track carry ``interpolated = True`` (saved too, so exports and QA see a box on
  every frame where the track exists). The field appears in JSON only when true, so label sets
  written before sequences load, digest and compare as before.
* **Points**: per frame, a semantic class id (``core.classes.POINT_CLASS_IDS``, 0 unlabelled) and
  an instance id per point, in the frame's point order (``core.formats.semantic_kitti
  .PointLabels``). Stored and sent as SemanticKITTI ``.label`` bytes (``uint32 = semantic |
  instance << 16``, little-endian; ``core.formats.semantic_kitti``), zstd-compressed (and base64
  in JSON). Saves may also send them gzip-compressed (``gzip-u32le-base64``): browsers compress
  gzip natively (``CompressionStream``) but not zstd. The server always answers in zstd.

Pure apart from zstd: no database, no I/O. ``validate`` refuses bad input with the box id or
frame and the value that is wrong, before anything is stored.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import math
import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Final

import numpy as np
import zstandard

from backend.annotation.ontology import Ontology
from backend.errors import InvalidInputError
from core.errors import FormatError
from core.formats.dataset import wrap_yaw
from core.formats.semantic_kitti import PointLabels, decode_point_labels, encode_point_labels

#: largest box side accepted (m): a long articulated bus is ~25 m
MAX_BOX_SIDE_M: Final = 30.0
#: a box centre may lie this far beyond the sensor's maximum range (m) before it is refused
RANGE_MARGIN_M: Final = 20.0
#: the range assumed where a frame does not say its sensor's (0 m): the longest of automotive
#: LiDARs in use (long-range units reach ~250-300 m)
UNKNOWN_RANGE_M: Final = 300.0
#: centre heights outside this band (m, sensor frame) are refused
MAX_ABS_Z_M: Final = 15.0
#: the encoding name of point labels in JSON (what the server sends)
POINTS_ENCODING: Final = "zstd-u32le-base64"
#: the same words gzip-compressed: accepted in saves (what browsers can compress natively)
POINTS_ENCODING_GZIP: Final = "gzip-u32le-base64"
#: largest decompressed point labels of one frame (bytes): 16 M points
MAX_POINT_WORDS_BYTES: Final = 64 * 2**20


@dataclass(frozen=True)
class BoxLabel:
    """One 3D box of one frame (see the module docstring for units and frames)."""

    id: str
    frame_id: str
    track_id: int
    class_name: str
    box: tuple[float, float, float, float, float, float, float]
    attributes: dict[str, str] = field(default_factory=dict)
    score: float | None = None
    interpolated: bool = False

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "id": self.id,
            "frame_id": self.frame_id,
            "track_id": self.track_id,
            "class_name": self.class_name,
            "box": list(self.box),
            "attributes": dict(self.attributes),
            "score": self.score,
        }
        if self.interpolated:
            out["interpolated"] = True
        return out


def point_count(labels: PointLabels) -> int:
    """Points a frame's labels cover."""
    return int(labels.semantic.shape[0])


def same_points(a: PointLabels, b: PointLabels) -> bool:
    """Whether two frames' point labels are identical."""
    return bool(np.array_equal(a.semantic, b.semantic) and np.array_equal(a.instance, b.instance))


@dataclass(frozen=True)
class LabelContent:
    """Everything one label set holds: boxes of every frame and point labels of some frames."""

    boxes: tuple[BoxLabel, ...] = ()
    points: Mapping[str, PointLabels] = field(default_factory=dict)

    def boxes_of(self, frame_id: str) -> list[BoxLabel]:
        return [b for b in self.boxes if b.frame_id == frame_id]


@dataclass(frozen=True)
class FrameFacts:
    """What validation needs to know of a frame: its point count and the sensor's range (m)."""

    num_points: int
    max_range_m: float


# -- validation -----------------------------------------------------------------------------


def _box_values(raw: Any, where: str) -> tuple[float, float, float, float, float, float, float]:
    if not isinstance(raw, list | tuple) or len(raw) != 7:
        raise InvalidInputError(
            f"{where}: box must be 7 numbers [x, y, z, l, w, h, yaw], got {raw!r}"
        )
    values: list[float] = []
    for name, value in zip(("x", "y", "z", "l", "w", "h", "yaw"), raw, strict=True):
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise InvalidInputError(f"{where}: {name} must be a number, got {value!r}")
        if not math.isfinite(value):
            raise InvalidInputError(f"{where}: {name} must be finite, got {value!r}")
        values.append(float(value))
    x, y, z, length, width, height, yaw = values
    return (x, y, z, length, width, height, wrap_yaw(yaw))


def validate(
    content: LabelContent, ontology: Ontology, frames: Mapping[str, FrameFacts]
) -> LabelContent:
    """``content`` with yaws wrapped and attributes completed, or InvalidInputError naming the
    box (by id) or frame and the value that breaks a rule. ``frames``: the task's frames in
    time order (an interpolated box must lie between two keyframes of its track)."""
    seen: set[str] = set()
    checked: list[BoxLabel] = []
    for box in content.boxes:
        where = f"box {box.id!r}"
        if not box.id or len(box.id) > 64:
            raise InvalidInputError(f"{where}: id must be 1-64 characters")
        if box.id in seen:
            raise InvalidInputError(f"{where}: id used twice in one label set")
        seen.add(box.id)
        facts = frames.get(box.frame_id)
        if facts is None:
            raise InvalidInputError(f"{where}: frame {box.frame_id!r} is not a frame of this task")
        if (
            isinstance(box.track_id, bool)
            or not isinstance(box.track_id, int)
            or not (0 <= box.track_id < 2**31)
        ):
            raise InvalidInputError(
                f"{where}: track_id must be an integer >= 0, got {box.track_id!r}"
            )
        ontology.object_class(box.class_name, where)
        values = _box_values(box.box, where)
        for name, side in zip(("l", "w", "h"), values[3:6], strict=True):
            if not 0.0 < side <= MAX_BOX_SIDE_M:
                raise InvalidInputError(
                    f"{where}: {name} must be in (0, {MAX_BOX_SIDE_M}] m, got {side!r}"
                )
        sensor_range = facts.max_range_m if facts.max_range_m > 0 else UNKNOWN_RANGE_M
        reach = sensor_range + RANGE_MARGIN_M
        if math.hypot(values[0], values[1]) > reach or abs(values[2]) > MAX_ABS_Z_M:
            raise InvalidInputError(
                f"{where}: centre ({values[0]:.1f}, {values[1]:.1f}, {values[2]:.1f}) m is outside "
                f"the frame (sensor range {sensor_range:.0f} m + {RANGE_MARGIN_M:.0f} m, "
                f"|z| <= {MAX_ABS_Z_M:.0f} m)"
            )
        if box.score is not None and not (
            isinstance(box.score, int | float) and 0.0 <= box.score <= 1.0
        ):
            raise InvalidInputError(f"{where}: score must be in [0, 1], got {box.score!r}")
        if box.interpolated and box.score is not None:
            raise InvalidInputError(f"{where}: a pre-label (with a score) cannot be interpolated")
        attributes = ontology.check_attributes(box.attributes, where)
        checked.append(replace(box, box=values, attributes=attributes))
    _check_interpolated(checked, list(frames))
    valid_ids = np.array(sorted(ontology.point_ids), dtype=np.int64)
    for frame_id, labels in content.points.items():
        facts = frames.get(frame_id)
        where = f"point labels of frame {frame_id!r}"
        if facts is None:
            raise InvalidInputError(f"{where}: not a frame of this task")
        if point_count(labels) != facts.num_points:
            raise InvalidInputError(
                f"{where}: {point_count(labels)} labels for a frame of {facts.num_points} points"
            )
        unknown = np.setdiff1d(np.unique(labels.semantic), valid_ids)
        if unknown.size:
            raise InvalidInputError(
                f"{where}: class ids {unknown[:8].tolist()} are not in ontology v{ontology.version}"
            )
    return LabelContent(tuple(checked), dict(content.points))


def _check_interpolated(boxes: Sequence[BoxLabel], frame_order: Sequence[str]) -> None:
    """InvalidInputError unless every interpolated box lies strictly between two keyframes
    (boxes not interpolated) of its track, in ``frame_order``."""
    position = {fid: i for i, fid in enumerate(frame_order)}
    keyframes: dict[int, list[int]] = {}
    for box in boxes:
        if not box.interpolated:
            keyframes.setdefault(box.track_id, []).append(position[box.frame_id])
    for box in boxes:
        if not box.interpolated:
            continue
        at = position[box.frame_id]
        keys = keyframes.get(box.track_id, [])
        if not (any(k < at for k in keys) and any(k > at for k in keys)):
            raise InvalidInputError(
                f"box {box.id!r}: interpolated on frame {box.frame_id!r}, but track "
                f"{box.track_id} has no keyframe before and after it"
            )


# -- JSON and storage forms -----------------------------------------------------------------


def box_from_json(raw: Any, index: int) -> BoxLabel:
    """A box from its JSON form; InvalidInputError names the position of a malformed one."""
    where = f"boxes[{index}]"
    if not isinstance(raw, Mapping):
        raise InvalidInputError(f"{where}: expected an object, got {raw!r}")
    try:
        attributes = raw.get("attributes") or {}
        if not isinstance(attributes, Mapping) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in attributes.items()
        ):
            raise InvalidInputError(f"{where}: attributes must map names to strings")
        score = raw.get("score")
        if score is not None and (isinstance(score, bool) or not isinstance(score, int | float)):
            raise InvalidInputError(f"{where}: score must be a number or null, got {score!r}")
        track = raw.get("track_id", 0)
        interpolated = raw.get("interpolated", False)
        if not isinstance(interpolated, bool):
            raise InvalidInputError(f"{where}: interpolated must be true or false")
        return BoxLabel(
            id=str(raw["id"]),
            frame_id=str(raw["frame_id"]),
            track_id=track if isinstance(track, int) and not isinstance(track, bool) else -1,
            class_name=str(raw["class_name"]),
            box=_box_values(raw["box"], f"{where} ({raw.get('id')!r})"),
            attributes=dict(attributes),
            score=None if score is None else float(score),
            interpolated=interpolated,
        )
    except KeyError as exc:
        raise InvalidInputError(f"{where}: missing field {exc.args[0]!r}") from None


def encode_point_words(labels: PointLabels) -> bytes:
    """zstd of the ``.label`` bytes of one frame (its storage and transport form)."""
    raw = encode_point_labels(labels.semantic, labels.instance)
    return zstandard.ZstdCompressor(level=3).compress(raw)


def decode_point_words(data: bytes, where: str) -> PointLabels:
    """The inverse of :func:`encode_point_words`; InvalidInputError names ``where``."""
    try:
        raw = zstandard.ZstdDecompressor().decompress(data, max_output_size=MAX_POINT_WORDS_BYTES)
        return decode_point_labels(raw, where)
    except zstandard.ZstdError as exc:
        raise InvalidInputError(f"{where}: not zstd-compressed label words: {exc}") from exc
    except FormatError as exc:
        raise InvalidInputError(str(exc)) from exc


def decode_gzip_point_words(data: bytes, where: str) -> PointLabels:
    """Point labels from gzip-compressed ``.label`` bytes; InvalidInputError names ``where``
    (also when they would decompress past :data:`MAX_POINT_WORDS_BYTES`)."""
    inflater = zlib.decompressobj(wbits=31)  # gzip framing
    try:
        raw = inflater.decompress(data, MAX_POINT_WORDS_BYTES)
        if inflater.unconsumed_tail:
            raise InvalidInputError(
                f"{where}: decompresses to more than {MAX_POINT_WORDS_BYTES} bytes"
            )
        if not inflater.eof:
            raise InvalidInputError(f"{where}: the gzip stream is truncated")
    except zlib.error as exc:
        raise InvalidInputError(f"{where}: not gzip-compressed label words: {exc}") from exc
    try:
        return decode_point_labels(raw, where)
    except FormatError as exc:
        raise InvalidInputError(str(exc)) from exc


def points_to_json(labels: PointLabels) -> dict[str, Any]:
    return {
        "encoding": POINTS_ENCODING,
        "count": point_count(labels),
        "data": base64.b64encode(encode_point_words(labels)).decode("ascii"),
    }


def points_from_json(raw: Any, frame_id: str) -> PointLabels:
    where = f"point labels of frame {frame_id!r}"
    encoding = raw.get("encoding") if isinstance(raw, Mapping) else None
    if not isinstance(raw, Mapping) or encoding not in (POINTS_ENCODING, POINTS_ENCODING_GZIP):
        raise InvalidInputError(
            f"{where}: expected {{'encoding': '{POINTS_ENCODING}' or '{POINTS_ENCODING_GZIP}', "
            "'data': ...}"
        )
    try:
        data = base64.b64decode(str(raw.get("data", "")), validate=True)
    except binascii.Error as exc:
        raise InvalidInputError(f"{where}: data is not base64: {exc}") from exc
    if encoding == POINTS_ENCODING_GZIP:
        labels = decode_gzip_point_words(data, where)
    else:
        labels = decode_point_words(data, where)
    if raw.get("count") is not None and raw["count"] != point_count(labels):
        raise InvalidInputError(
            f"{where}: count says {raw['count']}, data holds {point_count(labels)}"
        )
    return labels


def content_to_json(content: LabelContent) -> dict[str, Any]:
    """The JSON form of a label set's content (API bodies)."""
    return {
        "boxes": [b.to_json() for b in content.boxes],
        "points": {fid: points_to_json(p) for fid, p in sorted(content.points.items())},
    }


def content_from_json(raw: Any) -> LabelContent:
    """Parse an API body's ``boxes`` and ``points`` (structure only; see :func:`validate`)."""
    if not isinstance(raw, Mapping):
        raise InvalidInputError(f"labels: expected an object, got {type(raw).__name__}")
    boxes = raw.get("boxes", [])
    points = raw.get("points", {}) or {}
    if not isinstance(boxes, list):
        raise InvalidInputError("labels: boxes must be a list")
    if not isinstance(points, Mapping):
        raise InvalidInputError("labels: points must map frame ids to encoded labels")
    return LabelContent(
        tuple(box_from_json(b, i) for i, b in enumerate(boxes)),
        {str(fid): points_from_json(p, str(fid)) for fid, p in points.items()},
    )


def stored_points(
    content: LabelContent, frame_order: Sequence[str]
) -> tuple[bytes | None, dict[str, int] | None]:
    """The storage form of the point labels: one zstd stream of every labelled frame's words
    in task order, and the word count of each frame."""
    present = [fid for fid in frame_order if fid in content.points]
    if not present:
        return None, None
    raw = b"".join(
        encode_point_labels(content.points[f].semantic, content.points[f].instance) for f in present
    )
    counts = {fid: point_count(content.points[fid]) for fid in present}
    return zstandard.ZstdCompressor(level=3).compress(raw), counts


def loaded_points(data: bytes | None, counts: Mapping[str, int] | None) -> dict[str, PointLabels]:
    """The inverse of :func:`stored_points` (the counts keep their insertion order)."""
    if data is None or counts is None:
        return {}
    every = decode_point_words(data, "stored point labels")
    out: dict[str, PointLabels] = {}
    start = 0
    for frame_id, count in counts.items():
        end = start + count
        out[frame_id] = PointLabels(every.semantic[start:end], every.instance[start:end])
        start = end
    return out


def digest(content: LabelContent) -> str:
    """SHA-256 of the content in a canonical form (box order and JSON spacing do not matter)."""
    h = hashlib.sha256()
    boxes = sorted((b.to_json() for b in content.boxes), key=lambda b: b["id"])
    h.update(json.dumps(boxes, sort_keys=True, separators=(",", ":")).encode())
    for frame_id in sorted(content.points):
        h.update(frame_id.encode())
        labels = content.points[frame_id]
        h.update(encode_point_labels(labels.semantic, labels.instance))
    return h.hexdigest()


# -- what changed ---------------------------------------------------------------------------


def diff(
    before: LabelContent, after: LabelContent, class_names: Mapping[int, str]
) -> dict[str, Any]:
    """Box-level before/after of every added, removed or changed box, and per frame how many
    points changed class with the most common transitions (for the audit log)."""
    old = {b.id: b for b in before.boxes}
    new = {b.id: b for b in after.boxes}
    changed = []
    for box_id in sorted(old.keys() & new.keys()):
        a, b = old[box_id].to_json(), new[box_id].to_json()
        fields = [k for k in a if a[k] != b[k]]
        if fields:
            changed.append({"id": box_id, "fields": fields, "before": a, "after": b})
    points: dict[str, Any] = {}
    for frame_id in sorted(before.points.keys() | after.points.keys()):
        was, now = before.points.get(frame_id), after.points.get(frame_id)
        if was is None or now is None or point_count(was) != point_count(now):
            points[frame_id] = {
                "replaced": True,
                "points": point_count(now) if now is not None else 0,
            }
            continue
        moved = np.flatnonzero((was.semantic != now.semantic) | (was.instance != now.instance))
        if moved.size == 0:
            continue
        pairs, counts = np.unique(
            np.stack([was.semantic[moved], now.semantic[moved]], axis=1), axis=0, return_counts=True
        )
        top = np.argsort(-counts, kind="stable")[:10]
        points[frame_id] = {
            "changed": int(moved.size),
            "transitions": {
                f"{class_names.get(int(pairs[i, 0]), str(pairs[i, 0]))}->"
                f"{class_names.get(int(pairs[i, 1]), str(pairs[i, 1]))}": int(counts[i])
                for i in top
            },
        }
    return {
        "added": [new[i].to_json() for i in sorted(new.keys() - old.keys())],
        "removed": [old[i].to_json() for i in sorted(old.keys() - new.keys())],
        "changed": changed,
        "points": points,
    }
