"""A dataset version build at every crash point (tests/fixtures/crash), SQLite and blob store in
one recorded directory: a program building a version runs under the system-call recorder, and
each crash state -- a real SQLite file and a real blob directory -- is opened by the backend.

In every state, after a process crash and after a power loss: every version the database lists
is whole -- its manifest hashes to its digest, each task's labels blob matches the digest the
manifest holds, each frame payload hashes to its id -- so an immutable version is never visible
with a missing or torn blob; the version stored before the build is untouched; a build that
returned is there; and a version's audit record and ``dataset.created`` event exist exactly when
its row does."""

from __future__ import annotations

import json
from pathlib import Path

from backend.datasets.snapshot import DatasetFilter
from backend.datasets.versions import DatasetVersions
from backend.metadata.db import make_engine
from backend.metadata.unit_of_work import Database
from backend.storage.local import LocalBlobStore
from tests.backend.annotation.world import T0, make_world
from tests.backend.datasets.conftest import RULES, stock
from tests.fixtures.crash import CrashState, check_every_crash
from tests.fixtures.crash.syscalls import python_argv, record_process


def _versions(data_dir: Path) -> dict[str, bytes]:
    """Every version the database lists, with its manifest bytes, each checked whole (every
    blob it names present and matching its digest); asserts audit and event match the rows."""
    db = Database(make_engine(f"sqlite:///{data_dir / 'longtail.db'}"))
    try:
        versions = DatasetVersions(db, LocalBlobStore(data_dir / "blobs"), lambda: T0)
        rows, _ = versions.page(limit=1000, offset=0)
        found: dict[str, bytes] = {}
        for row in rows:
            manifest = versions.manifest(row.digest)
            versions.check_blobs(row.digest, manifest)
            assert sum(1 for _ in versions.frames(row.digest, manifest)) == row.frame_count
            found[row.digest] = versions.manifest_bytes(row.digest)
        with db.transaction("read the audit log") as uow:
            audited = {
                str(e.details["digest"])
                for e in uow.audit.list(limit=10_000)
                if e.action == "dataset.created"
            }
            events = {
                str(w.payload["digest"])
                for w in uow.webhooks.deliveries()
                if w.event == "dataset.created"
            }
        assert audited == set(found), f"audit {sorted(audited)} vs rows {sorted(found)}"
        assert events == set(found), f"events {sorted(events)} vs rows {sorted(found)}"
        return found
    finally:
        db.close()


def test_a_dataset_version_survives_every_crash(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    world = make_world(data_dir, rules=RULES)
    try:
        stock(world)
        with world.backend.db.transaction("subscribe") as uow:
            uow.webhooks.add("http://127.0.0.1:9/hook", "s3cret", ["dataset.created"], "ann", T0)
        earlier = DatasetVersions(world.backend.db, world.backend.blobs, world.clock).build(
            DatasetFilter(vehicles=("car-2",)), author="ann", name="earlier"
        )
        spec = {"vehicles": ["car-1"], "name": "recorded", "now": world.clock().isoformat()}
    finally:
        world.backend.close()
    kept = _versions(data_dir)
    assert set(kept) == {earlier.version.digest}
    spec_path = tmp_path / "spec.json"
    spec_path.write_text(json.dumps(spec))

    trace = record_process(
        data_dir,
        python_argv("tests.backend.recorded_writes", "version", str(data_dir), str(spec_path)),
    )
    final = _versions(data_dir)
    (built,) = set(final) - set(kept)

    def check(state: CrashState) -> None:
        found = _versions(state.root)
        assert found.get(earlier.version.digest) == kept[earlier.version.digest]
        assert set(found) <= {earlier.version.digest, built}
        if state.happened(f"built {built}"):
            assert built in found, "the build returned but its version is gone"

    report = check_every_crash(trace, check, tmp_path / "states")
    assert report.calls >= 40
