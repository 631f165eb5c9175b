"""Training sets: group splits, suite refusal, replay share, oversampling, idempotence."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from backend.datasets.manifest import FrameEntry
from backend.errors import SuiteLeakError, TrainingError
from backend.training.sets import (
    MANIFEST_FILE,
    SetConfig,
    TrainingSet,
    build_set,
    focus_repeat,
    split_groups,
)
from backend.training.sources import DriveSource, event_groups
from core.formats.dataset import Dataset


def _sources(drives: dict[str, Path]) -> tuple[list[DriveSource], list[DriveSource]]:
    return [DriveSource(drives[k]) for k in "abc"], [DriveSource(drives["old"])]


def test_groups_never_straddle_a_split(drives: dict[str, Path], tmp_path: Path) -> None:
    new, replay = _sources(drives)
    ts = build_set(tmp_path, new, replay, SetConfig(val_share=0.3, replay_share=0.4))
    side: dict[str, str] = {}
    for group in ts.manifest["groups"]:
        for frame in group["frames"]:
            # a frame (and so its drive) appears once, on one side
            assert side.setdefault(frame["id"], group["split"]) == group["split"]
    for source in (*new, *replay):
        sides = {side[f.id] for f in source.frames() if f.id in side}
        assert len(sides) <= 1, f"{source.name} on both sides: {sides}"
    assert ts.dirs("val") and ts.dirs("train")
    # every group is a dataset directory the training code reads, with its labels
    for d in ts.dirs("train") + ts.dirs("val"):
        assert all(Dataset(d).has_labels(i) for i in Dataset(d).indices)


def test_one_new_event_and_one_replayed_drive_still_give_a_validation_split(
    drives: dict[str, Path], tmp_path: Path
) -> None:
    # each kind alone has one group and cannot be split; the set validates across kinds
    ts = build_set(tmp_path, [DriveSource(drives["a"])], [DriveSource(drives["old"])], SetConfig())
    kinds = {g["split"]: g["kind"] for g in ts.manifest["groups"]}
    assert set(kinds) == {"train", "val"} and len(ts.manifest["groups"]) == 2


def test_event_groups_join_tasks_and_close_frames() -> None:
    def entry(i: int, vehicle: str, t_s: float, task: int) -> FrameEntry:
        return FrameEntry(i, f"f{i}", f"frames/f{i}", 1, 1, vehicle, int(t_s * 1e9), {}, "s", task)

    entries = [
        entry(0, "car-1", 0.0, 1),
        entry(1, "car-1", 5.0, 2),  # 5 s after frame 0: same event
        entry(2, "car-1", 100.0, 3),  # alone
        entry(3, "car-2", 100.1, 4),  # close in time but another vehicle
        entry(4, "car-1", 500.0, 3),  # far in time but the task of frame 2
    ]
    g = event_groups(entries, gap_ns=int(10e9))
    assert g[0] == g[1]
    assert g[2] == g[4] != g[0]
    assert len({g[0], g[2], g[3]}) == 3


def test_split_groups_is_seeded_and_keeps_both_sides() -> None:
    sizes = {f"g{i}": 10 for i in range(10)}
    a = split_groups(sizes, 0.2, seed=1)
    assert a == split_groups(sizes, 0.2, seed=1)
    assert sum(v == "val" for v in a.values()) == 2
    assert split_groups({"only": 5}, 0.5, seed=0) == {"only": "train"}
    assert set(split_groups({"x": 1, "y": 1}, 0.9, seed=0).values()) == {"train", "val"}
    # a big drive never swamps val: the small one is held out, whatever the hash order
    for seed in range(5):
        assert split_groups({"big": 200, "small": 60}, 0.2, seed) == {
            "big": "train",
            "small": "val",
        }


def test_suite_frame_is_refused_before_anything_is_written(
    drives: dict[str, Path], tmp_path: Path
) -> None:
    new, replay = _sources(drives)
    leaked = replay[0].frames()[2].id
    with pytest.raises(SuiteLeakError) as err:
        build_set(tmp_path, new, replay, forbidden={leaked}, suite="suite v3 (stroller)")
    assert leaked in str(err.value) and "suite v3 (stroller)" in str(err.value)
    assert "drive:old" in str(err.value)
    assert list(tmp_path.iterdir()) == []


def test_build_is_idempotent_by_digest(drives: dict[str, Path], tmp_path: Path) -> None:
    new, replay = _sources(drives)
    first = build_set(tmp_path, new, replay)
    data = (first.path / MANIFEST_FILE).read_bytes()
    assert first.digest == hashlib.sha256(data).hexdigest() == first.path.name
    marker = first.path / "untouched"
    marker.write_text("x")
    again = build_set(tmp_path, _sources(drives)[0], _sources(drives)[1])
    assert again.digest == first.digest and marker.exists()
    other = build_set(tmp_path, new, replay, SetConfig(seed=5, val_share=0.5))
    assert other.digest != first.digest
    (first.path / MANIFEST_FILE).write_bytes(data.replace(b'"seed":0', b'"seed":9'))
    with pytest.raises(TrainingError, match="hashes to"):
        TrainingSet.open(first.path)


def test_replay_share_and_focus_oversampling(drives: dict[str, Path], tmp_path: Path) -> None:
    new, replay = _sources(drives)
    ts = build_set(
        tmp_path, new[:1], replay, SetConfig(replay_share=0.25, val_share=0.0, focus_share=0.9)
    )
    summary = ts.manifest["summary"]
    # 3 new frames: 0.25 / 0.75 * 3 = 1 replay frame of the 4 offered
    assert summary["replay_frames"] == 1
    frames = [f for g in ts.groups("train") for f in g["frames"]]
    focus = [f for f in frames if "deer" in f["classes"]]
    assert focus and all(f["repeat"] == summary["focus_repeat"] > 1 for f in focus)
    assert all(f["repeat"] == 1 for f in frames if "deer" not in f["classes"])
    n_other = len(frames) - len(focus)
    assert summary["focus_repeat"] == focus_repeat(len(focus), n_other, 0.9, 8)


def test_focus_repeat_bounds() -> None:
    assert focus_repeat(10, 90, 0.3, 8) == 4  # 40 / 130 >= 0.3, 30 / 120 < 0.3
    assert focus_repeat(1, 1000, 0.5, 8) == 8
    assert focus_repeat(0, 10, 0.5, 8) == focus_repeat(10, 0, 0.5, 8) == 1


def test_config_refuses_bad_shares() -> None:
    with pytest.raises(TrainingError, match="replay_share"):
        SetConfig(replay_share=1.0)


def test_a_real_suite_is_refused(drives: dict[str, Path], tmp_path: Path) -> None:
    """The edge-case suite's own digests (``suite_digests``) keep its frames out."""
    from backend.evaluation.suite import build_suite, suite_digests

    suite = build_suite([drives["old"]], tmp_path / "suite", name="edge-cases")
    new, replay = _sources(drives)
    with pytest.raises(SuiteLeakError, match="edge-cases"):
        build_set(
            tmp_path / "sets", new, replay, forbidden=suite_digests(suite), suite="edge-cases"
        )
    assert build_set(tmp_path / "sets", new, forbidden=suite_digests(suite)).digest
