"""Background jobs of a server process: each a function called every ``interval_s`` on its own
daemon thread until stopped; an exception is logged and the job goes on at the next tick.
A job given a ``wake`` event also runs as soon as someone sets it (a promotion waking the
active-learning re-scoring), and its interval starts again from there."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field

log = logging.getLogger(__name__)


@dataclass
class Periodic:
    """Calls ``job`` every ``interval_s`` seconds (and when ``wake`` is set) on a thread named
    ``name``."""

    name: str
    interval_s: float
    job: Callable[[], object]
    wake: threading.Event | None = None
    _stop: threading.Event = field(default_factory=threading.Event, init=False)
    _thread: threading.Thread | None = field(default=None, init=False)

    def start(self) -> Periodic:
        self._thread = threading.Thread(target=self._loop, name=self.name, daemon=True)
        self._thread.start()
        return self

    def _wait(self) -> bool:
        """Sleep until the next tick; True when the job is to stop."""
        if self.wake is None:
            return self._stop.wait(self.interval_s)
        self.wake.wait(self.interval_s)
        self.wake.clear()
        return self._stop.is_set()

    def _loop(self) -> None:
        while not self._wait():
            try:
                self.job()
            except Exception:  # a background job must outlive one bad tick
                log.exception(
                    "background job %s failed; retrying in %.1f s", self.name, self.interval_s
                )

    def stop(self, timeout_s: float = 10.0) -> None:
        self._stop.set()
        if self.wake is not None:
            self.wake.set()
        if self._thread is not None:
            self._thread.join(timeout=timeout_s)
