"""``longtail sim training-drives`` writes the drives of a plan and the split file training reads."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from backend.training.baseline import read_splits
from simulators.effects import CLEAN
from simulators.errors import ScenarioError
from simulators.sensors import PRESETS
from simulators.training_drives import DrivePlan, plan_by_name, randomised_sensor, simulate_plan


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
    with pytest.raises(ScenarioError, match=r"no drive plan 'nope' \(known: baseline, random"):
        plan_by_name("nope")


def test_randomised_drives_cover_every_preset_with_varied_artefacts(tmp_path: Path) -> None:
    draws = [randomised_sensor(seed) for seed, _ in plan_by_name("randomised").splits["train"]]
    assert {preset for preset, _, _ in draws} == set(PRESETS)
    assert len({fx.multipath_rate for _, fx, _ in draws}) == len(draws)
    assert all(fx.intensity_scale == 1.0 and fx != CLEAN for _, fx, _ in draws)
    assert all(1.6 <= h <= 2.1 for _, _, h in draws)
    assert randomised_sensor(111) == randomised_sensor(111)  # reproducible
    # a randomised drive is written with its sensor, recorded in its meta
    plan = DrivePlan(
        "tiny", "urban", {"train": ((3, 1),), "val": ((4, 1),), "test": ((5, 1),)}, True
    )
    simulate_plan(plan, tmp_path)
    meta = json.loads((tmp_path / "train-3" / "meta.json").read_text())
    preset, effects, height = randomised_sensor(3)
    assert meta["sensor"]["preset"] == preset
    assert meta["sensor"]["mount_height_m"] == pytest.approx(height)
    assert meta["sensor"]["effect_settings"]["multipath_rate"] == pytest.approx(
        effects.multipath_rate
    )
