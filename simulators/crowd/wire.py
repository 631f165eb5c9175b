"""The server's label JSON, both ways: a person's frames of work into a save body, and a label
set from the API back into boxes per frame (``backend.api.schemas.annotation`` describes the
format; point labels travel as ``zstd-u32le-base64``, encoded by the backend's own codec)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from backend.annotation.labels import points_to_json
from simulators.crowd.labelling import FrameWork, LabelledBox


def box_id(frame_index: int, box_index: int) -> str:
    """A box id unique within a task's label set."""
    return f"f{frame_index}-b{box_index}"


def labels_body(frames: Sequence[tuple[str, FrameWork]]) -> dict[str, Any]:
    """The ``labels`` of a save, submit, fix or adjudication: ``frames`` in task order as
    ``(frame_id, work)``."""
    boxes = []
    points = {}
    for f, (frame_id, work) in enumerate(frames):
        for k, box in enumerate(work.boxes):
            boxes.append(
                {
                    "id": box_id(f, k),
                    "frame_id": frame_id,
                    "track_id": box.track_id,
                    "class_name": box.class_name,
                    "box": [float(v) for v in box.box],
                }
            )
        if work.points is not None:
            points[frame_id] = points_to_json(work.points)
    return {"boxes": boxes, "points": points}


def boxes_by_frame(
    label_set: Mapping[str, Any], frame_ids: Sequence[str]
) -> dict[str, tuple[list[str], list[LabelledBox]]]:
    """A label set's boxes (API JSON ``{"labels": {"boxes": [...]}}``) per frame: the box ids and
    the boxes, in the order the set lists them."""
    out: dict[str, tuple[list[str], list[LabelledBox]]] = {f: ([], []) for f in frame_ids}
    for raw in label_set["labels"]["boxes"]:
        ids, boxes = out.setdefault(raw["frame_id"], ([], []))
        ids.append(str(raw["id"]))
        boxes.append(LabelledBox(int(raw["track_id"]), str(raw["class_name"]), tuple(raw["box"])))
    return out
