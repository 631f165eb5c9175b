"""The edge-case suite's drives: seeds no training plan uses, written in the dataset layout."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from simulators.errors import ScenarioError
from simulators.suite_drives import DEFAULT_SUITE, SuiteDrive, training_seeds, write_suite_drives


def test_suite_seeds_are_disjoint_from_every_training_plan() -> None:
    assert {d.seed for d in DEFAULT_SUITE}.isdisjoint(training_seeds())
    assert len({d.name for d in DEFAULT_SUITE}) == len(DEFAULT_SUITE)
    assert 60 <= sum(d.frames for d in DEFAULT_SUITE) // 2 <= 150  # frames kept at stride 2


def test_drives_are_written_with_their_sensor_and_reused(tmp_path: Path) -> None:
    drives = (SuiteDrive("sparse-951", "fog", 951, 2, sensor="vlp32"),)
    (path,) = write_suite_drives(tmp_path, drives)
    meta = json.loads((path / "meta.json").read_text())
    assert (meta["seed"], meta["sensor"]["beams"], meta["scenario"]["weather"]) == (951, 32, "fog")
    stamp = (path / "meta.json").stat().st_mtime_ns
    write_suite_drives(tmp_path, drives)
    assert (path / "meta.json").stat().st_mtime_ns == stamp
    with pytest.raises(ScenarioError, match=r"\[101\] are training seeds"):
        write_suite_drives(tmp_path, (SuiteDrive("x", "urban", 101, 1),))
