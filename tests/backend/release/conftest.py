"""Release fixtures: real model packages (copies of the shipped baseline under new versions),
a local blob store, a movable clock and the release services over each database."""

from __future__ import annotations

import itertools
import json
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from agent.perception.package import METADATA_FILE, default_package_path
from backend.config import ReleaseConfig
from backend.ingest.auth import register_vehicle
from backend.metadata.db import make_engine
from backend.metadata.unit_of_work import Database
from backend.release.services import ReleaseServices, build_release
from backend.release.signing import Signer
from backend.storage.base import BlobStore
from backend.storage.local import LocalBlobStore
from core.formats.model_archive import pack_package
from tests.backend.annotation.world import Clock
from tests.backend.release.fake_delivery import DeliveryServer


def make_package(root: Path, version: str) -> Path:
    """A copy of the shipped baseline whose metadata names ``version`` (a new archive)."""
    target = root / version
    shutil.copytree(default_package_path(), target)
    meta_path = target / METADATA_FILE
    meta = json.loads(meta_path.read_text())
    meta["version"] = version
    meta_path.write_text(json.dumps(meta, indent=2) + "\n")
    return target


@dataclass
class ReleaseWorld:
    """The release services over one database, with the pieces tests poke at."""

    db: Database
    blobs: BlobStore
    clock: Clock
    signer: Signer
    packages: Path
    release: ReleaseServices

    def package(self, version: str) -> Path:
        existing = self.packages / version
        return existing if existing.exists() else make_package(self.packages, version)

    def vehicles(self, *names: str) -> None:
        for name in names:
            register_vehicle(self.db, name)

    def reopen(self) -> ReleaseServices:
        """New service objects over the same database and store (a restarted process)."""
        return build_release(self.db, self.blobs, ReleaseConfig(), self.clock, signer=self.signer)


@pytest.fixture
def world(db_url: str, tmp_path: Path) -> Iterator[ReleaseWorld]:
    db = Database(make_engine(db_url))
    blobs = LocalBlobStore(tmp_path / "blobs")
    clock = Clock()
    signer = Signer.generate()
    release = build_release(db, blobs, ReleaseConfig(), clock, signer=signer)
    (tmp_path / "packages").mkdir()
    try:
        yield ReleaseWorld(db, blobs, clock, signer, tmp_path / "packages", release)
    finally:
        db.close()


_RUNS = itertools.count(1)


def record_gate(db: Database, version: str, champion: str, *, passed: bool = True) -> int:
    """A gate verdict on ``version`` against ``champion`` (what a rollout requires); its id."""
    with db.transaction("record a test verdict") as uow:
        return uow.evidence.add_verdict(
            run_id=f"test-run-{next(_RUNS)}",
            at=datetime(2026, 12, 5, tzinfo=UTC),
            model_version=version,
            champion_version=champion,
            dataset_digest="d" * 64,
            suite_version="s" * 64,
            passed=passed,
            summary=f"gate {'PASSED' if passed else 'FAILED'}",
            details={"failed_slices": [] if passed else ["class:stroller"]},
            rows=[],
        )


@pytest.fixture(scope="session")
def release_key() -> Ed25519PrivateKey:
    """The release signing key of the delivery tests (generated; never a key of the repository)."""
    return Ed25519PrivateKey.generate()


@pytest.fixture(scope="session")
def archives(tmp_path_factory: pytest.TempPathFactory) -> dict[str, bytes]:
    """Archives of the baseline package renamed ``v2`` and ``v3``, packed as the registry packs."""
    root = tmp_path_factory.mktemp("packages")
    return {v: pack_package(make_package(root, v)) for v in ("v2", "v3")}


@pytest.fixture
def served(tmp_path: Path) -> Iterator[DeliveryServer]:
    """A backend serving Ingest and ModelUpdates (over a FakeDelivery) on loopback, ``car-1``
    registered."""
    server = DeliveryServer.start(tmp_path / "backend")
    try:
        yield server
    finally:
        server.close()
