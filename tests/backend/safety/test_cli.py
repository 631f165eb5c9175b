"""``longtail safety …`` and ``longtail release promote`` on a config file: validation of case
files, and a promotion from the CLI that stores the case it released."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from backend.cli import main
from backend.config import load_config
from backend.release.evidence import record_verdict
from backend.release.gate import load_gate
from backend.safety.case import DEFAULT_CASE_FILE
from backend.wiring import open_database
from tests.backend.release.conftest import make_package
from tests.backend.safety.conftest import row, verdict_of


def test_validate_reports_a_valid_case_and_every_problem_of_a_broken_one(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["safety", "validate"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("case.yaml: valid; longtail-perception, sha256 ")
    assert "undeveloped: G4_floor, G4_new, G7" in out
    broken = tmp_path / "broken.yaml"
    broken.write_text(
        DEFAULT_CASE_FILE.read_text()
        .replace("supportedBy: [Sn4_dog]", "supportedBy: [Sn4_dogs]")
        .replace("threshold: 0.67, ", "")
    )
    assert main(["safety", "validate", str(broken)]) == 2
    err = capsys.readouterr().err
    assert "safety case broken.yaml: 2 problem(s)" in err
    assert "Sn6: spi has no threshold" in err
    assert "G4_dog: supportedBy names 'Sn4_dogs', which is no node of the case" in err


def test_a_promotion_from_the_cli_snapshots_the_case(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "backend.toml"
    config.write_text(
        '[storage]\npath = "blobs"\nstaging_path = "staging"\n'
        '[metadata]\nurl = "sqlite:///meta.db"\n'
        '[release]\nsigning_key_path = "keys/signing.key"\n'
    )
    cfg = ["--config", str(config)]
    assert main(["release", "seed-baseline", *cfg]) == 0
    champion = capsys.readouterr().out.split("\t")[0]
    assert main(["release", "register", str(make_package(tmp_path, "m-2")), *cfg]) == 0
    db = open_database(load_config(config).metadata)
    try:
        rows = [row("all", "recall", 0.5, 0.6), row("class:deer", "recall", 0.2, 0.5)]
        verdict = verdict_of("m-2", champion, rows, gate=load_gate())
        record_verdict(
            db, verdict, run_id="run-1", at=datetime(2026, 12, 5, tzinfo=UTC), details={}
        )
    finally:
        db.close()
    assert main(["release", "promote", "m-2", "--note", "hotfix", *cfg]) == 0
    capsys.readouterr()
    assert main(["safety", "snapshots", *cfg]) == 0
    listing = capsys.readouterr().out.splitlines()
    assert [line.split("\t")[0] for line in listing] == ["m-2", champion]
    assert listing[0].split("\t")[1] == "violated" and listing[0].endswith("\tcli")
    assert main(["safety", "status", "m-2", *cfg]) == 0
    status = capsys.readouterr().out
    assert status.startswith("model m-2: violated")
    assert "Sn4_deer" in status and "holds: 0.3 [0.26, 0.34] vs >= -0.05" in status
    assert main(["safety", "diff", champion, "m-2", *cfg]) == 0
    diff = json.loads(capsys.readouterr().out)
    assert diff["top_status"] == {"before": "challenged", "after": "violated"}
    assert not diff["case_changed"]
    report = tmp_path / "out" / "m-2.html"
    assert main(["safety", "report", "m-2", "--out", str(report), *cfg]) == 0
    assert "Safety case report: model m-2" in report.read_text()
    assert main(["safety", "report", "m-9", "--out", str(report), *cfg]) == 2
    assert "m-9" in capsys.readouterr().err
