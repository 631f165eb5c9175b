"""Weak frames extend a training set (training split only, counted per class, marked weak on
disk) and never meet the edge-case suite: the set build refuses suite frames among them, and
the suite build refuses weak drives and weakly-labelled frames by digest."""

from __future__ import annotations

from pathlib import Path

import pytest

from backend.cli import main
from backend.errors import EvaluationError, SuiteLeakError, TrainingError
from backend.evaluation.suite import WEAK_LABELS_KEY, build_suite, points_digest
from backend.training.sets import SetConfig, build_set
from backend.training.sources import DriveSource
from backend.training.weak.labeller import UNSURE, label_drives
from backend.training.weak.observe import observe
from backend.training.weak.source import WeakSource
from backend.training.weak.store import weak_digests_under, write_weak_drive
from core.errors import FormatError
from core.formats.dataset import Dataset
from tests.backend.training.weak.fakes import FixedPerception, drive_frames, write_truth


@pytest.fixture
def weak_drive(tmp_path: Path) -> Path:
    frames = drive_frames(6, seed=5)
    (result,) = label_drives([observe(frames, FixedPerception())])
    return write_weak_drive(
        tmp_path / "weak" / "w1", result, frames, champion="m", settings={}, sources=["t"]
    )


def test_weak_frames_extend_the_training_split_only(
    drives: dict[str, Path], weak_drive: Path, tmp_path: Path
) -> None:
    new = [DriveSource(drives[k]) for k in "abc"]
    config = SetConfig(weak_share=0.9)  # room for all 6 weak frames beside 7 human ones
    ts = build_set(tmp_path / "sets", new, weak=[WeakSource(weak_drive)], config=config)
    weak_groups = [g for g in ts.manifest["groups"] if g["kind"] == "weak"]
    assert len(weak_groups) == 1 and weak_groups[0]["split"] == "train"
    assert weak_groups[0]["source"] == "weak:w1"
    summary = ts.manifest["summary"]
    assert summary["weak_frames"] == 6 == len(weak_groups[0]["frames"])
    assert ts.weak_objects() == {"car": 6, UNSURE: 6}
    assert ts.object_counts("train")["car"] >= 6 and "weak" not in {
        g["kind"] for g in ts.groups("val")
    }
    assert {"name": "weak:w1", "kind": "weak"}.items() <= ts.manifest["sources"][-1].items()
    # the group directory says it is weak: a later set replays it only as weak
    group_dir = ts.path / weak_groups[0]["dir"]
    assert WEAK_LABELS_KEY in Dataset(group_dir).meta()
    with pytest.raises(TrainingError, match="never as ground truth"):
        DriveSource(group_dir)
    assert len(WeakSource(group_dir).frames()) == 6
    # the human-labelled groups are not marked
    other = next(g for g in ts.manifest["groups"] if g["kind"] == "new")
    assert WEAK_LABELS_KEY not in Dataset(ts.path / other["dir"]).meta()


def test_weak_share_caps_the_weak_frames(
    drives: dict[str, Path], weak_drive: Path, tmp_path: Path
) -> None:
    new = [DriveSource(drives["b"])]  # 2 frames, both train or one val
    ts = build_set(
        tmp_path / "s", new, weak=[WeakSource(weak_drive)], config=SetConfig(weak_share=0.5)
    )
    n_train_human = sum(len(g["frames"]) for g in ts.groups("train") if g["kind"] != "weak")
    assert ts.manifest["summary"]["weak_frames"] == n_train_human  # 0.5 / (1 - 0.5) = 1 : 1
    none = build_set(
        tmp_path / "s0", new, weak=[WeakSource(weak_drive)], config=SetConfig(weak_share=0.0)
    )
    assert none.manifest["summary"]["weak_frames"] == 0 and none.weak_objects() == {}


def test_weak_labels_alone_make_no_training_set(
    drives: dict[str, Path], weak_drive: Path, tmp_path: Path
) -> None:
    with pytest.raises(TrainingError, match="only extend"):
        build_set(tmp_path / "sets", [], weak=[WeakSource(weak_drive)])
    with pytest.raises(TrainingError, match="does not mark"):
        WeakSource(drives["a"])  # human labels are never counted as weak


def test_a_suite_frame_among_weak_frames_is_refused(
    drives: dict[str, Path], weak_drive: Path, tmp_path: Path
) -> None:
    ds = Dataset(weak_drive)
    leaked = points_digest(ds.points(ds.indices[2]))
    with pytest.raises(SuiteLeakError, match="weak:w1"):
        build_set(
            tmp_path / "sets",
            [DriveSource(drives["a"])],
            weak=[WeakSource(weak_drive)],
            forbidden={leaked},
        )
    assert not (tmp_path / "sets").exists()  # refused before anything was written


def test_the_suite_build_refuses_weak_drives_and_weak_frames(
    drives: dict[str, Path], weak_drive: Path, tmp_path: Path
) -> None:
    # a weak drive as a suite source
    with pytest.raises(EvaluationError, match="labels are weak"):
        build_suite([weak_drive], tmp_path)
    # the same frames with ground truth elsewhere (e.g. labelled later): refused by digest
    truth = tmp_path / "truth"
    write_truth(str(truth), drive_frames(6, seed=5))
    refused = weak_digests_under(weak_drive.parent)
    with pytest.raises(EvaluationError, match="was weakly labelled"):
        build_suite([truth], tmp_path, refused=refused)
    assert len(build_suite([truth], tmp_path).frames) == 6  # the check is what refuses them
    # weak frames that went into a training set are found through the set's manifest
    sets = tmp_path / "training" / "sets"
    ts = build_set(sets, [DriveSource(drives["a"])], weak=[WeakSource(weak_drive)])
    in_set = set(weak_digests_under(tmp_path / "training"))
    assert len(in_set) == ts.manifest["summary"]["weak_frames"] > 0 and in_set <= set(refused)
    with pytest.raises(FormatError, match="no weak-label drive"):
        weak_digests_under(tmp_path / "nothing-here")


def test_the_suite_cli_refuses_weak_frames(
    weak_drive: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    truth = tmp_path / "suite" / "truth"
    write_truth(str(truth), drive_frames(6, seed=5))
    out = tmp_path / "suite" / "suite.json"
    args = ["suite", "build", "--data", str(truth), "--out", str(out)]
    assert main([*args, "--refuse-weak", str(weak_drive.parent)]) != 0
    assert "was weakly labelled" in capsys.readouterr().err and not out.exists()
    assert main(args) == 0 and out.exists()
