"""How many crash states the crash-consistency tests check, per durable write path.

Run: ``.venv/bin/python -m benchmarks.bench_crash_points [--repeats 2]``. Writes
``benchmarks/results/crash_points.json``.

Each write path's crash tests (``tests/fixtures/crash``: every call boundary, a process crash
and two kinds of power loss) run in this process under pytest, ``--repeats`` times; every
:func:`~tests.fixtures.crash.check_every_crash` that passes hands over its report. Per path:
the recorded file-system calls, the crash points per kind (calls + marks + 1) and the distinct
states checked per kind (equal trees with equal marks are checked once). The counts are a
property of the code, not of the machine: the run fails unless every repeat gives the same
numbers. Wall time per path (median of the repeats) is recorded beside them.

The S3 blob store is not among the paths: it makes no file-system calls (an S3 PUT is atomic
at the service), so there is nothing to crash between; its guarantees are checked by the blob
store contract tests against a moto server.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from benchmarks.machine import describe_machine
from benchmarks.provenance import provenance
from tests.fixtures.crash import CrashKind, CrashReport, reports_to

RESULTS = Path(__file__).resolve().parent / "results" / "crash_points.json"
ROOT = Path(__file__).resolve().parents[1]

#: each durable write path and the crash tests that check it (files or file::test ids)
PATHS: dict[str, tuple[str, ...]] = {
    "atomic file write (core)": ("tests/core/formats/test_atomic.py",),
    "spool (vehicle)": ("tests/agent/spool/test_spool_crash_points.py",),
    "ingest staging": (
        "tests/backend/storage/test_crash_points.py::test_staging_append_resume_resend_and_discard",
    ),
    "ingest commit (staging, blob, row)": ("tests/backend/ingest/test_commit_crash.py",),
    "vehicle to backend ack": ("tests/agent/upload/test_ack_crash.py",),
    "local blob store": (
        "tests/backend/storage/test_crash_points.py::test_local_blob_put_replace_and_delete",
    ),
    "task label save (SQLite)": ("tests/backend/annotation/test_save_crash.py",),
    "dataset version (SQLite, blobs, manifest)": ("tests/backend/datasets/test_version_crash.py",),
}
#: the test modules, for the provenance record (their code decides the counts)
MODULES = sorted(
    {t.split("::")[0].removesuffix(".py").replace("/", ".") for ts in PATHS.values() for t in ts}
)
KINDS = {
    CrashKind.PROCESS: "process",
    CrashKind.POWER_DROP: "power_drop",
    CrashKind.POWER_ZERO: "power_zero",
}


class BenchmarkError(Exception):
    """A crash test failed, or the counts differ between repeats."""


@dataclass
class PathCount:
    """The sums over one path's checks."""

    checks: int = 0
    calls: int = 0
    points: dict[str, int] = field(default_factory=lambda: dict.fromkeys(KINDS.values(), 0))
    states: dict[str, int] = field(default_factory=lambda: dict.fromkeys(KINDS.values(), 0))

    def add(self, report: CrashReport) -> None:
        self.checks += 1
        self.calls += report.calls
        for kind, states in report.distinct.items():
            self.points[KINDS[kind]] += report.points
            self.states[KINDS[kind]] += states

    def as_json(self) -> dict[str, Any]:
        return {
            "checks": self.checks,
            "calls": self.calls,
            "crash_points": dict(self.points),
            "states_checked": dict(self.states),
            "crash_points_total": sum(self.points.values()),
            "states_checked_total": sum(self.states.values()),
            "power_loss_states_checked": self.states["power_drop"] + self.states["power_zero"],
        }


def count_path(tests: tuple[str, ...]) -> tuple[PathCount, float]:
    """Run one path's crash tests; the summed reports and the wall time in seconds."""
    count = PathCount()
    started = time.perf_counter()
    with reports_to(count.add):
        code = pytest.main(["-q", "-p", "no:cacheprovider", *[str(ROOT / t) for t in tests]])
    if code != 0:
        raise BenchmarkError(f"the crash tests {', '.join(tests)} failed (pytest exit {code})")
    if count.checks == 0:
        raise BenchmarkError(f"the crash tests {', '.join(tests)} checked nothing")
    return count, time.perf_counter() - started


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    os.chdir(ROOT)
    paths: dict[str, Any] = {}
    for name, tests in PATHS.items():
        runs = [count_path(tests) for _ in range(args.repeats)]
        counts = [run[0].as_json() for run in runs]
        if any(c != counts[0] for c in counts):
            raise BenchmarkError(f"{name}: the counts differ between repeats: {counts}")
        paths[name] = {
            "tests": list(tests),
            **counts[0],
            "wall_s_median": round(statistics.median(run[1] for run in runs), 2),
        }
        print(f"{name}: {json.dumps(counts[0])}", file=sys.stderr)
    totals = {
        key: sum(p[key] for p in paths.values())
        for key in ("checks", "calls", "crash_points_total", "states_checked_total")
    }
    totals["power_loss_states_checked"] = sum(
        p["power_loss_states_checked"] for p in paths.values()
    )
    result = {
        "benchmark": "crash_points",
        "description": "crash states checked per durable write path (deterministic counts)",
        "machine": describe_machine(),
        "repeats": args.repeats,
        "identical_across_repeats": True,
        "paths": paths,
        "totals": totals,
        "not_covered": {
            "S3 blob store": "no file-system calls; an S3 PUT is atomic at the service"
        },
        "provenance": provenance(["benchmarks.bench_crash_points", *MODULES], vars(args)),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
