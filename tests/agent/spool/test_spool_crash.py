"""kill -9 at arbitrary moments of a writing spool, in a real process: nothing committed is lost,
nothing is torn. Random kill times; test_spool_crash_points.py covers every crash point."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from agent.spool.spool import Spool

REPO_ROOT = Path(__file__).resolve().parents[3]


@pytest.mark.slow
def test_sigkill_while_writing_loses_nothing_committed(tmp_path: Path) -> None:
    rng = random.Random(3)
    committed: set[str] = set()
    acked: set[str] = set()
    attempted: set[str] = set()
    acking: set[str] = set()  # an ack was started: the frame may be gone without "ack" printed
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    for _round in range(4):
        proc = subprocess.Popen(
            [sys.executable, "-m", "tests.agent.spool.writer_proc", str(tmp_path)],
            cwd=REPO_ROOT,
            env=env,
            stdout=subprocess.PIPE,
        )
        assert proc.stdout is not None
        first = proc.stdout.readline()  # started writing
        assert first.startswith(b"try ")
        time.sleep(rng.uniform(0.05, 0.4))
        proc.send_signal(signal.SIGKILL)
        out, _ = proc.communicate(timeout=10)
        for line in (first + out).decode().splitlines():
            kind, _, frame_id = line.partition(" ")
            {"try": attempted, "put": committed, "acking": acking, "ack": acked}[kind].add(frame_id)

        spool = Spool.open(tmp_path, 10**9)
        recovered = spool.frame_ids()
        assert spool.recovery.quarantined == ()  # a rename is atomic: no torn record
        assert spool.recovery.temp_files_removed <= 1  # one writer: one write in progress at most
        assert committed - acking <= recovered  # every committed frame not being acked survived
        assert recovered <= attempted
        assert not recovered & acked  # an acked frame never comes back
    assert len(committed) > 10
