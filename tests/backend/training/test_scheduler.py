"""The retraining trigger wired to a real metadata database (SQLite and PostgreSQL): accepted
boxes counted per class since the last turn, the policy firing a turn, one turn at a time
across processes (the lease), failures and abandoned leases recorded."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from backend.annotation import store
from backend.errors import ConflictError, TrainingError
from backend.training.scheduler import RetrainScheduler
from backend.training.triggers import TriggerPolicy
from tests.backend.annotation.world import CAR, World, make_world
from tests.backend.datasets.conftest import RULES, stock


@pytest.fixture
def world(db_url: str, tmp_path: Path) -> Iterator[World]:
    w = make_world(tmp_path, db_url, rules=RULES)
    try:
        yield w
    finally:
        w.backend.close()


class Turns:
    """``start_turn`` for the scheduler: records its calls, answers with a summary, and can be
    held mid-turn (``gate``) or made to fail (``error``)."""

    def __init__(self) -> None:
        self.calls: list[tuple[datetime, str]] = []
        self.gate: threading.Event | None = None
        self.started = threading.Event()
        self.error: Exception | None = None

    def __call__(self, labels_cutoff: datetime, name: str) -> dict[str, Any]:
        self.calls.append((labels_cutoff, name))
        self.started.set()
        if self.gate is not None:
            assert self.gate.wait(30), "the test never let the turn finish"
        if self.error is not None:
            raise self.error
        return {
            "candidate": f"m-{len(self.calls)}",
            "verdict_id": 40 + len(self.calls),
            "gate_passed": True,
        }


def scheduler(world: World, turns: Turns, **kw: Any) -> RetrainScheduler:
    options: dict[str, Any] = {"auto": True, "holder": "host-a:1", **kw}
    policy = options.pop("policy", TriggerPolicy(min_new_labels=5, slice_share=None))
    return RetrainScheduler(world.backend.db, policy, turns, world.clock, **options)


def accepted_boxes(world: World) -> dict[str, int]:
    """Per class, the boxes of every accepted non-gold task, read label set by label set."""
    counts: dict[str, int] = {}
    with world.backend.db.transaction("count") as uow:
        for task in uow.tasks.all():
            if task.stage != "accepted" or task.is_gold or task.accepted_label_set_id is None:
                continue
            for box in store.content(uow, task.accepted_label_set_id).boxes:
                counts[box.class_name] = counts.get(box.class_name, 0) + 1
    return counts


def test_the_counts_are_the_accepted_boxes_and_the_policy_reads_them(world: World) -> None:
    stock(world)
    truth = accepted_boxes(world)
    assert sum(truth.values()) >= 5 and {"car", "truck", "pedestrian"} <= set(truth)
    status = scheduler(world, Turns()).status()
    assert status.since is None and status.last_run is None and status.running is None
    assert dict(status.stats.new) == dict(status.stats.total) == truth
    assert status.decision.due
    assert status.decision.reasons == (f"{sum(truth.values())} new labels >= 5",)
    assert status.blocked is None
    quiet = scheduler(world, Turns(), policy=TriggerPolicy(min_new_labels=1000, slice_share=None))
    assert not quiet.status().decision.due


def test_a_due_trigger_runs_one_turn_and_the_next_counts_from_its_cutoff(world: World) -> None:
    stock(world)
    turns = Turns()
    assert scheduler(world, turns, auto=False).tick() is None  # auto_trigger off: nothing
    assert turns.calls == []
    s = scheduler(world, turns)
    # a label accepted at the cutoff itself belongs to the next turn (the version takes those
    # accepted before it): the stock's last acceptance is now, so the turn comes a second later
    world.clock.advance(1)
    cutoff = world.clock()
    run = s.tick()
    assert run is not None and turns.calls == [(cutoff, f"retrain-turn-{run.id}")]
    assert run.state == "finished" and run.trigger == "auto" and run.actor == "trigger"
    assert (run.model_version, run.verdict_id, run.gate_passed) == ("m-1", 41, True)
    assert run.labels_cutoff == cutoff and run.new_labels == accepted_boxes(world)
    after = s.status()
    assert after.since == cutoff and after.last_run == run
    assert dict(after.stats.new) == {} and dict(after.stats.total) == accepted_boxes(world)
    assert not after.decision.due and s.tick() is None and len(turns.calls) == 1
    # a task accepted after the cutoff is new
    world.clock.advance(60)
    world.store_frame(seed=7, t_s=200.0, detections=[("car", 0.9, CAR)])
    world.backend.annotation.builder.sync()
    assert dict(s.status().stats.new) == {"car": 1}
    with world.backend.db.transaction("audit") as uow:
        actions = [e.action for e in uow.audit.list(limit=1000) if e.action.startswith("training.")]
    assert sorted(actions) == ["training.ended", "training.started"]


def test_one_turn_at_a_time_across_processes(world: World) -> None:
    stock(world)
    turns = Turns()
    turns.gate = threading.Event()
    a = scheduler(world, turns)
    b = scheduler(world, Turns(), holder="host-b:2")
    try:
        running = a.request("boss", "new strollers")
        assert turns.started.wait(30)
        assert (
            running.state == "running" and running.reasons[0] == "requested by boss: new strollers"
        )
        with pytest.raises(
            ConflictError, match=f"turn {running.id} \\(requested, by boss, held by host-a:1"
        ):
            b.request("other")
        with pytest.raises(ConflictError, match="already running"), b.lease("cli", "cli", ["x"]):
            pass
        assert b.tick() is None  # due, but blocked by the running turn
        status = b.status()
        assert status.running is not None and status.running.id == running.id
        assert status.blocked is not None and f"turn {running.id} is running" in status.blocked
    finally:
        turns.gate.set()
    assert a.wait(30)
    done = a.run(running.id)
    assert done.state == "finished" and done.model_version == "m-1" and len(turns.calls) == 1
    assert b.request("other").id > running.id  # the lease is free again
    assert b.wait(30)


def test_a_failed_turn_is_recorded_with_its_error(world: World) -> None:
    stock(world)
    turns = Turns()
    turns.error = TrainingError("training set abc: no validation candidates")
    s = scheduler(world, turns)
    with pytest.raises(TrainingError, match="no validation candidates"):
        s.tick()  # the periodic job logs it and goes on at its next tick
    run = s.runs()[0]
    assert run.state == "failed" and run.model_version is None
    assert run.error == "TrainingError: training set abc: no validation candidates"
    requested = s.request("boss")
    assert s.wait(30) and s.run(requested.id).state == "failed"
    assert s.status().running is None


def test_a_backend_that_cannot_turn_refuses_a_request(world: World) -> None:
    stock(world)
    s = scheduler(world, Turns(), ready=lambda: "no edge-case suite is configured")
    with pytest.raises(ConflictError, match="cannot start a retraining turn: no edge-case suite"):
        s.request("boss")
    assert s.tick() is None and s.runs() == []
    assert s.status().blocked == "no edge-case suite is configured"


def test_an_expired_lease_is_abandoned_and_the_heartbeat_keeps_a_live_one(world: World) -> None:
    stock(world)
    turns = Turns()
    turns.gate = threading.Event()
    a = scheduler(world, turns, lease_s=0.3)
    try:
        first = a.request("boss")
        assert turns.started.wait(30)
        world.clock.advance(100)
        deadline = time.monotonic() + 10
        while a.run(first.id).lease_expires_at < world.clock():  # beats every 0.1 s
            assert time.monotonic() < deadline, "the lease was never renewed"
            time.sleep(0.02)
        assert a.run(first.id).lease_expires_at == world.clock() + timedelta(seconds=0.3)
    finally:
        turns.gate.set()
    assert a.wait(30)
    # a holder that died: its row stays running until its lease runs out
    dead = scheduler(world, Turns(), holder="host-dead:9", lease_s=60.0)
    with world.backend.db.transaction("a crashed turn") as uow:
        from backend.metadata.repositories.training_runs import NewTrainingRun

        crashed = uow.training_runs.start(
            NewTrainingRun(
                "auto",
                "trigger",
                ("x",),
                dead.holder,
                world.clock() + timedelta(seconds=60),
                world.clock(),
                {},
            ),
            world.clock(),
        )
    b = scheduler(world, Turns(), holder="host-b:2")
    with pytest.raises(ConflictError, match="host-dead:9"):
        b.request("boss")
    world.clock.advance(61)
    second = b.request("boss")
    assert b.wait(30)
    gone = b.run(crashed.id)
    assert gone.state == "abandoned" and "lease expired" in (gone.error or "")
    assert b.run(second.id).state == "finished"


def test_the_serving_process_runs_the_trigger_only_when_auto_trigger_is_on(
    world: World, tmp_path: Path
) -> None:
    from dataclasses import replace

    from backend.config import TrainingConfig
    from backend.training.scheduler import policy_from_config
    from backend.wiring import background_jobs, build_backend

    assert "retrain-trigger" not in [j.name for j in background_jobs(world.backend)]
    config = replace(
        world.backend.config,
        training=replace(
            TrainingConfig(), auto_trigger=True, trigger_check_s=42.0, trigger_slice_share=0.0
        ),
    )
    backend = build_backend(config, clock=world.clock)
    try:
        job = next(j for j in background_jobs(backend) if j.name == "retrain-trigger")
        assert job.interval_s == 42.0 and job.job == backend.training.tick
        assert backend.training.auto and backend.training.policy.slice_share is None  # 0: off
        stock(World(backend, world.clock))
        status = backend.training.status()
        assert status.decision.due is False  # 9 boxes < the default 200
        assert status.blocked == "no edge-case suite is configured ([training] suite)"
        assert job.job() is None and backend.training.runs() == []
    finally:
        backend.close()
    policy = policy_from_config(
        replace(TrainingConfig(), trigger_min_new_labels=0, trigger_interval_s=3600.0)
    )
    assert policy.min_new_labels is None and policy.interval == timedelta(hours=1)
