"""``longtail-agent check-config`` and the shipped examples: every problem of options, model,
source and rules in one run, each located; both examples pass as shipped."""

from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from agent.cli import EXAMPLES, example_path
from agent.config import load_config
from agent.daemon.check import check_config
from tests.agent.daemon.drive import REPO_ROOT, agent_env

TOKEN = {"LONGTAIL_VEHICLE__TOKEN": "t"}


@pytest.mark.parametrize("kind", sorted(EXAMPLES))
def test_each_shipped_example_passes_as_shipped_with_the_token_from_the_environment(
    kind: str,
) -> None:
    path = example_path(kind)
    report = check_config(path, TOKEN)
    assert report.ok, report.problems
    assert report.notes == ()
    assert report.rules == len(load_config(path, TOKEN).selection.rules) >= 2
    # relative paths only: the example runs wherever it is copied
    sections = tomllib.loads(path.read_text()).values()
    values = [v for s in sections if isinstance(s, dict) for v in s.values() if isinstance(v, str)]
    assert not [v for v in values if v.startswith(("/", "~"))]


def test_without_a_token_the_example_says_where_to_put_it() -> None:
    report = check_config(example_path("vehicle"), {})
    assert report.problems == (
        f"{example_path('vehicle')}: vehicle.token: empty; set vehicle.token_file, vehicle.token "
        "or LONGTAIL_VEHICLE__TOKEN",
    )


BAD = """\
[vehicle]
token_file = "missing-token"
[source]
path = "nowhere"
rate = "fast"
[upload]
chunk_bytes = 10
[[selection.rules]]
name = "typo"
when = "count.car > 1 or min_confidence.pedestrain < 0.3"
[[selection.rules]]
name = "fine"
when = "frame.surprise > 4"
[[selection.rules]]
name = "unfinished"
when = "min.knn_tail <"
"""


def test_every_problem_is_reported_in_one_run_each_with_its_location(tmp_path: Path) -> None:
    path = tmp_path / "agent.toml"
    path.write_text(BAD)
    report = check_config(path, {})
    assert report.problems == (
        f"{path}: source.rate: must be one of recorded, fixed, max; got 'fast'",
        f"{path}: upload.chunk_bytes: must be >= 1024, got 10",
        f"{path}: vehicle.token_file {tmp_path / 'missing-token'}: cannot read: "
        "No such file or directory",
        f"{path}: source.path: {tmp_path / 'nowhere'}: not a directory",
        f"{path}: selection.rules[0]: rule 'typo': unknown signal 'min_confidence.pedestrain' "
        "(did you mean 'min_confidence.pedestrian'?) at column 18",
        f"{path}: selection.rules[2]: rule 'unfinished': expected a value, found end of "
        "expression at column 15",
    )
    # the source did not open, so its vehicle signals could not be known
    assert report.notes == (
        "vehicle.* signals in rules: not checked, because the source did not open",
    )


def test_a_model_that_does_not_load_is_reported_and_the_rules_wait_for_it(tmp_path: Path) -> None:
    path = tmp_path / "agent.toml"
    path.write_text(
        '[vehicle]\ntoken = "t"\n[source]\npath = "d"\n[perception]\npackage = "nope"\n'
    )
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "000000.bin").write_bytes(b"\0" * 16)
    report = check_config(path, {})
    assert len(report.problems) == 1
    assert report.problems[0].startswith(f"{path}: perception.package: ")
    assert "nope" in report.problems[0]
    assert report.notes == ("selection.rules: not checked, because the model did not load",)


def run_cli(*args: str, cwd: Path = REPO_ROOT, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "agent.cli", *args],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=cwd,
        env=agent_env(**env),
    )


def test_cli_prints_each_problem_on_its_own_line_and_exits_2(tmp_path: Path) -> None:
    path = tmp_path / "agent.toml"
    path.write_text(BAD)
    result = run_cli("check-config", "--config", str(path))
    assert result.returncode == 2, result.stderr
    lines = result.stderr.splitlines()
    assert "longtail-agent: configuration error: 6 problems:" in lines
    assert sum(line.startswith(f"  {path}: ") for line in lines) == 6
    assert "Traceback" not in result.stderr


def test_example_config_copied_beside_a_drive_runs_check_config(tmp_path: Path) -> None:
    printed = run_cli("example-config", "dev")
    assert printed.returncode == 0 and printed.stdout == example_path("dev").read_text()
    (tmp_path / "agent.toml").write_text(printed.stdout)
    # the relative source path names the drive beside the copy; the sample is one
    (tmp_path / "drive").symlink_to(example_path("dev").parent / "drive")
    result = run_cli("check-config", "--config", "agent.toml", cwd=tmp_path, **TOKEN)
    assert result.returncode == 0, result.stderr
    assert result.stdout == "config OK: agent.toml: 2 rule(s)\n"
