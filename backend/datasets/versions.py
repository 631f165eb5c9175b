"""Dataset versions: accepted labels frozen into an immutable, content-addressed set.

:meth:`DatasetVersions.build`:

1. one read transaction takes a snapshot of every accepted task that passes the filters (gold
   and hidden-review tasks never do), its accepted labels, routing decision and provenance
   (assignments, reviews, the audit log), and the records of its frames;
2. the manifest (``backend.datasets.manifest``) and its SHA-256, the version's digest;
3. if a version with that digest exists, it is returned and nothing is written;
4. blobs first: each task's labels under ``datasets/<digest>/labels/``, then the manifest (a
   crash here leaves unreferenced blobs that the next build of the same content overwrites with
   the same bytes);
5. row last, in one transaction with its audit record and the ``dataset.created`` event; a
   concurrent build of the same content loses the insert and returns the winner's row.

Reading a version back (:meth:`DatasetVersions.frames`) checks every byte against the digests
the manifest holds: the manifest against the version's digest, each frame payload against its
frame id, each task's labels against their content digest.
"""

from __future__ import annotations

import json
import logging
from collections import OrderedDict
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime

import numpy as np
import numpy.typing as npt
from sqlalchemy.exc import IntegrityError

from backend.annotation import store
from backend.annotation.labels import (
    BoxLabel,
    LabelContent,
    content_from_json,
    content_to_json,
    digest,
)
from backend.datasets.manifest import (
    FrameEntry,
    Manifest,
    TaskEntry,
    canonical_json,
    labels_key,
    manifest_key,
    parse_manifest,
    sha256_hex,
)
from backend.datasets.snapshot import DatasetFilter, manifest_of, take_snapshot
from backend.errors import BackendError, InvalidInputError, StorageError
from backend.metadata.repositories.datasets import DatasetVersionRecord
from backend.metadata.unit_of_work import Database
from backend.storage.base import BlobNotFoundError, BlobStore
from core.errors import FormatError
from core.formats.codec import decode_frame
from core.formats.semantic_kitti import PointLabels

log = logging.getLogger(__name__)

#: task label payloads kept decoded while frames are read (frames of one task are adjacent)
LABEL_CACHE = 8
MAX_NAME = 128


@dataclass(frozen=True)
class BuildResult:
    """A version and whether this build created it (False: the same content existed)."""

    version: DatasetVersionRecord
    created: bool


@dataclass(frozen=True)
class ExportFrame:
    """One frame of a version with its points and the labels of its task (sensor frame)."""

    entry: FrameEntry
    points: npt.NDArray[np.float32]
    boxes: tuple[BoxLabel, ...]
    point_labels: PointLabels | None


class DatasetVersions:
    """Builds and reads dataset versions over one database and blob store."""

    def __init__(self, db: Database, blobs: BlobStore, clock: Callable[[], datetime]) -> None:
        self._db = db
        self._blobs = blobs
        self._clock = clock

    # -- building ----------------------------------------------------------------------------

    def build(self, filters: DatasetFilter, *, author: str, name: str | None = None) -> BuildResult:
        """The version of every accepted task passing ``filters`` (see the module docstring)."""
        if name is not None and not 0 < len(name) <= MAX_NAME:
            raise InvalidInputError(f"name must be 1-{MAX_NAME} characters, got {len(name)}")
        snapshots, frames = take_snapshot(self._db, filters)
        if not snapshots:
            raise InvalidInputError(
                f"no accepted task matches the filters {filters.as_json() or '{}'} "
                "(gold and hidden-review tasks are never part of a dataset)"
            )
        manifest, data, found = manifest_of(snapshots, frames)
        with self._db.transaction(f"look up dataset {found}") as uow:
            existing = uow.datasets.get(found)
        if existing is not None:
            log.info("dataset %s already exists (%s); nothing stored", found, existing.name)
            return BuildResult(existing, created=False)
        sha = {t.id: t.labels_sha256 for t in manifest.tasks}
        for snap in snapshots:
            payload = {
                "task": snap.task.id,
                "labels_sha256": sha[snap.task.id],
                "labels": content_to_json(snap.content),
            }
            self._blobs.put(labels_key(found, snap.task.id), canonical_json(payload))
        self._blobs.put(manifest_key(found), data)
        record = DatasetVersionRecord(
            digest=found,
            name=name or f"dataset-{found[:12]}",
            created_at=self._clock(),
            created_by=author,
            ontology_version=manifest.ontology_version,
            frame_count=len(manifest.frames),
            task_count=len(manifest.tasks),
            manifest_key=manifest_key(found),
        )
        try:
            with self._db.transaction(f"record dataset {found}") as uow:
                if not uow.datasets.add(record):
                    return BuildResult(uow.datasets.require(found), created=False)
                uow.audit.record(
                    record.created_at,
                    author,
                    "dataset.created",
                    details={"digest": found, "name": record.name, "filters": filters.as_json()},
                )
                store.emit(
                    uow,
                    "dataset.created",
                    {
                        "digest": found,
                        "name": record.name,
                        "frames": record.frame_count,
                        "tasks": record.task_count,
                        "ontology_version": record.ontology_version,
                        "created_by": author,
                    },
                    record.created_at,
                )
        except IntegrityError:
            with self._db.transaction(f"read dataset {found}") as uow:
                return BuildResult(uow.datasets.require(found), created=False)
        log.info(
            "dataset %s (%s): %d frames, %d tasks",
            found,
            record.name,
            record.frame_count,
            record.task_count,
        )
        return BuildResult(record, created=True)

    # -- reading -----------------------------------------------------------------------------

    def get(self, digest_: str) -> DatasetVersionRecord:
        """The version's row; NotFoundError if there is none."""
        with self._db.transaction(f"read dataset {digest_}") as uow:
            return uow.datasets.require(digest_)

    def page(self, *, limit: int, offset: int) -> tuple[list[DatasetVersionRecord], int]:
        with self._db.transaction("list datasets") as uow:
            return uow.datasets.page(limit=limit, offset=offset)

    def _blob(self, key: str, what: str) -> bytes:
        try:
            return self._blobs.get(key)
        except BlobNotFoundError as exc:
            raise StorageError(f"{what}: blob {key!r} is missing from the blob store") from exc

    def manifest_bytes(self, digest_: str) -> bytes:
        """The stored manifest's exact bytes, checked against the digest."""
        record = self.get(digest_)
        data = self._blob(record.manifest_key, f"dataset {digest_}")
        if sha256_hex(data) != digest_:
            raise StorageError(
                f"dataset {digest_}: the stored manifest hashes to {sha256_hex(data)}; the "
                "blob is damaged"
            )
        return data

    def manifest(self, digest_: str) -> Manifest:
        """The version's manifest, checked against its digest."""
        return parse_manifest(self.manifest_bytes(digest_), digest_)

    def check_blobs(self, digest_: str, manifest: Manifest) -> None:
        """StorageError naming the first blob the version needs that is missing (checked before
        an export starts streaming, so a damaged store is an error, not a truncated file)."""
        keys = [labels_key(digest_, t.id) for t in manifest.tasks]
        keys += [f.blob_key for f in manifest.frames]
        for key in keys:
            if not self._blobs.exists(key):
                raise StorageError(f"dataset {digest_}: blob {key!r} is missing")

    def labels(self, digest_: str, task: TaskEntry) -> LabelContent:
        """The accepted labels of one task of the version, checked against their digest."""
        where = f"dataset {digest_} task {task.id}"
        data = self._blob(labels_key(digest_, task.id), where)
        try:
            content = content_from_json(json.loads(data)["labels"])
        except (ValueError, KeyError, TypeError, BackendError) as exc:
            raise StorageError(f"{where}: stored labels are malformed: {exc}") from exc
        if digest(content) != task.labels_sha256:
            raise StorageError(f"{where}: stored labels do not match their digest")
        return content

    def frame_points(self, digest_: str, entry: FrameEntry) -> npt.NDArray[np.float32]:
        """The decoded points (float32 (N, 4), sensor frame) of one frame of the version,
        checked against its frame id (the SHA-256 of the stored payload)."""
        payload = self._blob(entry.blob_key, f"dataset {digest_} frame {entry.id}")
        if sha256_hex(payload) != entry.id:
            raise StorageError(f"dataset {digest_}: frame {entry.id} payload is damaged")
        try:
            return decode_frame(payload, source=f"frame {entry.id}")
        except FormatError as exc:
            raise StorageError(f"dataset {digest_}: {exc}") from exc

    def frames(self, digest_: str, manifest: Manifest) -> Iterator[ExportFrame]:
        """Every frame of the version in manifest order with its points and labels."""
        tasks = {t.id: t for t in manifest.tasks}
        cache: OrderedDict[int, LabelContent] = OrderedDict()
        for entry in manifest.frames:
            if entry.task not in cache:
                cache[entry.task] = self.labels(digest_, tasks[entry.task])
                if len(cache) > LABEL_CACHE:
                    cache.popitem(last=False)
            content = cache[entry.task]
            points = self.frame_points(digest_, entry)
            point_labels = content.points.get(entry.id)
            if point_labels is not None and point_labels.semantic.shape[0] != points.shape[0]:
                raise StorageError(
                    f"dataset {digest_} frame {entry.id}: {point_labels.semantic.shape[0]} point "
                    f"labels for {points.shape[0]} points"
                )
            yield ExportFrame(entry, points, tuple(content.boxes_of(entry.id)), point_labels)
