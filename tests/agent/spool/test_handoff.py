from __future__ import annotations

import threading
import time

from agent.spool.handoff import HandOff


def test_highest_priority_first_fifo_among_ties() -> None:
    queue: HandOff[str] = HandOff(10)
    for item, priority in [("a", 1.0), ("b", 3.0), ("c", 1.0), ("d", 2.0)]:
        assert queue.offer(item, priority) is None
    assert [queue.get(0) for _ in range(4)] == ["b", "d", "a", "c"]
    assert queue.get(0) is None


def test_overload_drops_the_lowest_priority_and_counts_it() -> None:
    queue: HandOff[str] = HandOff(2)
    queue.offer("mid", 2.0)
    queue.offer("high", 3.0)
    assert queue.offer("low", 1.0) == "low"  # the newcomer is the least important
    assert queue.offer("top", 4.0) == "mid"
    assert queue.dropped == 2
    assert [queue.get(0), queue.get(0)] == ["top", "high"]


def test_offer_never_blocks_and_close_wakes_the_consumer() -> None:
    queue: HandOff[int] = HandOff(1)
    got: list[int | None] = []

    def consume() -> None:
        while True:
            item = queue.get(timeout=5)
            got.append(item)
            if item is None:
                return

    consumer = threading.Thread(target=consume)
    consumer.start()
    started = time.monotonic()
    for i in range(1000):
        queue.offer(i, float(i))
    assert time.monotonic() - started < 1.0
    queue.close()
    consumer.join(timeout=5)
    assert not consumer.is_alive()
    assert got[-1] is None
    assert len(got) - 1 + queue.dropped == 1000
