"""Label files in: an uploaded zip archive or JSON document, read into boxes per stored frame.

An upload is a set of files, as a zip archive or as a JSON object ``{"files": {"<path>":
<content>}}`` (content: the file's text, or for JSON files the parsed JSON). The layouts:

* ``kitti``: ``label_2/<name>.txt`` with ``calib/<name>.txt`` beside it, for every frame (a
  label file without its calib is refused: the camera frame means nothing without it);
* ``sustechpoints``: ``label/<name>.json`` (SUSTechPOINTS' own ``label`` folder).

The label folder may sit inside other folders (one place per upload); ``<name>`` is the stored
frame's id (64 hex digits), or a name that ``longtail.json`` beside the label folder (the file
every Longtail export carries) maps to a frame id in its ``frames`` list, so an export imports
back. Boxes are converted by ``core.formats`` (KITTI camera-frame bottom centres through the
calib into LiDAR-frame centre boxes; SUSTechPOINTS centres as they are, roll and pitch
dropped) and keep their source (file and object number) for error messages. Nothing here knows
classes or frames beyond their ids: ``backend.datasets.imports`` maps and checks them.
"""

from __future__ import annotations

import io
import json
import re
import zipfile
import zlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final, Literal

from backend.errors import InvalidInputError
from core.errors import FormatError
from core.formats.kitti_calib import parse_kitti_calib
from core.formats.kitti_label import kitti_to_box, parse_kitti_label
from core.formats.sustechpoints import parse_sustech_label, sustech_to_box

ImportFormat = Literal["kitti", "sustechpoints"]
FORMATS: Final = ("kitti", "sustechpoints")
Box = tuple[float, float, float, float, float, float, float]

#: most files and bytes (uncompressed) one upload may hold
MAX_FILES: Final = 100_000
MAX_UNPACKED_BYTES: Final = 512 * 2**20
META_FILE: Final = "longtail.json"
_FRAME_ID = re.compile(r"^[0-9a-f]{64}$")
#: KITTI's occlusion levels and Longtail's ``occluded`` attribute (3, "unknown", sets nothing)
KITTI_OCCLUDED: Final = {0: "none", 1: "partly", 2: "mostly"}
#: a KITTI object this truncated (0..1) or more is ``truncated: yes``
KITTI_TRUNCATED_AT: Final = 0.5


@dataclass(frozen=True)
class ParsedObject:
    """One object of a label file: its type as written, its Longtail box (sensor frame, centre,
    metres, radians), a track key (objects with equal keys are one object), attributes, and
    where it came from."""

    type: str
    box: Box
    track: str | None
    attributes: Mapping[str, str]
    source: str


@dataclass(frozen=True)
class ParsedFrame:
    """The objects of one stored frame, read from ``source``."""

    frame_id: str
    source: str
    objects: tuple[ParsedObject, ...] = field(default_factory=tuple)


def read_files(data: bytes, content_type: str) -> dict[str, bytes]:
    """The files of an upload (zip by content, else JSON); InvalidInputError says what is wrong."""
    if data[:4] == b"PK\x03\x04" or "zip" in content_type:
        return _zip_files(data)
    try:
        document = json.loads(data)
    except (ValueError, RecursionError) as exc:
        raise InvalidInputError(f"upload: neither a zip archive nor JSON: {exc}") from None
    files = document.get("files") if isinstance(document, dict) else None
    if not isinstance(files, dict) or not files:
        raise InvalidInputError('upload: JSON must be {"files": {"<path>": <content>, ...}}')
    out = {}
    for path, content in files.items():
        out[str(path)] = (
            content.encode("utf-8") if isinstance(content, str) else json.dumps(content).encode()
        )
    return out


def _zip_files(data: bytes) -> dict[str, bytes]:
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
        members = [m for m in archive.infolist() if not m.is_dir()]
        if len(members) > MAX_FILES:
            raise InvalidInputError(f"upload: {len(members)} files, above the limit of {MAX_FILES}")
        unpacked = sum(m.file_size for m in members)
        if unpacked > MAX_UNPACKED_BYTES:
            raise InvalidInputError(
                f"upload: {unpacked} bytes unpacked, above the limit of {MAX_UNPACKED_BYTES}"
            )
        return {m.filename: archive.read(m) for m in members}
    except (
        zipfile.BadZipFile,
        zlib.error,
        EOFError,
        NotImplementedError,
        RuntimeError,
        ValueError,
    ) as exc:
        # corrupt directories or members, unknown compression, encrypted members
        raise InvalidInputError(f"upload: not a readable zip archive: {exc}") from None


def _text(data: bytes, path: str) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InvalidInputError(f"{path}: not UTF-8 text: {exc}") from None


def _names(
    files: Mapping[str, bytes], path: str
) -> tuple[dict[str, str], dict[str, dict[str, Any]]]:
    """``longtail.json``'s frame names -> frame ids, and its row of each name."""
    if path not in files:
        return {}, {}
    try:
        rows = [dict(r) for r in json.loads(files[path])["frames"]]
        ids = {str(r["name"]): str(r["frame_id"]) for r in rows}
    except (ValueError, KeyError, TypeError, RecursionError) as exc:
        raise InvalidInputError(f"{path}: no frames list of names and frame ids: {exc}") from None
    return ids, {str(r["name"]): r for r in rows}


def _frame_id(name: str, path: str, names: Mapping[str, str]) -> str:
    found = names.get(name, name)
    if not _FRAME_ID.match(found):
        raise InvalidInputError(
            f"{path}: {name!r} is neither a frame id (64 hex digits) nor a name {META_FILE} maps"
        )
    return found


def parse_upload(files: Mapping[str, bytes], fmt: str) -> list[ParsedFrame]:
    """The frames and objects of an upload in ``fmt`` (sorted by path)."""
    if fmt not in FORMATS:
        raise InvalidInputError(f"format {fmt!r} is not one of {', '.join(FORMATS)}")
    folder, suffix = ("label_2", ".txt") if fmt == "kitti" else ("label", ".json")
    pattern = re.compile(rf"^((?:[^/]+/)*){folder}/([^/]+){re.escape(suffix)}$")
    found = sorted((m.group(1), m.group(2), p) for p in files if (m := pattern.match(p)))
    if not found:
        raise InvalidInputError(f"upload: no {folder}/*{suffix} file (found {sorted(files)[:10]})")
    roots = sorted({root for root, _, _ in found})
    if len(roots) > 1:
        raise InvalidInputError(f"upload: {folder}/ folders in several places: {roots[:5]}")
    root = roots[0]
    names, rows = _names(files, root + META_FILE)
    frames: list[ParsedFrame] = []
    seen: dict[str, str] = {}
    for _, name, path in found:
        frame_id = _frame_id(name, path, names)
        if frame_id in seen:
            raise InvalidInputError(
                f"{path}: frame {frame_id} is also labelled by {seen[frame_id]}"
            )
        seen[frame_id] = path
        try:
            if fmt == "kitti":
                objects = _kitti_objects(files, root, path, name, rows.get(name, {}))
            else:
                objects = _sustech_objects(files[path], path)
        except FormatError as exc:
            raise InvalidInputError(str(exc)) from None
        frames.append(ParsedFrame(frame_id, path, tuple(objects)))
    return frames


def _kitti_objects(
    files: Mapping[str, bytes], root: str, path: str, name: str, row: Mapping[str, Any]
) -> list[ParsedObject]:
    calib_path = f"{root}calib/{name}.txt"
    if calib_path not in files:
        raise InvalidInputError(f"{path}: no {calib_path} beside it (KITTI boxes need the calib)")
    calib = parse_kitti_calib(_text(files[calib_path], calib_path), calib_path)
    objects = parse_kitti_label(_text(files[path], path), path)
    # a Longtail export lists each line's track (tracks are per task); other KITTI labels have none
    listed = row.get("objects") or []
    tracks = (
        [f"task {row.get('task')} track {dict(o).get('track_id')}" for o in listed]
        if isinstance(listed, list)
        and len(listed) == len(objects)
        and all(isinstance(o, Mapping) for o in listed)
        else []
    )
    out = []
    for number, obj in enumerate(objects, start=1):
        source = f"{path} object {number}"
        if min(obj.dimensions) <= 0:
            raise InvalidInputError(f"{source}: {obj.type} has non-positive size {obj.dimensions}")
        attributes = {"truncated": "yes" if obj.truncated >= KITTI_TRUNCATED_AT else "no"}
        if obj.occluded in KITTI_OCCLUDED:
            attributes["occluded"] = KITTI_OCCLUDED[obj.occluded]
        out.append(
            ParsedObject(
                obj.type,
                kitti_to_box(obj, calib),
                tracks[number - 1] if tracks else None,
                attributes,
                source,
            )
        )
    return out


def _sustech_objects(data: bytes, path: str) -> list[ParsedObject]:
    try:
        document = json.loads(data)
    except (ValueError, RecursionError) as exc:
        raise InvalidInputError(f"{path}: not JSON: {exc}") from None
    out = []
    for number, obj in enumerate(parse_sustech_label(document, path), start=1):
        source = f"{path} object {number}"
        out.append(
            ParsedObject(obj.obj_type, sustech_to_box(obj, source), obj.obj_id or None, {}, source)
        )
    return out
