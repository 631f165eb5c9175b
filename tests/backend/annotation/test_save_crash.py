"""Label saves at every crash point, SQLite included (tests/fixtures/crash): the database file
lies in the recorded directory and a program doing two saves runs under the system-call
recorder, so each crash state is a real SQLite file, write-ahead log and all, opened by SQLite.

In every state, after a process crash and after a power loss: the revisions stored before are
all there with their content; each save is either wholly there -- its revision readable and its
content hashing to the digest the finished run stored, its audit record beside it, the label
set's version pointing at it -- or wholly absent; and a save that returned is there."""

from __future__ import annotations

import json
from pathlib import Path

from backend.annotation import store
from backend.annotation.labels import content_to_json, digest
from backend.metadata.db import make_engine
from backend.metadata.unit_of_work import Database
from tests.backend.annotation.world import CAR, PEDESTRIAN, make_world
from tests.fixtures.crash import CrashState, check_every_crash
from tests.fixtures.crash.syscalls import python_argv, record_process


def _stored(data_dir: Path, label_set: int) -> tuple[int, dict[int, str], dict[int, int]]:
    """The label set's version, each revision's digest (checked against its content) and the
    number of ``labels.saved`` audit records per version."""
    db = Database(make_engine(f"sqlite:///{data_dir / 'longtail.db'}"))
    try:
        with db.transaction("read the label set") as uow:
            record = uow.label_sets.require(label_set)
            digests: dict[int, str] = {}
            for revision in uow.label_sets.revisions(label_set):
                content = store.content(uow, label_set, revision.version)
                assert digest(content) == revision.digest, f"revision {revision.version} is torn"
                digests[revision.version] = revision.digest
            audits: dict[int, int] = {}
            for event in uow.audit.list(task_id=record.task_id, limit=10_000):
                if event.action == "labels.saved" and event.label_set_id == label_set:
                    assert event.version is not None
                    audits[event.version] = audits.get(event.version, 0) + 1
            return record.version, digests, audits
    finally:
        db.close()


def test_label_saves_survive_every_crash_of_sqlite(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    world = make_world(data_dir)
    try:
        world.person("ann", "annotator")
        world.store_frame(seed=1, detections=[("car", 0.9, CAR), ("pedestrian", 0.8, PEDESTRIAN)])
        services = world.backend.annotation
        services.builder.sync()
        ann = world.who("ann")
        lease = services.queue.next(ann, "annotate")
        view = services.editor.view(ann, lease.assignment.id)
        assert view.working is not None and view.prelabels is not None
        label_set = view.working.id
        first = content_to_json(view.prelabels.content)
        before = services.editor.save(
            ann, lease.assignment.id, view.working.version, first, draft=True
        )
        moved = json.loads(json.dumps(first))
        moved["boxes"][0]["box"][0] += 0.5
        fewer = json.loads(json.dumps(moved))
        fewer["boxes"] = fewer["boxes"][:1]
        spec = {
            "token": world.tokens["ann"],
            "assignment": lease.assignment.id,
            "base": before,
            "bodies": [moved, fewer],
            "now": world.clock().isoformat(),
        }
    finally:
        world.backend.close()
    _, kept, _ = _stored(data_dir, label_set)  # what the state on entry holds (durable)
    spec_path = tmp_path / "spec.json"
    spec_path.write_text(json.dumps(spec))

    trace = record_process(
        data_dir,
        python_argv("tests.backend.recorded_writes", "save", str(data_dir), str(spec_path)),
    )
    final_version, final, _ = _stored(data_dir, label_set)
    assert final_version == before + 2 and set(final) == set(kept) | {before + 1, before + 2}

    def check(state: CrashState) -> None:
        version, digests, audits = _stored(state.root, label_set)
        for v, d in kept.items():
            assert digests.get(v) == d, f"revision {v}, stored before the saves, was lost"
        assert sorted(digests) == list(range(1, version + 1)), "the version skips a revision"
        for v in (before + 1, before + 2):
            if state.happened(f"saved {v}"):
                assert v in digests, f"save {v} returned but its revision is gone"
            if v in digests:
                assert digests[v] == final[v], f"revision {v} holds other content"
                assert audits.get(v) == 1, f"revision {v} without its audit record"
            else:
                assert v not in audits, f"audit record of save {v} without its revision"

    report = check_every_crash(trace, check, tmp_path / "states")
    assert report.calls >= 40  # the WAL appends, fsyncs and the checkpoint were all recorded
