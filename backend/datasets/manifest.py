"""The manifest of a dataset version: what it holds, in a canonical JSON form whose SHA-256 is
the version's identity. Pure: no database, no blob store.

::

    {"format": "longtail.dataset/1",
     "ontology_version": 3,                       # the newest version any task was labelled under
     "frames": [{"index": 0, "id": <sha256 of the encoded payload>, "blob_key": "frames/<id>",
                 "payload_bytes": ..., "num_points": ..., "vehicle": ..., "captured_at_ns": ...,
                 "pose": {x, y, z, roll, pitch, yaw}, "sensor": ...,
                 "task": <id of the task whose labels the frame takes>}, ...],
     "tasks": [{"id": ..., "vehicle": ..., "frames": [...], "tier": ..., "overlap": ...,
                "routing_rule": ..., "spot_check": ..., "ontology_version": ...,
                "labels": {"label_set": ..., "source": ..., "author": ..., "revision": ...,
                           "sha256": <backend.annotation.labels.digest of the content>},
                "provenance": {"accepted": {"by", "reason", "at"}, "annotators": [...],
                               "edited_by": [...], "reviews": [...], "adjudicated_by": [...]}}, ...],
     "summary": {"frames", "tasks", "boxes", "boxes_by_class", "frames_with_point_labels",
                 "tiers", "vehicles"}}

Pose components that are not finite (ingest does not refuse them) are left out of ``pose``.
Frames are ordered by (vehicle, capture time, id) and tasks by id, and the JSON is written with
sorted keys and no spaces, so the same content always gives the same bytes and digest. Neither
the version's name, nor who built it when, nor the filters that selected it are part of the
manifest: they are facts of the database row and the audit log, and building the same content
under another name finds the existing version.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Final

from backend.errors import StorageError

FORMAT: Final = "longtail.dataset/1"
PREFIX: Final = "datasets"


def manifest_key(digest: str) -> str:
    """Where a version's manifest lives in the blob store."""
    return f"{PREFIX}/{digest}/manifest.json"


def labels_key(digest: str, task_id: int) -> str:
    """Where a version keeps the accepted labels of one of its tasks."""
    return f"{PREFIX}/{digest}/labels/{task_id}.json"


def canonical_json(document: Any) -> bytes:
    """Sorted keys, no spaces, ASCII, no NaN: one byte string per document."""
    return json.dumps(
        document, sort_keys=True, separators=(",", ":"), ensure_ascii=True, allow_nan=False
    ).encode("ascii")


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@dataclass(frozen=True)
class FrameEntry:
    """One frame of a version (units: bytes, points, nanoseconds, metres, radians)."""

    index: int
    id: str
    blob_key: str
    payload_bytes: int
    num_points: int
    vehicle: str
    captured_at_ns: int
    pose: Mapping[str, float]
    sensor: str
    task: int

    def to_json(self) -> dict[str, Any]:
        return {
            "index": self.index,
            "id": self.id,
            "blob_key": self.blob_key,
            "payload_bytes": self.payload_bytes,
            "num_points": self.num_points,
            "vehicle": self.vehicle,
            "captured_at_ns": self.captured_at_ns,
            "pose": dict(self.pose),
            "sensor": self.sensor,
            "task": self.task,
        }


@dataclass(frozen=True)
class TaskEntry:
    """One task of a version: its accepted labels (by digest) and who made them."""

    id: int
    vehicle: str
    frames: tuple[str, ...]
    tier: int
    overlap: int
    routing_rule: str | None
    spot_check: bool
    ontology_version: int
    label_set: int
    source: str
    author: str
    revision: int
    labels_sha256: str
    provenance: Mapping[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "vehicle": self.vehicle,
            "frames": list(self.frames),
            "tier": self.tier,
            "overlap": self.overlap,
            "routing_rule": self.routing_rule,
            "spot_check": self.spot_check,
            "ontology_version": self.ontology_version,
            "labels": {
                "label_set": self.label_set,
                "source": self.source,
                "author": self.author,
                "revision": self.revision,
                "sha256": self.labels_sha256,
            },
            "provenance": dict(self.provenance),
        }


@dataclass(frozen=True)
class Manifest:
    """A parsed manifest."""

    ontology_version: int
    frames: tuple[FrameEntry, ...]
    tasks: tuple[TaskEntry, ...]
    summary: Mapping[str, Any]

    def task(self, task_id: int) -> TaskEntry:
        for t in self.tasks:
            if t.id == task_id:
                return t
        raise KeyError(task_id)

    def to_json(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "ontology_version": self.ontology_version,
            "frames": [f.to_json() for f in self.frames],
            "tasks": [t.to_json() for t in self.tasks],
            "summary": dict(self.summary),
        }


def make_manifest(
    frames: Sequence[FrameEntry], tasks: Sequence[TaskEntry], summary: Mapping[str, Any]
) -> tuple[Manifest, bytes, str]:
    """The manifest of ``frames`` and ``tasks`` in canonical order, its bytes and its digest.
    Frame indices are assigned here (their position in the canonical order)."""
    ordered = sorted(frames, key=lambda f: (f.vehicle, f.captured_at_ns, f.id))
    indexed = tuple(replace(f, index=i) for i, f in enumerate(ordered))
    by_id = tuple(sorted(tasks, key=lambda t: t.id))
    manifest = Manifest(
        ontology_version=max(t.ontology_version for t in by_id),
        frames=indexed,
        tasks=by_id,
        summary=summary,
    )
    data = canonical_json(manifest.to_json())
    return manifest, data, sha256_hex(data)


def parse_manifest(data: bytes, digest: str) -> Manifest:
    """The manifest stored for ``digest``; StorageError if the bytes do not hash to it or do
    not hold a manifest (a damaged or foreign object under the version's key)."""
    actual = sha256_hex(data)
    if actual != digest:
        raise StorageError(
            f"dataset {digest}: the stored manifest hashes to {actual}; the blob is damaged"
        )
    try:
        doc = json.loads(data)
        if doc.get("format") != FORMAT:
            raise ValueError(f"format {doc.get('format')!r} is not {FORMAT!r}")
        frames = tuple(
            FrameEntry(
                index=int(f["index"]),
                id=str(f["id"]),
                blob_key=str(f["blob_key"]),
                payload_bytes=int(f["payload_bytes"]),
                num_points=int(f["num_points"]),
                vehicle=str(f["vehicle"]),
                captured_at_ns=int(f["captured_at_ns"]),
                pose={str(k): float(v) for k, v in dict(f["pose"]).items()},
                sensor=str(f["sensor"]),
                task=int(f["task"]),
            )
            for f in doc["frames"]
        )
        tasks = tuple(
            TaskEntry(
                id=int(t["id"]),
                vehicle=str(t["vehicle"]),
                frames=tuple(str(x) for x in t["frames"]),
                tier=int(t["tier"]),
                overlap=int(t["overlap"]),
                routing_rule=None if t["routing_rule"] is None else str(t["routing_rule"]),
                spot_check=bool(t["spot_check"]),
                ontology_version=int(t["ontology_version"]),
                label_set=int(t["labels"]["label_set"]),
                source=str(t["labels"]["source"]),
                author=str(t["labels"]["author"]),
                revision=int(t["labels"]["revision"]),
                labels_sha256=str(t["labels"]["sha256"]),
                provenance=dict(t["provenance"]),
            )
            for t in doc["tasks"]
        )
        return Manifest(int(doc["ontology_version"]), frames, tasks, dict(doc["summary"]))
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise StorageError(f"dataset {digest}: the stored manifest is malformed: {exc}") from exc
