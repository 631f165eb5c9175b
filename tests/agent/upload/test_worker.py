"""The upload loop and its retry policy, with an injected clock, sleep and random: no sleeping."""

from __future__ import annotations

import math
import random
from pathlib import Path

import pytest

from agent.metrics import AgentMetrics
from agent.spool.record import SpoolRecord
from agent.spool.spool import Spool
from agent.upload.backoff import Backoff, BandwidthLimiter
from agent.upload.client import Delivered, PermanentUploadError, TransientUploadError
from agent.upload.worker import UploadWorker
from tests.agent.spool.helpers import make_record


class ScriptedUploader:
    """Answers each upload with the next scripted outcome (an exception or a Delivered)."""

    def __init__(self, script: list[Delivered | Exception]) -> None:
        self.script = script
        self.seen: list[str] = []

    def upload(self, record: SpoolRecord) -> Delivered:
        self.seen.append(record.frame_id)
        outcome = self.script.pop(0)
        if isinstance(outcome, Exception):
            raise outcome
        return outcome


class Sleeps:
    def __init__(self) -> None:
        self.calls: list[float] = []

    def __call__(self, seconds: float) -> bool:
        self.calls.append(seconds)
        return False


def sample(metrics: AgentMetrics, name: str, **labels: str) -> float:
    value = metrics.registry.get_sample_value(name, labels or None)
    return 0.0 if value is None else value


def make_worker(tmp_path: Path, script: list[Delivered | Exception]) -> tuple[UploadWorker, Sleeps]:
    spool = Spool.open(tmp_path, 10**7)
    sleeps = Sleeps()
    backoff = Backoff(0.5, 8.0, random.Random(1))
    worker = UploadWorker(spool, ScriptedUploader(script), backoff, sleeps, AgentMetrics())
    return worker, sleeps


def test_full_jitter_delays_grow_then_cap() -> None:
    backoff = Backoff(0.5, 8.0, random.Random(0))
    for attempt, ceiling in [(0, 0.5), (1, 1.0), (3, 4.0), (4, 8.0), (10, 8.0), (1000, 8.0)]:
        delays = [backoff.delay(attempt) for _ in range(300)]
        assert all(0.0 <= d <= ceiling for d in delays)
        assert max(delays) > 0.8 * ceiling  # uses the whole range: full jitter
    with pytest.raises(ValueError, match="0 < base_s <= cap_s"):
        Backoff(2.0, 1.0, random.Random(0))


def test_transient_failures_back_off_then_success_acks_and_resets(tmp_path: Path) -> None:
    transient = TransientUploadError("frame x: UNAVAILABLE: down")
    worker, sleeps = make_worker(tmp_path, [transient, transient, transient, Delivered.STORED])
    record = make_record()
    worker.spool.put(record)
    assert [worker.step() for _ in range(4)] == [False, False, False, True]
    assert worker.spool.frames == 0
    assert worker.failures == 0
    assert len(sleeps.calls) == 3
    assert sleeps.calls[0] <= 0.5 and sleeps.calls[1] <= 1.0 and sleeps.calls[2] <= 2.0
    assert sample(worker.metrics, "longtail_agent_upload_failures_total", kind="transient") == 3
    assert sample(worker.metrics, "longtail_agent_uploaded_frames_total", outcome="stored") == 1
    assert worker.step() is None


def test_permanent_refusal_quarantines_and_moves_on(tmp_path: Path) -> None:
    refused = PermanentUploadError("frame x: INVALID_ARGUMENT: bad pose")
    worker, sleeps = make_worker(tmp_path, [refused, Delivered.ALREADY_STORED])
    bad, good = make_record(priority=2.0), make_record(priority=1.0)
    worker.spool.put(bad)
    worker.spool.put(good)
    assert worker.step() is True
    assert worker.step() is True
    assert worker.spool.frames == 0
    assert sleeps.calls == []
    assert (tmp_path / "quarantine" / f"{bad.frame_id}.ltf").exists()
    assert worker.delivered == [good.frame_id]
    assert sample(worker.metrics, "longtail_agent_spool_quarantined_total") == 1


def test_run_stops_when_done_and_drained(tmp_path: Path) -> None:
    worker, _ = make_worker(tmp_path, [Delivered.STORED, Delivered.STORED])
    for _ in range(2):
        worker.spool.put(make_record())
    worker.run(should_stop=lambda: False, done=lambda: True)
    assert worker.spool.frames == 0
    assert len(worker.delivered) == 2


def test_bandwidth_limiter_waits_in_proportion_without_sleeping() -> None:
    now = [0.0]
    waits: list[float] = []

    def sleep(seconds: float) -> bool:
        waits.append(seconds)
        now[0] += seconds
        return False

    limiter = BandwidthLimiter(1000.0, 500.0, lambda: now[0], sleep)
    for _ in range(10):
        assert limiter.acquire(500)
    # 5000 bytes at 1000 B/s with a 500-byte burst: 4.5 s of waiting in total
    assert math.isclose(now[0], 4.5)
    assert BandwidthLimiter(math.inf, 1.0, lambda: 0.0, sleep).acquire(10**9)
