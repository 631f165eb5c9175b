"""``build-baseline`` trains on the drives a split file names and writes only where it is told."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from backend.cli import main
from backend.errors import TrainingError
from backend.training.baseline import read_splits
from tests.agent.perception.synthetic import write_dataset


def write_splits(root: Path, splits: dict[str, list[str]]) -> Path:
    path = root / "splits.json"
    path.write_text(json.dumps({"plan": "test", "scenario": "synthetic", "splits": splits}))
    return path


def test_read_splits_resolves_drives_next_to_the_file(tmp_path: Path) -> None:
    for name in ("a", "b", "c"):
        write_dataset(tmp_path / name, 1, seed=1)
    path = write_splits(tmp_path, {"train": ["a"], "val": ["b"], "test": ["c"]})
    assert read_splits(path) == {
        "train": [tmp_path / "a"],
        "val": [tmp_path / "b"],
        "test": [tmp_path / "c"],
    }


@pytest.mark.parametrize(
    ("splits", "message"),
    [
        ({"train": ["a"], "val": ["a"]}, "not a split file with train, val, test"),
        ({"train": [], "val": ["a"], "test": ["a"]}, "split 'train' lists no drive"),
        ({"train": ["a"], "val": ["nope"], "test": ["a"]}, "split 'val' names missing drives"),
    ],
)
def test_bad_split_files_are_refused_by_name(
    tmp_path: Path, splits: dict[str, list[str]], message: str
) -> None:
    write_dataset(tmp_path / "a", 1, seed=1)
    with pytest.raises(TrainingError, match=message):
        read_splits(write_splits(tmp_path, splits))
    with pytest.raises(TrainingError, match="sim training-drives"):
        read_splits(tmp_path / "elsewhere" / "splits.json")


def test_cli_builds_package_and_report_where_told(tmp_path: Path) -> None:
    drives = tmp_path / "drives"
    write_dataset(drives / "train-1", 3, seed=10, rare_every=4)
    write_dataset(drives / "val-1", 1, seed=11)
    write_dataset(drives / "test-1", 1, seed=12)
    write_splits(drives, {"train": ["train-1"], "val": ["val-1"], "test": ["test-1"]})
    out, report = tmp_path / "pkg", tmp_path / "eval.json"
    argv = ["model", "build-baseline", "--drives", str(drives), "--out", str(out)]
    argv += ["--report", str(report), "--epochs", "1"]
    assert main(argv) == 0
    assert (out / "model.onnx").is_file() and (out / "scoring.npz").is_file()
    written = json.loads(report.read_text())
    assert written["build"]["splits"]["test"] == ["test-1"] and written["build"]["epochs"] == 1
