"""The retraining trigger, wired: accepted labels counted from the metadata database, the
``TriggerPolicy`` evaluated on them (``backend.training.triggers``), and at most one retraining
turn at a time in any process.

A *turn* is retrain -> edge-case suite -> gate -> canary (``backend.release.turn``), passed in
as ``start_turn(labels_cutoff, name) -> summary``: it learns from every label accepted before
``labels_cutoff``. The labels accepted at or after the cutoff of the newest ended turn (finished
or failed) are the *new* ones the policy counts, per class (the slices) and in all.

Three ways in, one lease:

* :meth:`RetrainScheduler.tick`, the serving process's periodic job when ``[training]
  auto_trigger`` is on: a turn when the policy fires, run on the job's thread;
* :meth:`RetrainScheduler.request`, ``POST /training/retrain``: a turn now, on a thread of its
  own, whatever the counts say;
* :meth:`RetrainScheduler.lease`, around any other turn (``longtail release turn``).

The lease is the ``running`` row of ``training_runs`` (one at most, by a partial unique index):
a second turn is refused (``ConflictError`` naming the running one) until the first ends. Its
holder renews it every third of ``lease_s`` from a heartbeat thread; a row whose lease ran out
(its process died) is marked abandoned before the next turn starts. Every start and end is in
the audit log (``training.started``, ``training.ended``).
"""

from __future__ import annotations

import logging
import os
import socket
import threading
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.exc import IntegrityError

from backend.config import TrainingConfig
from backend.errors import ConflictError
from backend.metadata.repositories.training_runs import (
    FAILED,
    FINISHED,
    NewTrainingRun,
    TrainingRunRecord,
)
from backend.metadata.unit_of_work import Database
from backend.training.triggers import LabelStats, RetrainTrigger, TriggerDecision, TriggerPolicy

log = logging.getLogger(__name__)

#: ``start_turn(labels_cutoff, name)``: one turn on the labels accepted before the cutoff;
#: returns its summary (``TurnResult.summary()``: candidate, verdict_id, gate_passed...)
TurnStarter = Callable[[datetime, str], dict[str, Any]]


def policy_from_config(config: TrainingConfig) -> TriggerPolicy:
    """The ``TriggerPolicy`` of a ``[training]`` section (a 0 switches its rule off)."""
    return TriggerPolicy(
        min_new_labels=config.trigger_min_new_labels or None,
        slice_share=config.trigger_slice_share or None,
        slice_min_new=config.trigger_slice_min_new,
        interval=(
            timedelta(seconds=config.trigger_interval_s) if config.trigger_interval_s else None
        ),
    )


def default_holder() -> str:
    """``host:pid`` of this process: who holds a lease."""
    return f"{socket.gethostname()}:{os.getpid()}"


@dataclass(frozen=True)
class TriggerStatus:
    """The trigger now: the labels since ``since`` (the newest ended turn's cutoff; None: no
    turn yet), the policy's decision on them, the running turn and the newest ended one, and
    ``blocked``: why no turn can start from here (None when one can)."""

    at: datetime
    auto: bool
    policy: TriggerPolicy
    since: datetime | None
    stats: LabelStats
    decision: TriggerDecision
    running: TrainingRunRecord | None
    last_run: TrainingRunRecord | None
    blocked: str | None


@dataclass
class RunLease:
    """A turn holding the lease; the body sets ``summary`` when the turn produced one."""

    run: TrainingRunRecord
    summary: dict[str, Any] | None = None
    renewed: int = 0
    _stop: threading.Event = field(default_factory=threading.Event, repr=False)


class RetrainScheduler:
    """See the module docstring. ``ready()`` says why no turn can start (a missing suite)
    or None; ``clock`` gives timezone-aware datetimes (the labels' acceptance times come from
    the same clock)."""

    def __init__(
        self,
        db: Database,
        policy: TriggerPolicy,
        start_turn: TurnStarter,
        clock: Callable[[], datetime],
        *,
        auto: bool = False,
        lease_s: float = 900.0,
        holder: str | None = None,
        ready: Callable[[], str | None] = lambda: None,
    ) -> None:
        self.db = db
        self.policy = policy
        self.auto = auto
        self.lease_s = lease_s
        self.holder = holder or default_holder()
        self._trigger = RetrainTrigger(policy, clock)
        self._start_turn = start_turn
        self._clock = clock
        self._ready = ready
        self._thread: threading.Thread | None = None

    # -- reading --------------------------------------------------------------------------

    def status(self) -> TriggerStatus:
        """The counts, the decision, the running and the last turn (one read transaction)."""
        now = self._clock()
        with self.db.transaction("read the retraining trigger's state") as uow:
            last = uow.training_runs.last_on_labels()
            since = None if last is None else last.labels_cutoff
            new, total = uow.tasks.accepted_class_counts(since)
            running = uow.training_runs.running()
        stats = LabelStats(new, total)
        decision = self._trigger.evaluate(stats, since)
        blocked = self._ready()
        if running is not None:
            blocked = f"turn {running.id} is running (started {running.started_at.isoformat()})"
        return TriggerStatus(
            now, self.auto, self.policy, since, stats, decision, running, last, blocked
        )

    # -- starting -------------------------------------------------------------------------

    def tick(self) -> TrainingRunRecord | None:
        """The periodic job: when ``auto`` is on, nothing runs and the policy fires, run one
        turn on this thread and return its record; None otherwise."""
        if not self.auto:
            return None
        state = self.status()
        if not state.decision.due or state.blocked is not None:
            if state.decision.due:
                log.info(
                    "retraining due (%s) but blocked: %s", state.decision.reasons, state.blocked
                )
            return None
        with self.lease(
            "auto",
            "trigger",
            state.decision.reasons,
            labels_cutoff=state.at,
            new_labels=dict(state.stats.new),
        ) as held:
            self._run(held)
        return self.run(held.run.id)

    def request(self, actor: str, note: str = "") -> TrainingRunRecord:
        """A turn now, on a thread of its own (``POST /training/retrain``); returns its record
        in state ``running``. ``ConflictError`` when no turn can start (one is running, or the
        backend has no suite)."""
        blocked = self._ready()
        if blocked is not None:
            raise ConflictError(f"cannot start a retraining turn: {blocked}")
        state = self.status()
        reasons = (f"requested by {actor}" + (f": {note}" if note else ""), *state.decision.reasons)
        lease = self.lease(
            "requested", actor, reasons, labels_cutoff=state.at, new_labels=dict(state.stats.new)
        )
        held = lease.__enter__()  # the lease is taken here, so a conflict answers the request

        def work() -> None:
            try:
                self._run(held)
            except BaseException as exc:  # recorded by the lease; a thread has no caller
                lease.__exit__(type(exc), exc, exc.__traceback__)
                log.exception("retraining turn %d failed", held.run.id)
            else:
                lease.__exit__(None, None, None)

        self._thread = threading.Thread(target=work, name=f"retrain-{held.run.id}", daemon=True)
        self._thread.start()
        return held.run

    def wait(self, timeout_s: float | None = None) -> bool:
        """Wait for the turn :meth:`request` started; True when none is running here."""
        thread = self._thread
        if thread is None:
            return True
        thread.join(timeout_s)
        return not thread.is_alive()

    @contextmanager
    def lease(
        self,
        trigger: str,
        actor: str,
        reasons: tuple[str, ...] | list[str],
        *,
        labels_cutoff: datetime | None = None,
        new_labels: Mapping[str, int] | None = None,
    ) -> Iterator[RunLease]:
        """Hold the one-turn lease for the block (``ConflictError`` while another turn holds
        it); the run ends ``finished`` with the block's ``summary``, or ``failed`` with the
        error the block raised (which goes on)."""
        held = RunLease(self._start(trigger, actor, tuple(reasons), labels_cutoff, new_labels))
        beat = threading.Thread(
            target=self._heartbeat, args=(held,), name=f"retrain-lease-{held.run.id}", daemon=True
        )
        beat.start()
        try:
            yield held
        except BaseException as exc:
            held._stop.set()
            beat.join()
            self._end(held, FAILED, error=f"{type(exc).__name__}: {exc}")
            raise
        held._stop.set()
        beat.join()
        self._end(held, FINISHED)

    # -- inside ---------------------------------------------------------------------------

    def _run(self, held: RunLease) -> None:
        run = held.run
        assert run.labels_cutoff is not None
        log.info("retraining turn %d (%s): %s", run.id, run.trigger, "; ".join(run.reasons))
        held.summary = self._start_turn(run.labels_cutoff, f"retrain-turn-{run.id}")

    def _start(
        self,
        trigger: str,
        actor: str,
        reasons: tuple[str, ...],
        labels_cutoff: datetime | None,
        new_labels: Mapping[str, int] | None,
    ) -> TrainingRunRecord:
        now = self._clock()
        try:
            with self.db.transaction("start a retraining turn") as uow:
                gone = uow.training_runs.abandon_expired(now)
                for run_id in gone:
                    log.warning("retraining turn %d abandoned: its lease ran out", run_id)
                run = uow.training_runs.start(
                    NewTrainingRun(
                        trigger=trigger,
                        actor=actor,
                        reasons=reasons,
                        holder=self.holder,
                        lease_expires_at=now + timedelta(seconds=self.lease_s),
                        labels_cutoff=labels_cutoff,
                        new_labels=dict(new_labels or {}),
                    ),
                    now,
                )
                uow.audit.record(
                    now,
                    actor,
                    "training.started",
                    details={"run": run.id, "trigger": trigger, "reasons": list(reasons)},
                )
        except IntegrityError:
            with self.db.transaction("read the running retraining turn") as uow:
                other = uow.training_runs.running()
            which = (
                "another turn"
                if other is None
                else f"turn {other.id} ({other.trigger}, by {other.actor}, held by "
                f"{other.holder} until {other.lease_expires_at.isoformat()})"
            )
            raise ConflictError(f"a retraining turn is already running: {which}") from None
        return run

    def _heartbeat(self, held: RunLease) -> None:
        every = self.lease_s / 3.0
        while not held._stop.wait(every):
            try:
                with self.db.transaction("renew a retraining lease") as uow:
                    kept = uow.training_runs.renew(
                        held.run.id,
                        self.holder,
                        self._clock() + timedelta(seconds=self.lease_s),
                    )
                if kept:
                    held.renewed += 1
                else:
                    log.error("retraining turn %d lost its lease", held.run.id)
            except Exception:  # the turn goes on; the next beat tries again
                log.exception("renewing the lease of retraining turn %d failed", held.run.id)

    def _end(self, held: RunLease, state: str, *, error: str | None = None) -> None:
        now = self._clock()
        with self.db.transaction("end a retraining turn") as uow:
            run = uow.training_runs.end(
                held.run.id, now, state=state, summary=held.summary, error=error
            )
            uow.audit.record(
                now,
                run.actor,
                "training.ended",
                details={
                    "run": run.id,
                    "state": state,
                    "model_version": run.model_version,
                    "gate_passed": run.gate_passed,
                    "error": error,
                },
            )
        held.run = run
        log.info("retraining turn %d %s%s", run.id, state, f": {error}" if error else "")

    def run(self, run_id: int) -> TrainingRunRecord:
        """Turn ``run_id`` (``NotFoundError`` if there is none)."""
        with self.db.transaction("read a retraining turn") as uow:
            return uow.training_runs.require(run_id)

    def runs(self, limit: int = 20) -> list[TrainingRunRecord]:
        """The newest turns first."""
        with self.db.transaction("list retraining turns") as uow:
            return uow.training_runs.list(limit=limit)
