"""The upload loop: spool → backend, highest priority first, with backoff on transient failures.

A frame is acked (deleted from the spool) only after the backend answered STORED or
ALREADY_STORED; a permanent refusal quarantines it; anything else returns it to the spool and
backs off (exponential, full jitter, reset by the next success).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Protocol

from agent.metrics import AgentMetrics
from agent.spool.record import SpoolRecord
from agent.spool.spool import Spool
from agent.upload.backoff import Backoff, Sleeper
from agent.upload.client import Delivered, PermanentUploadError, TransientUploadError

log = logging.getLogger(__name__)


class FrameUploader(Protocol):
    """What the worker needs of a client (``IngestClient`` in production)."""

    def upload(self, record: SpoolRecord) -> Delivered: ...


class UploadWorker:
    """Drains ``spool`` through ``uploader``; ``sleep`` waits (and says if woken by a stop)."""

    def __init__(
        self,
        spool: Spool,
        uploader: FrameUploader,
        backoff: Backoff,
        sleep: Sleeper,
        metrics: AgentMetrics,
        *,
        idle_poll_s: float = 0.2,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        self.spool = spool
        self.uploader = uploader
        self.backoff = backoff
        self.sleep = sleep
        self.metrics = metrics
        self.idle_poll_s = idle_poll_s
        self._wall_clock = wall_clock
        self.failures = 0  # consecutive transient failures
        self.delivered: list[str] = []

    def step(self) -> bool | None:
        """Try one frame. True: delivered or quarantined; False: failed transiently (after the
        backoff wait); None: the spool had nothing to send."""
        self._update_gauges()
        record = self.spool.checkout()
        if record is None:
            return None
        started = time.perf_counter()
        try:
            outcome = self.uploader.upload(record)
        except PermanentUploadError as exc:
            self.spool.quarantine(record.frame_id, f"refused by backend: {exc}")
            self.metrics.upload_failures.labels(kind="permanent").inc()
            log.error("upload refused permanently, quarantined: %s", exc)
            return True
        except TransientUploadError as exc:
            self.spool.release(record.frame_id)
            self.metrics.upload_failures.labels(kind="transient").inc()
            delay = self.backoff.delay(self.failures)
            self.failures += 1
            log.warning(
                "upload failed (attempt %d), retrying in %.2fs: %s", self.failures, delay, exc
            )
            self.sleep(delay)
            return False
        self.failures = 0
        self.spool.ack(record.frame_id)
        self.delivered.append(record.frame_id)
        self.metrics.uploaded.labels(outcome=outcome.value).inc()
        self.metrics.upload_bytes.inc(len(record.payload))
        self.metrics.stage_seconds.labels(stage="upload").observe(time.perf_counter() - started)
        log.info("uploaded frame_id=%s outcome=%s", record.frame_id, outcome.value)
        self._update_gauges()
        return True

    def run(self, should_stop: Callable[[], bool], done: Callable[[], bool]) -> None:
        """Loop until ``should_stop()``, or until ``done()`` (no more frames will come) and the
        spool is empty."""
        while not should_stop():
            result = self.step()
            if result is None:
                if done() and self.spool.frames == 0:
                    return
                self.sleep(self.idle_poll_s)

    def _update_gauges(self) -> None:
        publish_spool_state(self.spool, self.metrics, self._wall_clock())


def publish_spool_state(spool: Spool, metrics: AgentMetrics, now_s: float) -> None:
    """Push the spool's size, lag (seconds, wall clock ``now_s``) and totals to the metrics."""
    oldest = spool.oldest_stored_at()
    metrics.observe_spool(
        frames=spool.frames,
        size_bytes=spool.bytes,
        evicted_total=spool.evicted_total,
        quarantined_total=spool.quarantined_total,
        lag_s=0.0 if oldest is None else max(0.0, now_s - oldest),
    )
