"""Weak labels of the pool on SQLite and PostgreSQL: only frames no task holds, cut into drives
by vehicle and time, labelled once per pool and champion, a damaged blob left out."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from backend.metadata.records import FrameRecord
from backend.training.weak.labeller import WeakSettings
from backend.training.weak.pool import DONE_FILE, label_pool, pool_drives
from tests.backend.annotation.world import CAR, PEDESTRIAN, World, make_world


@pytest.fixture
def world(db_url: str, tmp_path: Path) -> Iterator[World]:
    w = make_world(tmp_path, db_url)
    try:
        yield w
    finally:
        w.backend.close()


def _store(world: World, n: int, t0: float, vehicle: str, seed: int) -> list[FrameRecord]:
    return [
        world.store_frame(
            seed=seed + i,
            t_s=t0 + 0.1 * i,
            vehicle=vehicle,
            detections=[("car", 0.9, CAR), ("pedestrian", 0.9, PEDESTRIAN)],
        )
        for i in range(n)
    ]


def test_only_frames_no_task_holds_are_weakly_labelled(
    world: World, tiny_package: Path, tmp_path: Path
) -> None:
    tasked = _store(world, 2, 0.0, "car-1", seed=1)
    world.backend.annotation.builder.sync()  # tasks for the frames stored so far
    with world.backend.db.transaction("t") as uow:
        held = {r.id for r in tasked if uow.tasks.tasks_of_frame(r.id)}
    assert held, "the builder made no task; the test needs tasked frames"
    pool = _store(world, 4, 100.0, "car-1", seed=10) + _store(world, 3, 100.0, "car-2", seed=20)
    with world.backend.db.transaction("t") as uow:
        unlabelled = uow.frames.unlabelled(limit=100)
    assert {r.id for r in unlabelled} == {r.id for r in pool} | ({r.id for r in tasked} - held)
    assert [r.vehicle for r in unlabelled] == sorted(r.vehicle for r in unlabelled)
    with world.backend.db.transaction("t") as uow:
        assert len(uow.frames.unlabelled(limit=3)) == 3

    # one damaged blob: that frame is left out, the others labelled
    world.backend.blobs.put(pool[1].blob_key, b"not a frame")
    out = tmp_path / "weak"
    labels = label_pool(
        world.backend.db,
        world.backend.blobs,
        tiny_package,
        out,
        WeakSettings(),
        max_frames=100,
        providers=["CPUExecutionProvider"],
    )
    report = labels.report
    assert report["pool_frames"] == len(unlabelled) and report["damaged_frames"] == 1
    assert report["frames"] == len(unlabelled) - 1
    labelled = {
        key.removeprefix("frame:")
        for s in labels.sources
        for key in json.loads((s.root / "meta.json").read_text())["weak_labels"]["sources"]
    }
    assert labelled <= {r.id for r in unlabelled} - {pool[1].id}
    assert labelled and not labelled & held
    # the same pool and champion: the written labels are reused, not made again
    done = labels.directory / DONE_FILE
    stamp = done.stat().st_mtime_ns
    again = label_pool(
        world.backend.db, world.backend.blobs, tiny_package, out, WeakSettings(), max_frames=100
    )
    assert again.directory == labels.directory and done.stat().st_mtime_ns == stamp
    assert [s.digest for s in again.sources] == [s.digest for s in labels.sources]


def test_pool_drives_cut_by_vehicle_and_gap(world: World) -> None:
    a = _store(world, 3, 0.0, "car-1", seed=1)
    b = _store(world, 2, 60.0, "car-1", seed=5)  # a minute later: another drive
    c = _store(world, 2, 0.05, "car-2", seed=9)  # same time, another vehicle
    drives = pool_drives([*b, *c, *a], gap_s=10.0)
    assert [[r.id for r in d] for d in drives] == [
        [r.id for r in a],
        [r.id for r in c],
        [r.id for r in b],
    ]
