"""Dataset versions on SQLite and PostgreSQL: content-addressed manifests stored blob first and
row last, nothing new for the same content, filters, gold never included, a crash between blob
and row healed by the next build, and every digest checked on the way back."""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from backend.annotation import store
from backend.annotation.labels import content_to_json
from backend.datasets.manifest import labels_key, manifest_key, sha256_hex
from backend.datasets.snapshot import DatasetFilter
from backend.datasets.versions import DatasetVersions
from backend.errors import InvalidInputError, NotFoundError, StorageError
from backend.metadata.models import Frame
from backend.storage.base import BlobInfo, BlobStore
from tests.backend.annotation.world import CAR, T0, World
from tests.backend.datasets.conftest import stock, versions_of


def dataset_blobs(world: World) -> dict[str, tuple[int, object]]:
    return {b.key: (b.size, b.modified) for b in world.backend.blobs.list("datasets/")}


def test_a_version_is_content_addressed_and_records_who_did_what(world: World) -> None:
    stocked = stock(world)
    with world.backend.db.transaction("subscribe") as uow:
        uow.webhooks.add("http://127.0.0.1:9/hook", "s" * 32, ["dataset.created"], "boss", T0)
    result = versions_of(world).build(DatasetFilter(), author="boss", name="all of it")
    version = result.version
    assert result.created and version.name == "all of it" and version.created_by == "boss"
    assert (version.frame_count, version.task_count) == (6, 4)
    data = world.backend.blobs.get(manifest_key(version.digest))
    manifest = json.loads(data)
    assert sha256_hex(data) == version.digest
    assert [f["id"] for f in manifest["frames"]] == [
        stocked.frames[k].id for k in ("single", "seq0", "seq1", "seq2", "person", "other")
    ]  # by vehicle, then capture time
    assert [f["index"] for f in manifest["frames"]] == list(range(6))
    assert all(f["blob_key"] == f"frames/{f['id']}" for f in manifest["frames"])
    reviewed = next(t for t in manifest["tasks"] if t["id"] == stocked.reviewed_task)
    assert (reviewed["tier"], reviewed["routing_rule"]) == (2, "people_to_review")
    people = reviewed["provenance"]
    assert [a["user"] for a in people["annotators"]] == ["ann"]
    assert people["edited_by"] == ["ann"]
    assert [(r["reviewer"], r["annotator"], r["decision"]) for r in people["reviews"]] == [
        ("rev", "ann", "approve")
    ]
    assert (
        people["accepted"]["by"] == "rev" and people["accepted"]["reason"] == "approved in review"
    )
    assert manifest["summary"]["boxes_by_class"] == {"car": 4, "pedestrian": 1, "truck": 4}
    for task in manifest["tasks"]:
        stored = json.loads(world.backend.blobs.get(labels_key(version.digest, task["id"])))
        with world.backend.db.transaction("t") as uow:
            accepted = uow.tasks.require(task["id"]).accepted_label_set_id
            assert accepted is not None
            expected = content_to_json(store.content(uow, accepted))
        assert stored["labels"] == expected and stored["labels_sha256"] == task["labels"]["sha256"]
    with world.backend.db.transaction("t") as uow:
        row = uow.datasets.require(version.digest)
        events = [e for e in uow.audit.list(limit=1000) if e.action == "dataset.created"]
        deliveries = [d for d in uow.webhooks.deliveries() if d.event == "dataset.created"]
    assert row == version
    assert events[0].details["filters"] == {} and events[0].actor == "boss"
    assert [d.payload["digest"] for d in deliveries] == [version.digest]


def test_the_same_content_twice_is_the_same_version_and_stores_nothing_new(world: World) -> None:
    stock(world)
    versions = versions_of(world)
    first = versions.build(DatasetFilter(), author="boss")
    stored = dataset_blobs(world)
    world.clock.advance(3600)
    again = versions.build(DatasetFilter(vehicles=("car-1", "car-2")), author="other", name="x")
    assert not again.created and again.version == first.version
    assert dataset_blobs(world) == stored
    with world.backend.db.transaction("t") as uow:
        assert uow.datasets.page()[1] == 1
        assert len([e for e in uow.audit.list(limit=1000) if e.action == "dataset.created"]) == 1


@pytest.mark.parametrize(
    ("filters", "tasks"),
    [
        (DatasetFilter(vehicles=("car-2",)), {"other"}),
        (DatasetFilter(tiers=(2,)), {"person"}),
        (DatasetFilter(tiers=(1,), vehicles=("car-1",)), {"single", "seq1"}),
        (DatasetFilter(classes=("pedestrian",)), {"person"}),
        (DatasetFilter(classes=("truck",)), {"seq1", "other"}),
        (DatasetFilter(classes=("road",)), {"single", "seq1", "person", "other"}),  # points
        (
            DatasetFilter(captured_from_ns=1_764_576_000_000_000_000 + 20 * 10**9),
            {"seq1", "person", "other"},
        ),
        (DatasetFilter(captured_to_ns=1_764_576_000_000_000_000 + 20 * 10**9), {"single"}),
        (DatasetFilter(accepted_from=T0 + timedelta(seconds=60)), {"person"}),
        (DatasetFilter(accepted_to=T0 + timedelta(seconds=60)), {"single", "seq1", "other"}),
    ],
)
def test_filters_select_tasks(world: World, filters: DatasetFilter, tasks: set[str]) -> None:
    stocked = stock(world)
    versions = versions_of(world)
    version = versions.build(filters, author="boss").version
    manifest = versions.manifest(version.digest)
    with world.backend.db.transaction("t") as uow:
        key_of = {t.id: t.key_frame_id for t in uow.tasks.all()}
    names = {k for k, f in stocked.frames.items() if f.id in {key_of[t.id] for t in manifest.tasks}}
    assert names == tasks


def test_gold_and_hidden_review_tasks_are_never_included(world: World) -> None:
    stocked = stock(world)
    versions = versions_of(world)
    before = versions.build(DatasetFilter(), author="boss").version
    gold = world.backend.annotation.gold
    made = gold.create(
        [stocked.frames["single"].id], {"boxes": []}, calibration=False, author="boss"
    )
    promoted = gold.promote(stocked.reviewed_task, calibration=True, author="boss")
    with world.backend.db.transaction("t") as uow:  # a gold task that somehow got accepted
        uow.tasks.update(
            made.id, world.clock(), stage="accepted", accepted_label_set_id=made.gold_label_set_id
        )
    after = versions.build(DatasetFilter(), author="boss")
    assert not after.created and after.version.digest == before.digest
    ids = {t.id for t in versions.manifest(before.digest).tasks}
    assert made.id not in ids and promoted.id not in ids


@pytest.mark.parametrize(
    ("filters", "name", "message"),
    [
        (
            DatasetFilter(classes=("unicorn",)),
            None,
            "classes: 'unicorn' is not a class of ontology v1",
        ),
        (DatasetFilter(tiers=(4,)), None, "tiers: 4 is not a tier"),
        (
            DatasetFilter(captured_from_ns=5, captured_to_ns=5),
            None,
            "captured_from_ns 5 must be before",
        ),
        (DatasetFilter(accepted_from=T0, accepted_to=T0), None, "accepted_from .* must be before"),
        (
            DatasetFilter(vehicles=("car-9",)),
            None,
            r"no accepted task matches the filters \{'vehicles': \('car-9',\)\}",
        ),
        (DatasetFilter(), "x" * 129, "name must be 1-128 characters"),
    ],
)
def test_bad_filters_are_refused_by_name_and_store_nothing(
    world: World, filters: DatasetFilter, name: str | None, message: str
) -> None:
    stock(world)
    with pytest.raises(InvalidInputError, match=message):
        versions_of(world).build(filters, author="boss", name=name)
    assert dataset_blobs(world) == {}
    with world.backend.db.transaction("t") as uow:
        assert uow.datasets.page() == ([], 0)


class FailingManifestStore(BlobStore):
    """A blob store that dies when the manifest is written (the labels are already stored)."""

    def __init__(self, inner: BlobStore) -> None:
        self.inner = inner

    def put(self, key: str, data: bytes) -> None:
        if key.endswith("manifest.json"):
            raise StorageError("disk gone", retryable=True)
        self.inner.put(key, data)

    def get(self, key: str) -> bytes:
        return self.inner.get(key)

    def exists(self, key: str) -> bool:
        return self.inner.exists(key)

    def delete(self, key: str) -> None:
        self.inner.delete(key)

    def list(self, prefix: str = "") -> Iterator[BlobInfo]:
        return self.inner.list(prefix)


def test_a_crash_between_blobs_and_row_leaves_no_row_and_the_next_build_heals(world: World) -> None:
    stock(world)
    broken = DatasetVersions(
        world.backend.db, FailingManifestStore(world.backend.blobs), world.clock
    )
    with pytest.raises(StorageError, match="disk gone"):
        broken.build(DatasetFilter(), author="boss")
    with world.backend.db.transaction("t") as uow:
        assert uow.datasets.page() == ([], 0)
    assert dataset_blobs(world)  # the labels went first; no manifest, no row
    healed = versions_of(world).build(DatasetFilter(), author="boss")
    assert healed.created
    assert versions_of(world).manifest(healed.version.digest).frames


def test_reading_back_checks_every_digest(world: World) -> None:
    stock(world)
    versions = versions_of(world)
    digest = versions.build(DatasetFilter(), author="boss").version.digest
    manifest = versions.manifest(digest)
    frames = list(versions.frames(digest, manifest))
    assert [f.entry.id for f in frames] == [f.id for f in manifest.frames]
    for frame in frames:
        assert frame.points.shape == (frame.entry.num_points, 4)
        assert (
            frame.point_labels is not None
            and frame.point_labels.semantic.shape[0] == frame.entry.num_points
        )
        assert all(b.frame_id == frame.entry.id for b in frame.boxes)
    assert sum(len(f.boxes) for f in frames) == manifest.summary["boxes"]

    blobs = world.backend.blobs
    task = manifest.tasks[0]
    key = labels_key(digest, task.id)
    original = blobs.get(key)
    tampered = json.loads(original)
    tampered["labels"]["boxes"][0]["box"][0] += 1.0
    blobs.put(key, json.dumps(tampered).encode())
    with pytest.raises(
        StorageError, match=f"task {task.id}: stored labels do not match their digest"
    ):
        versions.labels(digest, task)
    blobs.put(key, original)
    blobs.delete(manifest.frames[-1].blob_key)
    with pytest.raises(StorageError, match=f"blob 'frames/{manifest.frames[-1].id}' is missing"):
        versions.check_blobs(digest, manifest)
    blobs.put(manifest_key(digest), blobs.get(manifest_key(digest)) + b" ")
    with pytest.raises(StorageError, match="the stored manifest hashes to"):
        versions.manifest(digest)
    with pytest.raises(NotFoundError, match="no dataset version"):
        versions.manifest("0" * 64)


def test_a_frame_with_a_non_finite_pose_still_builds_and_exports(tmp_path: Path) -> None:
    """Ingest does not refuse a NaN pose (SQLite's JSON keeps it): the manifest leaves the
    component out and the exports write 0 for it."""
    from backend.datasets.exports import FORMATS, export_zip
    from tests.backend.annotation.world import make_world
    from tests.backend.datasets.conftest import RULES

    world = make_world(tmp_path, rules=RULES)
    try:
        frame = world.store_frame(seed=1, detections=[("car", 0.9, CAR)])
        with world.backend.db.transaction("t") as uow:
            row = uow.session.get(Frame, frame.id)
            assert row is not None
            row.pose = {**row.pose, "yaw": math.nan}
        world.backend.annotation.builder.sync()
        versions = versions_of(world)
        digest = versions.build(DatasetFilter(), author="boss").version.digest
        (entry,) = versions.manifest(digest).frames
        assert set(entry.pose) == {"x", "y", "z", "roll", "pitch"}
        for fmt in FORMATS:
            assert b"".join(export_zip(versions, digest, fmt))
    finally:
        world.backend.close()
