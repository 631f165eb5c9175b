"""The model registry on SQLite and PostgreSQL: signed archives in the blob store first, rows
second; idempotent registration; aliases and promotion."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from backend.errors import ConflictError, InvalidInputError, NotFoundError, StorageError
from backend.metadata.repositories.model_versions import ModelVersionRecord
from backend.release.registry import (
    CANDIDATE,
    CHAMPION,
    PREVIOUS,
    ModelRegistry,
    archive_key,
    register_baseline,
)
from backend.storage.base import BlobInfo, BlobStore
from core.formats.model_archive import archive_digest, pack_package, read_members, verify_archive
from tests.backend.release.conftest import ReleaseWorld


def register(
    registry: ModelRegistry, package: Path, parent: str | None = None
) -> ModelVersionRecord:
    return registry.register(
        package,
        run_id="run-1",
        dataset_digest="a" * 64,
        parent_version=parent,
        metrics={"recall": 0.8},
        actor="trainer",
    )


def test_register_stores_a_signed_archive_the_vehicle_can_verify(world: ReleaseWorld) -> None:
    registry = world.release.registry
    package = world.package("m-1")
    record = registry.register(
        package, run_id="run-1", dataset_digest="a" * 64, parent_version=None, metrics={"ap": 0.5}
    )
    data = pack_package(package)
    assert record.version == "m-1" and record.digest == archive_digest(data)
    assert record.size == len(data) and record.blob_key == archive_key("m-1", record.digest)
    assert record.blob_key == f"models/m-1/{record.digest}.tar"
    assert world.blobs.get(record.blob_key) == data
    assert verify_archive(data, record.signature, world.signer.public_key) == record.digest
    assert registry.open_archive("m-1") == data
    assert registry.get("m-1") == record and registry.list() == [record]
    assert read_members(data).keys() == {p.name for p in package.iterdir()}
    assert registry.package_metadata("m-1")["version"] == "m-1"


def test_registering_the_same_content_again_returns_the_stored_row(world: ReleaseWorld) -> None:
    registry = world.release.registry
    first = register(registry, world.package("m-1"))
    world.clock.advance(60)
    assert register(registry, world.package("m-1")) == first
    assert len(registry.list()) == 1


def test_another_content_under_a_registered_version_is_a_conflict(
    world: ReleaseWorld, tmp_path: Path
) -> None:
    registry = world.release.registry
    register(registry, world.package("m-1"))
    other = world.package("m-1")
    (other / "scoring.npz").unlink()
    with pytest.raises(ConflictError, match="m-1 is registered with archive"):
        register(registry, other)


def test_bad_inputs_are_refused_before_anything_is_stored(world: ReleaseWorld) -> None:
    registry = world.release.registry
    with pytest.raises(NotFoundError, match="no model version 'nowhere'"):
        register(registry, world.package("m-1"), parent="nowhere")
    with pytest.raises(InvalidInputError, match="dataset digest"):
        registry.register(
            world.package("m-2"), run_id=None, dataset_digest="x", parent_version=None, metrics={}
        )
    with pytest.raises(InvalidInputError, match="not finite JSON"):
        registry.register(
            world.package("m-2"),
            run_id=None,
            dataset_digest=None,
            parent_version=None,
            metrics={"ap": float("nan")},
        )
    assert registry.list() == [] and list(world.blobs.list("models/")) == []


class CrashAfterPut(BlobStore):
    """Stores the blob durably, then fails as a process killed right after the put would."""

    def __init__(self, inner: BlobStore) -> None:
        self.inner = inner
        self.armed = True

    def put(self, key: str, data: bytes) -> None:
        self.inner.put(key, data)
        if self.armed:
            self.armed = False
            raise StorageError(f"killed after storing {key}")

    def get(self, key: str) -> bytes:
        return self.inner.get(key)

    def exists(self, key: str) -> bool:
        return self.inner.exists(key)

    def delete(self, key: str) -> None:
        self.inner.delete(key)

    def list(self, prefix: str = "") -> Iterator[BlobInfo]:
        return self.inner.list(prefix)


def test_a_crash_between_blob_and_row_leaves_no_model_and_a_retry_registers(
    world: ReleaseWorld,
) -> None:
    blobs = CrashAfterPut(world.blobs)
    registry = ModelRegistry(world.db, blobs, world.signer, world.clock)
    with pytest.raises(StorageError, match="killed after storing models/m-1/"):
        register(registry, world.package("m-1"))
    assert registry.list() == []
    with pytest.raises(NotFoundError):
        registry.get("m-1")
    orphans: list[BlobInfo] = list(world.blobs.list("models/"))
    assert len(orphans) == 1  # the orphan blob, not a half-registered model
    record = register(registry, world.package("m-1"))
    assert registry.list() == [record]
    assert registry.open_archive("m-1") == world.blobs.get(orphans[0].key)


def test_a_damaged_stored_archive_is_never_served(world: ReleaseWorld) -> None:
    registry = world.release.registry
    record = register(registry, world.package("m-1"))
    data = bytearray(world.blobs.get(record.blob_key))
    data[1000] ^= 0xFF
    world.blobs.put(record.blob_key, bytes(data))
    with pytest.raises(StorageError, match=f"damaged.*expected {record.digest}"):
        registry.open_archive("m-1")


def test_promotion_moves_champion_to_previous_in_one_audited_step(world: ReleaseWorld) -> None:
    registry = world.release.registry
    base = register_baseline(registry)
    assert registry.alias(CHAMPION) == base and registry.alias(PREVIOUS) is None
    assert register_baseline(registry) == base  # idempotent
    m1 = register(registry, world.package("m-1"), parent=base.version)
    registry.set_alias(CANDIDATE, "m-1", actor="lead")
    assert registry.alias(CANDIDATE) == m1
    assert registry.promote("m-1", actor="lead", note="gate passed") == base.version
    assert registry.alias(CHAMPION) == m1 and registry.alias(PREVIOUS) == base
    assert registry.alias(CANDIDATE) is None
    with pytest.raises(ConflictError, match="already the champion"):
        registry.promote("m-1")
    with pytest.raises(InvalidInputError, match="alias 'stable'"):
        registry.alias("stable")
    with pytest.raises(NotFoundError):
        registry.promote("m-9")
    with world.db.transaction("read audit") as uow:
        events = [e for e in uow.audit.list() if e.action == "model.promote"]
    assert [e.details for e in events] == [
        {"version": base.version, "previous": None},
        {"version": "m-1", "previous": base.version},
    ]
    assert events[-1].actor == "lead" and events[-1].note == "gate passed"
