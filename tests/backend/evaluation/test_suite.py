"""The edge-case suite: slice membership on crafted labels, manifest determinism, versions that
ignore where the suite lives, refusal of changed frames and manifests, digests for training."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from backend.errors import EvaluationError
from backend.evaluation.slices import SliceSpec, facts_of, focus_mask, memberships
from backend.evaluation.suite import (
    build_suite,
    load_suite,
    points_digest,
    read_frames,
    suite_digests,
    write_suite,
)
from core.formats.dataset import DatasetWriter, FrameLabels, ObjectLabel


def obj(cls: str, x: float, y: float, points: int, track: int = 1) -> ObjectLabel:
    return ObjectLabel(cls, track, (x, y, -0.9, 1.0, 1.0, 1.0, 0.0), points)


def write_dataset(
    root: Path, frames: list[list[ObjectLabel]], *, weather: str, beams: int, seed: int
) -> Path:
    writer = DatasetWriter(root)
    rng = np.random.default_rng(seed)
    for i, objects in enumerate(frames):
        points = rng.uniform(-50, 50, (500, 4)).astype(np.float32)
        points[:, 3] = rng.random(500)
        writer.write_frame(points, FrameLabels(i, i * 100_000_000, (0.0,) * 6, tuple(objects)))
    writer.write_meta(
        {
            "seed": seed,
            "scenario_name": f"crafted-{weather}",
            "scenario": {"weather": weather},
            "sensor": {"beams": beams},
        }
    )
    return root


CRAFTED = [
    [obj("car", 10.0, 0.0, 300), obj("deer", 25.0, 3.0, 12)],  # deer, 0-20, 20-40, occluded
    [obj("pedestrian", 45.0, 0.0, 60)],  # 40-70 only
    [obj("car", 90.0, 0.0, 8)],  # beyond 70 m: no band, no occlusion
    [],  # empty frame: only the conditions
]


def test_slice_membership_on_crafted_labels(tmp_path: Path) -> None:
    clear = write_dataset(tmp_path / "clear", CRAFTED, weather="clear", beams=64, seed=1)
    rain = write_dataset(tmp_path / "rain", CRAFTED[:2], weather="rain", beams=32, seed=2)
    suite = build_suite([clear, rain], tmp_path)
    got = {(f.source, f.index): set(f.slices) for f in suite.frames}
    assert got[("clear", 0)] == {
        "all",
        "class:deer",
        "distance:0-20m",
        "distance:20-40m",
        "occlusion",
    }
    assert got[("clear", 1)] == {"all", "distance:40-70m"}
    assert got[("clear", 2)] == {"all"}
    assert got[("clear", 3)] == {"all"}
    assert got[("rain", 0)] == got[("clear", 0)] | {"weather:rain", "sparse"}
    assert got[("rain", 1)] == {"all", "distance:40-70m", "weather:rain", "sparse"}
    counts = suite.slice_counts()
    assert counts["class:deer"] == 2 and counts["class:dog"] == 0 and counts["all"] == 6


def test_focus_is_the_objects_the_slice_is_about() -> None:
    spec = SliceSpec()
    labels = [obj("car", 10.0, 0.0, 300), obj("deer", 25.0, 3.0, 12), obj("dog", 80.0, 0, 6)]
    facts = facts_of(
        [o.class_name for o in labels],
        np.array([o.box for o in labels]),
        [o.num_points for o in labels],
        "fog",
        None,
    )
    assert focus_mask(spec, "class:deer", facts).tolist() == [False, True, False]
    assert focus_mask(spec, "occlusion", facts).tolist() == [False, True, False]
    assert focus_mask(spec, "weather:fog", facts).tolist() == [True, True, False]
    assert "sparse" not in memberships(spec, facts)  # unknown beam count: not sparse
    with pytest.raises(KeyError, match="unknown slice"):
        focus_mask(spec, "class", facts)


def test_manifest_is_deterministic_and_its_version_ignores_the_location(tmp_path: Path) -> None:
    data = write_dataset(tmp_path / "a" / "drive", CRAFTED, weather="clear", beams=64, seed=3)
    first = write_suite(build_suite([data], tmp_path / "a"), tmp_path / "a" / "suite.json")
    again = write_suite(build_suite([data], tmp_path / "a"), tmp_path / "a" / "again.json")
    assert first.read_bytes() == again.read_bytes()
    shutil.copytree(tmp_path / "a" / "drive", tmp_path / "elsewhere" / "deep" / "drive")
    moved = build_suite([tmp_path / "elsewhere" / "deep" / "drive"], tmp_path / "elsewhere")
    loaded = load_suite(first)
    assert moved.version == loaded.version == json.loads(first.read_text())["version"]
    assert moved.locations == {"drive": "deep/drive"}
    # different slice settings are a different suite
    other = build_suite([data], tmp_path / "a", spec=SliceSpec(occlusion_max_points=5))
    assert other.version != loaded.version


def test_changed_manifests_and_frames_are_refused(tmp_path: Path) -> None:
    data = write_dataset(tmp_path / "drive", CRAFTED, weather="clear", beams=64, seed=4)
    path = write_suite(build_suite([data], tmp_path), tmp_path)
    suite = load_suite(tmp_path)
    assert len(list(read_frames(suite))) == 4
    manifest = json.loads(path.read_text())
    manifest["content"]["frames"][0]["slices"].append("class:dog")
    path.write_text(json.dumps(manifest))
    with pytest.raises(EvaluationError, match="does not match the content"):
        load_suite(path)
    points = np.fromfile(data / "velodyne" / "000001.bin", dtype=np.float32)
    points[0] += 1.0
    points.tofile(data / "velodyne" / "000001.bin")
    with pytest.raises(EvaluationError, match="drive/1: points"):
        list(read_frames(suite))


def test_suite_digests_are_the_point_digests_and_duplicates_are_refused(tmp_path: Path) -> None:
    data = write_dataset(tmp_path / "drive", CRAFTED, weather="clear", beams=64, seed=5)
    suite = build_suite([data], tmp_path)
    want = {points_digest(p) for _, p, _ in read_frames(suite)}
    assert suite_digests(suite) == want and len(want) == 4
    write_suite(suite, tmp_path)
    assert suite_digests(tmp_path / "suite.json") == want
    shutil.copytree(data, tmp_path / "copy")
    with pytest.raises(EvaluationError, match="is the same frame as drive/0"):
        build_suite([data, tmp_path / "copy"], tmp_path)
    with pytest.raises(EvaluationError, match="stride"):
        build_suite([data], tmp_path, stride=0)
