"""``longtail weak label`` with a real (tiny) model package on labelled synthetic drives: the
vehicle runtime, the report against ground truth, a weak drive a training source reads."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from backend.cli import main
from backend.training.weak.source import WeakSource
from core.formats.dataset import Dataset


def test_weak_label_writes_weak_drives_and_the_report(
    tiny_package: Path, drives: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "weak"
    code = main(
        [
            "weak",
            "label",
            "--drive",
            str(drives["a"]),
            str(drives["old"]),
            "--package",
            str(tiny_package),
            "--out",
            str(out),
            "--cpu",
        ]
    )
    assert code == 0, capsys.readouterr().err
    printed = capsys.readouterr().out
    assert "against ground truth" in printed
    report = json.loads((out / "report.json").read_text())
    frames = len(Dataset(drives["a"])) + len(Dataset(drives["old"]))
    assert report["drives"] == 2 and report["frames"] == frames
    assert report["candidates"] > 0 and report["weak_labels_kept"] > 0
    weak = report["accuracy"]["weak"]
    assert set(weak["classes"]) == {"background", "car", "truck", "bus", "pedestrian", "cyclist"}
    assert weak["overall"]["coverage"]["trials"] == report["candidates"]
    # the synthetic deer: a rare object the model cannot name is reported, never hidden
    assert "deer" in weak["unknown_to_the_labeller"]
    for name in report["written"]:
        source = WeakSource(out / name)
        assert len(source.frames()) == report["written"][name]
    # a weak drive is not labelled again, and an existing output is not overwritten
    again = ["--package", str(tiny_package), "--out", str(tmp_path / "again"), "--cpu"]
    written = next(iter(report["written"]))
    assert main(["weak", "label", "--drive", str(out / written), *again]) != 0
    assert "already weakly labelled" in capsys.readouterr().err
    same = ["--package", str(tiny_package), "--out", str(out), "--cpu"]
    assert main(["weak", "label", "--drive", str(drives["a"]), *same]) != 0
    assert "exists" in capsys.readouterr().err
