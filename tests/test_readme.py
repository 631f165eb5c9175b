"""The README cannot drift from the product: its figures come from the committed benchmark JSON,
and every shell command in its ``sh`` code blocks runs, as written.

Figures. A number is tied to its source by an HTML comment (invisible on the rendered page):

* inline, right after the figure: ``**75.4**<!--fig demo.json {summary[agent_frames_per_s]:.1f}-->``;
  the text before the comment (``*`` removed) must end with the rendered template;
* a whole table: ``<!--table FILE`` then one template line per table row, then ``-->``, directly
  above the table; each data row of the table must equal its rendered template.

``FILE`` is in ``benchmarks/results/``; templates are Python format strings over the JSON
(``{cases[lossless][ratio]:.2f}``). Every README table that holds a number must be tied to a
file this way, except the tables in ``UNSOURCED_TABLES`` (their first header cell), which hold
no measurement.

Commands. All ``sh`` blocks are joined, in README order, into one bash script (``set -e``, so
the first failure stops it) run in a temporary directory with the virtual environment's
``bin`` first on ``PATH`` and the backend's and agent's ports moved to free ones. Nothing is
skipped except the commands in ``NOT_RUN``: each takes minutes or is this suite itself.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.fixtures.services import free_port

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
RESULTS = ROOT / "benchmarks" / "results"

#: The only README commands the suite does not run, each with the reason.
NOT_RUN = {
    "make test": "this suite itself",
    "make demo": "a minute on 2 cores in the checkout; tests/backend/test_demo.py runs its code",
    "make baseline": "about 16 minutes: simulates, trains and evaluates the shipped model",
}

#: README tables that hold no measurement (first header cell), so need no source
UNSOURCED_TABLES = {"folder", "command", "KPI"}

FIG = re.compile(r"<!--fig (?P<file>\S+) (?P<template>.+?)-->")
TABLE = re.compile(r"<!--table (?P<file>\S+)\n(?P<rows>.*?)\n-->\n(?P<table>(?:\|[^\n]*\n)+)", re.S)
SH_BLOCK = re.compile(r"^```sh\n(?P<body>.*?)^```", re.S | re.M)


def readme() -> str:
    return README.read_text()


class _Keys(dict[str, Any]):
    """A JSON object in a template: ``{banks[10000]}`` looks up the key "10000" (``str.format``
    turns a numeric index into an int)."""

    def __missing__(self, key: object) -> Any:
        if isinstance(key, int) and str(key) in self:
            return self[str(key)]
        raise KeyError(key)


def load(name: str) -> Any:
    path = RESULTS / name
    assert path.is_file(), f"README cites {path.relative_to(ROOT)}, which does not exist"
    return json.loads(path.read_text(), object_hook=_Keys)


def render(template: str, data: Any, where: str) -> str:
    try:
        return template.format_map(data)
    except (KeyError, IndexError, TypeError, ValueError) as exc:
        raise AssertionError(
            f"{where}: template {template!r} does not fit the JSON: {exc!r}"
        ) from exc


def test_inline_figures_match_their_json() -> None:
    text = readme()
    found = list(FIG.finditer(text))
    assert found, "the README ties no figure to a benchmark result"
    for match in found:
        line = text[: match.start()].rsplit("\n", 1)[-1]
        before = re.sub(r"<!--.*?-->", "", line).replace("*", "").rstrip()
        expected = render(match["template"], load(match["file"]), match["file"])
        assert before.endswith(expected), (
            f"README says {before[-40:]!r} where {match['file']} gives {expected!r}"
        )


def table_rows(table: str) -> list[str]:
    lines = table.strip("\n").split("\n")
    assert len(lines) >= 3 and set(lines[1]) <= set("|-: "), f"not a table:\n{table}"
    return lines[2:]


def test_tables_match_their_json() -> None:
    found = list(TABLE.finditer(readme()))
    assert found, "the README ties no table to a benchmark result"
    for match in found:
        data = load(match["file"])
        templates = match["rows"].split("\n")
        rows = table_rows(match["table"])
        assert len(rows) == len(templates), f"{match['file']}: rows and templates differ in number"
        for row, template in zip(rows, templates, strict=True):
            assert row == render(template, data, match["file"]), f"stale row in README: {row}"


def test_every_table_with_numbers_names_its_source() -> None:
    text = readme()
    sourced = {m.start("table") for m in TABLE.finditer(text)}
    # the templates inside the markers are not tables: blank comments, keeping every offset
    visible = re.sub(r"<!--.*?-->", lambda m: re.sub(r"[^\n]", " ", m.group()), text, flags=re.S)
    for match in re.finditer(r"(?:^\|.*\n)+", visible, re.M):
        header = match.group().split("\n", 1)[0]
        first = header.strip("|").split("|")[0].strip()
        rows = table_rows(match.group())
        if first in UNSOURCED_TABLES or not any(re.search(r"\d", r) for r in rows):
            continue
        assert match.start() in sourced, f"README table '{header[:60]}' has no <!--table FILE-->"


def readme_script() -> list[str]:
    """The commands of the README's ``sh`` blocks, in order, without those in ``NOT_RUN``."""
    commands = []
    for block in SH_BLOCK.finditer(readme()):
        for line in block["body"].splitlines():
            command = line.split("  #", 1)[0].strip()
            if command and command not in NOT_RUN:
                commands.append(line)
    return commands


def test_not_run_lists_only_commands_the_readme_has() -> None:
    written = {
        line.split("  #", 1)[0].strip()
        for block in SH_BLOCK.finditer(readme())
        for line in block["body"].splitlines()
    }
    assert set(NOT_RUN) <= written


@pytest.mark.slow
def test_every_readme_command_runs_as_written(tmp_path: Path) -> None:
    commands = readme_script()
    assert any(c.startswith("longtail-agent run") for c in commands)
    script = tmp_path / "readme.sh"
    script.write_text("set -euo pipefail\nset -x\n" + "\n".join(commands) + "\n")
    work = tmp_path / "work"
    work.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith("LONGTAIL_")}
    ingest = free_port()
    env.update(
        PATH=f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}",
        PS4="+ README: ",
        # free ports instead of the examples' 50051 and 8080, which another process may hold
        LONGTAIL_INGEST__PORT=str(ingest),
        LONGTAIL_UPLOAD__ENDPOINT=f"127.0.0.1:{ingest}",
        LONGTAIL_API__PORT=str(free_port()),
    )
    proc = subprocess.Popen(
        ["bash", str(script)],
        cwd=work,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,  # its own process group: nothing it started outlives the test
    )
    try:
        output, _ = proc.communicate(timeout=600)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
    assert proc.returncode == 0, f"a README command failed:\n{output[-6000:]}"
    # what the walkthrough promises it produced
    assert (work / "frame.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "config OK: agent.toml" in output
    assert "source finished" in output and "agent stopped" in output
