"""Background jobs: a job runs every interval, at once when its wake event is set, and stops."""

from __future__ import annotations

import threading

from backend.periodic import Periodic


def test_a_wake_event_runs_the_job_before_its_interval_and_stop_ends_it() -> None:
    ran = threading.Event()
    calls: list[int] = []

    def job() -> None:
        calls.append(1)
        ran.set()

    wake = threading.Event()
    periodic = Periodic("woken", 3600.0, job, wake=wake).start()
    try:
        assert not ran.wait(0.3)  # an hour's interval: nothing yet
        wake.set()
        assert ran.wait(30.0)
        assert calls == [1] and not wake.is_set()  # one run per wake, the event cleared
    finally:
        periodic.stop()
    assert periodic._thread is not None and not periodic._thread.is_alive()
    assert calls == [1]  # stopping wakes the thread to end it, not to run the job


def test_a_failing_job_goes_on_at_the_next_tick() -> None:
    calls: list[int] = []
    twice = threading.Event()

    def job() -> None:
        calls.append(1)
        if len(calls) >= 2:
            twice.set()
        raise RuntimeError("one bad tick")

    periodic = Periodic("failing", 0.05, job).start()
    try:
        assert twice.wait(30.0)
    finally:
        periodic.stop()
