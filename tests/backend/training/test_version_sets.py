"""A training set from a real dataset version (SQLite and PostgreSQL, local blob store):
events stay on one side, frames keep their identity, the suite is refused."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from backend.datasets.snapshot import DatasetFilter
from backend.errors import SuiteLeakError
from backend.evaluation.suite import points_digest
from backend.training.sets import SetConfig, build_set
from backend.training.sources import DriveSource, VersionSource
from core.formats.dataset import Dataset
from tests.backend.annotation.world import World, make_world
from tests.backend.datasets.conftest import RULES, stock, versions_of


@pytest.fixture
def world(db_url: str, tmp_path: Path) -> Iterator[World]:
    w = make_world(tmp_path, db_url, rules=RULES)
    try:
        yield w
    finally:
        w.backend.close()


def test_version_frames_become_a_set_split_by_event(
    world: World, drives: dict[str, Path], tmp_path: Path
) -> None:
    stocked = stock(world)
    versions = versions_of(world)
    version = versions.build(DatasetFilter(), author="boss").version
    source = VersionSource(versions, version.digest)
    frames = source.frames()
    assert {f.id for f in frames} == {r.id for r in stocked.frames.values()}
    # the three-frame sequence (30.0 .. 30.2 s on car-1) is one event, car-2's frame another
    group = {f.id: f.group for f in frames}
    seq = {group[stocked.frames[k].id] for k in ("seq0", "seq1", "seq2")}
    assert len(seq) == 1
    assert group[stocked.frames["other"].id] not in seq
    ts = build_set(
        tmp_path, [source], [DriveSource(drives["old"])], SetConfig(val_share=0.5, seed=3)
    )
    placed = {f["id"]: g["split"] for g in ts.manifest["groups"] for f in g["frames"]}
    points = {f["points_sha256"] for g in ts.manifest["groups"] for f in g["frames"]}
    assert len({placed[stocked.frames[k].id] for k in ("seq0", "seq1", "seq2")}) == 1
    # the written points are the stored frame's points bit for bit
    for d in ts.dirs("train") + ts.dirs("val"):
        ds = Dataset(d)
        for i in ds.indices:
            assert points_digest(ds.points(i)) in points
    assert ts.manifest["sources"][0]["digest"] == version.digest
    person = stocked.frames["person"].id
    with pytest.raises(SuiteLeakError, match=person):
        build_set(tmp_path / "x", [source], forbidden={person})
    # the suite names its frames by their points: the same frame is refused by that digest too
    manifest = versions.manifest(version.digest)
    entry = next(e for e in manifest.frames if e.id == person)
    suite_id = points_digest(versions.frame_points(version.digest, entry))
    with pytest.raises(SuiteLeakError, match=suite_id):
        build_set(tmp_path / "y", [source], forbidden={suite_id}, suite="suite v1")
    assert not (tmp_path / "x").exists() and not (tmp_path / "y").exists()
