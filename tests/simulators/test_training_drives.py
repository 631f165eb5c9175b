"""``longtail sim training-drives`` writes the drives of a plan and the split file training reads."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from backend.training.baseline import read_splits
from simulators.errors import ScenarioError
from simulators.training_drives import DrivePlan, plan_by_name, simulate_plan


def test_a_plan_becomes_drives_and_a_split_file_training_accepts(tmp_path: Path) -> None:
    plan = DrivePlan(
        "tiny", "urban", {"train": ((1, 2), (2, 1)), "val": ((3, 1),), "test": ((4, 1),)}
    )
    path = simulate_plan(plan, tmp_path)
    document = json.loads(path.read_text())
    assert document["splits"] == {
        "train": ["train-1", "train-2"],
        "val": ["val-3"],
        "test": ["test-4"],
    }
    splits = read_splits(path)
    assert [len(list((d / "velodyne").iterdir())) for d in splits["train"]] == [2, 1]
    before = (tmp_path / "train-1" / "meta.json").stat().st_mtime_ns
    simulate_plan(plan, tmp_path)  # a second run reuses what is there
    assert (tmp_path / "train-1" / "meta.json").stat().st_mtime_ns == before


def test_unknown_plan_lists_the_known_ones() -> None:
    assert plan_by_name("baseline").scenario == "urban"
    with pytest.raises(ScenarioError, match=r"no drive plan 'nope' \(known: baseline\)"):
        plan_by_name("nope")
