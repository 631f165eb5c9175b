"""A frame from spool to backend -- put, upload, the backend's blob and row, ack -- at every crash
point of both machines, for a process crash and a power loss (tests/fixtures/crash): once
spooled, the frame is always in the spool or durably stored by the backend, never in neither."""

from __future__ import annotations

import math
import random
from pathlib import Path

from agent.metrics import AgentMetrics
from agent.selection.budget import monotonic_clock
from agent.spool.record import SpoolRecord
from agent.spool.spool import Spool
from agent.upload.backoff import Backoff, BandwidthLimiter
from agent.upload.client import IngestClient
from agent.upload.worker import UploadWorker
from tests.backend.ingest.recorded_backend import (
    blob_holds,
    channel_to,
    recorded_backend,
    row_mark,
)
from tests.backend.ingest.upload_client import make_frame
from tests.fixtures.crash import CrashRecorder, CrashState, check_every_crash

BIG = 10**9


def _no_sleep(_seconds: float) -> bool:
    return False


def test_a_spooled_frame_is_never_lost_between_vehicle_and_backend(tmp_path: Path) -> None:
    root = tmp_path / "machines"
    frame = make_frame("car-1", num_points=2000, seed=61)
    record = SpoolRecord(frame.metadata, frame.payload)
    with recorded_backend(root / "backend", tmp_path / "db") as running, channel_to(running) as ch:
        spool = Spool.open(root / "spool", BIG)
        limiter = BandwidthLimiter(math.inf, 1.0, monotonic_clock(), _no_sleep)
        client = IngestClient(ch, running.token, limiter, chunk_bytes=8192, timeout_s=30)
        backoff = Backoff(0.1, 1.0, random.Random(0))
        worker = UploadWorker(spool, client, backoff, _no_sleep, AgentMetrics())
        with CrashRecorder(root) as recorder:
            running.recorder = recorder
            assert spool.put(record).stored
            recorder.mark("spooled")
            assert worker.step() is True
            assert worker.delivered == [record.frame_id]
            recorder.mark("delivered")
            running.recorder = None

    def check(state: CrashState) -> None:
        spool = Spool.open(state.root / "spool", BIG)
        assert spool.recovery.quarantined == ()
        in_spool = record.frame_id in spool.frame_ids()
        in_blob = blob_holds(
            state, state.root / "backend" / "blobs", record.frame_id, record.payload
        )
        stored = state.happened(row_mark(record.frame_id)) and in_blob
        if state.happened("spooled"):
            assert in_spool or stored, "the frame is neither in the spool nor stored by the backend"
        if state.happened("delivered"):
            assert not in_spool, "an acknowledged frame came back to the spool"

    report = check_every_crash(recorder.trace, check, tmp_path / "states")
    assert report.calls >= 30
