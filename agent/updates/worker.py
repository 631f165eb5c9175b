"""The update loop on its own thread: each poll reports the running model's health, asks for this
vehicle's assignment and, when it names another model, downloads (resuming), installs (verified
before unpacking), builds and swaps it in between two frames.

Polls come every ``poll_interval_s`` seconds; an unreachable or refusing backend is retried
after an exponential backoff with full jitter (``agent.upload.backoff``), reset by the next good
poll. A refused package (tampered, unsigned, another key, does not load) is deleted, counted,
logged and sent with the next health report; the same version and digest is not fetched again
by this process. The running model keeps running through all of it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from agent.errors import PackageRefusedError, UpdateUnavailableError
from agent.metrics import AgentMetrics
from agent.updates.client import ModelOffer, ModelUpdatesClient
from agent.updates.health import HealthRecorder
from agent.updates.install import ModelStore
from agent.updates.swap import ModelSwapper
from agent.upload.backoff import Backoff, Sleeper

log = logging.getLogger(__name__)


class UpdateWorker:
    """See the module docstring; every collaborator is passed in."""

    def __init__(
        self,
        client: ModelUpdatesClient,
        store: ModelStore,
        swapper: ModelSwapper,
        health: HealthRecorder,
        backoff: Backoff,
        sleep: Sleeper,
        metrics: AgentMetrics,
        *,
        poll_interval_s: float,
    ) -> None:
        self.client = client
        self.store = store
        self.swapper = swapper
        self.health = health
        self.backoff = backoff
        self.sleep = sleep
        self.metrics = metrics
        self.poll_interval_s = poll_interval_s
        self.failures = 0  # consecutive unavailable polls
        self.refused: dict[tuple[str, str], PackageRefusedError] = {}
        self._unreported: PackageRefusedError | None = None

    def run(self, should_stop: Callable[[], bool]) -> None:
        """Poll until ``should_stop()``; the first poll is immediate. An unexpected error ends
        the poll, not the thread: updates must never take perception down with them."""
        while not should_stop():
            try:
                delay = self.step(should_stop)
            except Exception:
                self.metrics.model_updates.labels(outcome="failed").inc()
                delay = self.backoff.delay(self.failures)
                self.failures += 1
                log.exception("model update poll failed; retrying in %.2fs", delay)
            if self.sleep(delay):
                return

    def step(self, should_stop: Callable[[], bool] = lambda: False) -> float:
        """One poll; returns the seconds to wait before the next one."""
        try:
            self._report()
            offer = self.client.assignment(self.swapper.target_version)
            if offer is not None and offer.version != self.swapper.target_version:
                self._update(offer, should_stop)
        except UpdateUnavailableError as exc:
            self.metrics.model_updates.labels(outcome="unavailable").inc()
            delay = self.backoff.delay(self.failures)
            self.failures += 1
            log.warning("model updates: %s; retrying in %.2fs", exc, delay)
            return delay
        except PackageRefusedError as exc:  # an assignment naming an unusable version
            self._refuse(exc)
        except OSError as exc:  # a full or failing disk: the running model is untouched
            self.metrics.model_updates.labels(outcome="unavailable").inc()
            delay = self.backoff.delay(self.failures)
            self.failures += 1
            log.error("model update failed on disk: %s; retrying in %.2fs", exc, delay)
            return delay
        self.failures = 0
        return self.poll_interval_s

    def final_report(self) -> None:
        """Report the health not reported yet, once, as the daemon stops (the frames since the
        last poll would otherwise never reach the rollout that judges this version)."""
        try:
            self._report()
        except UpdateUnavailableError as exc:
            log.warning("final health report not delivered: %s", exc)

    def _update(self, offer: ModelOffer, should_stop: Callable[[], bool]) -> None:
        if (offer.version, offer.digest) in self.refused:
            log.debug("model %s was refused before; not fetching it again", offer.version)
            return
        log.info("assigned model %s (%d bytes)", offer.version, offer.size)
        self.store.drop_parts(keep=offer.version)
        fresh = False
        try:
            directory = self.store.installed(offer)
            if directory is None:
                before = self.client.bytes_received
                complete = self.client.download(
                    offer, self.store.part_path(offer.version), should_stop
                )
                self.metrics.model_download_bytes.inc(self.client.bytes_received - before)
                if not complete:
                    return  # stopping; the partial file resumes after the restart
                directory = self.store.install(offer, self.swapper.running_version)
                fresh = True
                self.metrics.model_updates.labels(outcome="installed").inc()
            prepared = self.swapper.prepare(offer.version, offer.digest, directory)
        except PackageRefusedError as exc:
            self.store.discard(offer.version)
            if fresh:
                self.store.remove_unused(offer.version)
            self.refused[(offer.version, offer.digest)] = exc
            self._refuse(exc)
            return
        self.store.activate(offer.version, offer.digest)
        self.swapper.offer(prepared)
        self.metrics.model_updates.labels(outcome="activated").inc()

    def _refuse(self, exc: PackageRefusedError) -> None:
        self.metrics.model_updates.labels(outcome="refused").inc()
        log.error("%s; keeping model %s", exc, self.swapper.running_version)
        self._unreported = exc

    def _report(self) -> None:
        """Report every version's window; put back what was not acknowledged."""
        windows = list(self.health.take().items())
        if not windows and self._unreported is not None:
            windows = [(self.swapper.running_version, self.health.empty_window())]
        for i, (version, window) in enumerate(windows):
            try:
                self.client.report_health(window.summary(version), self._unreported)
            except UpdateUnavailableError:
                for later_version, later in windows[i:]:
                    if later.frames or later.errors:
                        self.health.restore(later_version, later)
                raise
            self._unreported = None
