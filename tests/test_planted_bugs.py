"""Plant each bug a reviewer would try, one at a time, and require the tests to catch it.

Each :class:`PlantedBug` patches the source of one or more modules as a fresh pytest process
imports them (tests/fixtures/planted.py; the checkout is untouched) and runs the tests that
guard that guarantee: at least one of them must fail. The tests are deterministic (every crash
point, exact messages), so the bug is caught on every run, not by luck. A control run of the same
tests without a plant must pass, or a failure would prove nothing.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.fixtures.planted import ENV, Patch, encode

ROOT = Path(__file__).resolve().parents[1]

SPOOL_CRASH = "tests/agent/spool/test_spool_crash_points.py"
STORAGE_CRASH = "tests/backend/storage/test_crash_points.py"
ATOMIC = "tests/core/formats/test_atomic.py"
REJECTIONS = "tests/backend/ingest/test_rejections.py"
COMMIT_CRASH = "tests/backend/ingest/test_commit_crash.py"
ACK_CRASH = "tests/agent/upload/test_ack_crash.py"
SAVE_CRASH = "tests/backend/annotation/test_save_crash.py"
VERSION_CRASH = "tests/backend/datasets/test_version_crash.py"


@dataclass(frozen=True)
class PlantedBug:
    """A bug (the patches that plant it) and the tests of which at least one must fail."""

    name: str
    patches: tuple[Patch, ...]
    tests: tuple[str, ...]


BUGS = (
    PlantedBug(
        "non-atomic spool write",
        (
            Patch(
                "agent.spool.spool",
                "atomic_write_bytes(self._path(record.frame_id), data, durable=self.durable)",
                "self._path(record.frame_id).write_bytes(data)",
            ),
        ),
        (SPOOL_CRASH,),
    ),
    PlantedBug(
        "missing fsync before rename",
        (Patch("core.formats.atomic", "os.fsync(handle.fileno())", "pass"),),
        (ATOMIC, SPOOL_CRASH, STORAGE_CRASH),
    ),
    PlantedBug(
        "missing fsync of staged data",
        (Patch("backend.storage.staging", "os.fsync(self._handle.fileno())", "pass"),),
        (STORAGE_CRASH, COMMIT_CRASH),
    ),
    PlantedBug(
        "missing directory fsync after rename",
        (Patch("core.formats.atomic", "        fsync_directory(path.parent)", "        pass"),),
        (ATOMIC, SPOOL_CRASH, STORAGE_CRASH),
    ),
    PlantedBug(
        "missing directory fsync of a new directory",
        (Patch("core.formats.atomic", "fsync_directory(level.parent)", "pass"),),
        (ATOMIC, SPOOL_CRASH, STORAGE_CRASH),
    ),
    PlantedBug(
        "missing directory fsync after an ack's unlink",
        (
            Patch(
                "agent.spool.spool",
                "            if self.durable:\n                fsync_directory(self.frames_dir)\n"
                '        except OSError as exc:\n            log.error("spool cannot delete',
                '            pass\n        except OSError as exc:\n            log.error("spool cannot delete',
            ),
        ),
        (SPOOL_CRASH,),
    ),
    PlantedBug(
        "missing directory fsync after a blob delete",
        (Patch("backend.storage.local", "fsync_directory(path.parent)", "pass"),),
        (STORAGE_CRASH,),
    ),
    PlantedBug(
        "missing directory fsync of a new staging file",
        (Patch("backend.storage.staging", "fsync_directory(path.parent)", "pass"),),
        (STORAGE_CRASH, COMMIT_CRASH),
    ),
    PlantedBug(
        "skipped checksum",
        (Patch("backend.ingest.service", "if digest != frame_id:", "if False:"),),
        (REJECTIONS,),
    ),
    PlantedBug(
        "skipped bomb limit on the payload header",
        (
            Patch(
                "backend.ingest.validation",
                "        check_decoded_points(\n            meta.frame_id, header.num_points,",
                "        (lambda *args: None)(\n            meta.frame_id, header.num_points,",
            ),
        ),
        (REJECTIONS,),
    ),
    PlantedBug(
        "skipped bomb limit everywhere",
        (
            Patch(
                "backend.ingest.validation",
                "if decoded > limits.max_decompressed_bytes:",
                "if False:",
            ),
        ),
        (REJECTIONS,),
    ),
    PlantedBug(
        "IoU without heading",
        (
            Patch(
                "core.geometry.boxes",
                "    oa, ha, va = _prepare(aa)\n    ob, hb, vb = _prepare(bb)\n",
                "    oa, ha, va = _prepare(aa * np.array([1.0] * 6 + [0.0]))\n"
                "    ob, hb, vb = _prepare(bb * np.array([1.0] * 6 + [0.0]))\n",
            ),
        ),
        (
            "tests/core/geometry/test_boxes.py",
            "tests/backend/evaluation/test_algo.py",
            "tests/agent/perception/test_stages.py",
        ),
    ),
    PlantedBug(
        "ack before durable storage (the vehicle deletes before the backend stored)",
        (
            Patch(
                "agent.upload.worker",
                "        started = time.perf_counter()\n",
                "        started = time.perf_counter()\n        self.spool.ack(record.frame_id)\n",
            ),
        ),
        (ACK_CRASH,),
    ),
    PlantedBug(
        "ack before durable storage (the backend commits the row before the blob)",
        (
            Patch(
                "backend.ingest.service",
                "        self._blobs.put(key, payload)\n"
                "        inserted = self._insert(frame_record(meta, key, self._clock()))\n",
                "        inserted = self._insert(frame_record(meta, key, self._clock()))\n"
                "        self._blobs.put(key, payload)\n",
            ),
        ),
        (COMMIT_CRASH, ACK_CRASH),
    ),
    PlantedBug(
        "label saves committed without fsync (SQLite synchronous=NORMAL)",
        (
            Patch(
                "backend.metadata.db",
                'cursor.execute("PRAGMA synchronous=FULL")',
                'cursor.execute("PRAGMA synchronous=NORMAL")',
            ),
        ),
        (SAVE_CRASH,),
    ),
    PlantedBug(
        "dataset version row committed before its manifest blob",
        (
            Patch(
                "backend.datasets.versions",
                "        self._blobs.put(manifest_key(found), data)\n"
                "        record = DatasetVersionRecord(",
                "        record = DatasetVersionRecord(",
            ),
            Patch(
                "backend.datasets.versions",
                '        log.info(\n            "dataset %s (%s): %d frames',
                "        self._blobs.put(manifest_key(found), data)\n"
                '        log.info(\n            "dataset %s (%s): %d frames',
            ),
        ),
        (VERSION_CRASH,),
    ),
)

CONTROL = "no bug planted"
#: every planted run and the control run happen in the module fixture, inside the first test's
#: time limit: on two busy cores they take several minutes together
pytestmark = pytest.mark.timeout(1800)


def _run(tests: tuple[str, ...], patches: tuple[Patch, ...]) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != ENV}
    if patches:
        env[ENV] = encode(patches)
    command = [sys.executable, "-m", "pytest", "-q", "-x", "-p", "no:cacheprovider"]
    command += ["-p", "tests.fixtures.planted", *tests]
    return subprocess.run(
        command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600, check=False
    )


@pytest.fixture(scope="module")
def outcomes() -> Iterator[dict[str, subprocess.CompletedProcess[str]]]:
    """Every planted run and the control run, two at a time (CI has two cores)."""
    every_test = tuple(sorted({t for bug in BUGS for t in bug.tests}))
    jobs = {bug.name: (bug.tests, bug.patches) for bug in BUGS}
    jobs[CONTROL] = (every_test, ())
    with ThreadPoolExecutor(max_workers=2) as pool:
        futures = {name: pool.submit(_run, *job) for name, job in jobs.items()}
        yield {name: future.result() for name, future in futures.items()}


def _tail(result: subprocess.CompletedProcess[str]) -> str:
    return (result.stdout + result.stderr)[-3000:]


@pytest.mark.slow
def test_the_guarding_tests_pass_without_a_planted_bug(
    outcomes: dict[str, subprocess.CompletedProcess[str]],
) -> None:
    result = outcomes[CONTROL]
    assert result.returncode == 0, _tail(result)


@pytest.mark.slow
@pytest.mark.parametrize("bug", BUGS, ids=[bug.name for bug in BUGS])
def test_a_planted_bug_is_caught(
    bug: PlantedBug, outcomes: dict[str, subprocess.CompletedProcess[str]]
) -> None:
    result = outcomes[bug.name]
    planted = {p.module for p in bug.patches}
    assert {f"planted a bug in {m}" for m in planted} <= set(result.stdout.splitlines()), _tail(
        result
    )
    assert result.returncode == 1, _tail(result)  # 1: tests failed (not a usage or import error)
    failed = re.findall(r"^FAILED (\S+?)::", result.stdout, flags=re.MULTILINE)
    assert failed and set(failed) <= set(bug.tests), _tail(result)
