"""The bounded in-memory hand-off from the perception thread to the spool writer.

Perception must never wait on disk: ``offer`` never blocks. When the queue is full the
lowest-priority item — the newcomer or one already queued — is dropped and counted.
"""

from __future__ import annotations

import heapq
import itertools
import threading
from dataclasses import dataclass, field
from typing import Generic, TypeVar

T = TypeVar("T")


@dataclass(order=True)
class _Slot(Generic[T]):
    priority: float
    seq: int
    item: T = field(compare=False)


class HandOff(Generic[T]):
    """A bounded priority queue: ``get`` returns the highest priority first (FIFO among ties)."""

    def __init__(self, capacity: int) -> None:
        if capacity < 1:
            raise ValueError(f"hand-off capacity must be >= 1, got {capacity}")
        self.capacity = capacity
        self.dropped = 0
        self._items: list[_Slot[T]] = []
        self._seq = itertools.count()
        self._cond = threading.Condition()
        self._closed = False

    def offer(self, item: T, priority: float) -> T | None:
        """Enqueue without blocking; return the item dropped to make room, if any."""
        with self._cond:
            # heap on (-priority, seq): the root is the item to send next
            slot = _Slot(-priority, next(self._seq), item)
            if len(self._items) < self.capacity:
                heapq.heappush(self._items, slot)
                self._cond.notify()
                return None
            self.dropped += 1
            worst = max(self._items)  # lowest priority, newest among ties
            if worst <= slot:
                return item
            self._items.remove(worst)
            heapq.heapify(self._items)
            heapq.heappush(self._items, slot)
            self._cond.notify()
            return worst.item

    def get(self, timeout: float | None = None) -> T | None:
        """The next item, waiting up to ``timeout`` seconds; None on timeout or when closed and
        empty."""
        with self._cond:
            if not self._items and not self._closed:
                self._cond.wait(timeout)
            if not self._items:
                return None
            return heapq.heappop(self._items).item

    def close(self) -> None:
        """No more offers are coming: wake the consumer so it can drain and stop."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()

    @property
    def closed(self) -> bool:
        with self._cond:
            return self._closed

    def __len__(self) -> int:
        with self._cond:
            return len(self._items)
