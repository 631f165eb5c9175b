"""``longtail suite build`` and ``longtail suite compare`` through the product CLI."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from agent.perception.package import default_package_path
from backend.cli import main
from backend.evaluation.suite import load_suite
from tests.backend.evaluation.test_suite import CRAFTED, write_dataset


def test_build_then_compare_and_gate(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = write_dataset(tmp_path / "drive", CRAFTED * 2, weather="rain", beams=64, seed=11)
    out = tmp_path / "suite.json"
    assert main(["suite", "build", "--data", str(data), "--out", str(out), "--stride", "2"]) == 0
    suite = load_suite(out)
    assert len(suite.frames) == 4 and suite.version in capsys.readouterr().out
    gate = tmp_path / "gate.toml"
    gate.write_text('[[rule]]\nslice = "*"\nmetric = "*"\ndelta = 0.01\n')
    pkg = str(default_package_path())
    args = ["suite", "compare", "--suite", str(out), "--champion", pkg, "--candidate", pkg]
    args += ["--out", str(tmp_path / "c.json"), "--replicates", "50", "--cpu", "--gate", str(gate)]
    assert main(args) == 0
    assert "gate PASSED" in capsys.readouterr().out
    report = json.loads((tmp_path / "c.json").read_text())
    assert report["suite"]["version"] == suite.version and report["rows"]
    gate.write_text('[[rule]]\nslice = "weather:fog"\nmetric = "recall"\ndelta = 0.01\n')
    assert main(args) == 1  # the suite has no fog slice: a required rule fails
    assert "weather:fog" in capsys.readouterr().out
    assert main(["suite", "build", "--data", str(tmp_path / "nope"), "--out", str(out)]) == 2
    assert "not a dataset directory" in capsys.readouterr().err
