"""The manual trigger: a safety driver (or a test) asks for "keep this frame now".

Two local mechanisms, no network: touching a file (``touch /run/longtail/trigger``), which the
agent consumes by deleting it, and ``request()``, which the daemon calls from its SIGUSR1 handler.
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path

log = logging.getLogger(__name__)


class ManualTrigger:
    """One pending request at most: several touches between two frames fire once."""

    def __init__(self, trigger_file: Path | None) -> None:
        self.trigger_file = trigger_file
        self._requested = threading.Event()

    def request(self) -> None:
        """Ask for the next frame to be kept (signal-handler safe: only sets an event)."""
        self._requested.set()

    def poll(self) -> bool:
        """True once per request; consumes the trigger file if present."""
        fired = self._requested.is_set()
        self._requested.clear()
        if self.trigger_file is not None and self.trigger_file.exists():
            try:
                self.trigger_file.unlink()
            except FileNotFoundError:
                pass  # someone else consumed it in between; still a request
            except OSError as exc:
                # not removable: fire once and log, rather than firing on every frame
                log.warning("cannot remove manual trigger file %s: %s", self.trigger_file, exc)
                self.trigger_file = None
            fired = True
        return fired
