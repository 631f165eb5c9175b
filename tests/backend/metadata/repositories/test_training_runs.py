"""Retraining runs on SQLite and PostgreSQL: one running row at most (the lease), renewal by
its holder only, expiry, how a run ends, and which run the new labels are counted from."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy.exc import IntegrityError

from backend.metadata.repositories.training_runs import NewTrainingRun
from backend.metadata.unit_of_work import Database
from tests.backend.metadata.records import T0


def new(
    holder: str = "host:1", *, cutoff_s: float | None = 0.0, lease_s: float = 60.0
) -> NewTrainingRun:
    return NewTrainingRun(
        trigger="auto",
        actor="trigger",
        reasons=("250 new labels >= 200",),
        holder=holder,
        lease_expires_at=T0 + timedelta(seconds=lease_s),
        labels_cutoff=None if cutoff_s is None else T0 + timedelta(seconds=cutoff_s),
        new_labels={"car": 200, "stroller": 50},
    )


def test_one_running_run_at_most(db: Database) -> None:
    with db.transaction("t") as uow:
        first = uow.training_runs.start(new(), T0)
    assert first.state == "running" and first.new_labels == {"car": 200, "stroller": 50}
    assert first.reasons == ("250 new labels >= 200",) and first.started_at == T0
    with pytest.raises(IntegrityError), db.transaction("t") as uow:
        uow.training_runs.start(new("host:2"), T0)
    with db.transaction("t") as uow:
        assert uow.training_runs.running() == first
        ended = uow.training_runs.end(
            first.id,
            T0 + timedelta(seconds=30),
            state="finished",
            summary={"candidate": "m-2", "verdict_id": 7, "gate_passed": False},
        )
    assert (ended.model_version, ended.verdict_id, ended.gate_passed) == ("m-2", 7, False)
    assert ended.finished_at == T0 + timedelta(seconds=30)
    with db.transaction("t") as uow:  # the lease is free again
        second = uow.training_runs.start(new("host:2"), T0 + timedelta(seconds=31))
        assert uow.training_runs.running() == second
        assert [r.id for r in uow.training_runs.list()] == [second.id, first.id]


def test_only_the_holder_renews_and_an_expired_lease_is_abandoned(db: Database) -> None:
    with db.transaction("t") as uow:
        run = uow.training_runs.start(new("host:1", lease_s=60.0), T0)
        assert not uow.training_runs.renew(run.id, "host:2", T0 + timedelta(seconds=600))
        assert uow.training_runs.renew(run.id, "host:1", T0 + timedelta(seconds=120))
    with db.transaction("t") as uow:
        assert uow.training_runs.abandon_expired(T0 + timedelta(seconds=119)) == []
        assert uow.training_runs.abandon_expired(T0 + timedelta(seconds=120)) == [run.id]
    with db.transaction("t") as uow:
        gone = uow.training_runs.require(run.id)
        assert uow.training_runs.running() is None
        assert not uow.training_runs.renew(run.id, "host:1", T0 + timedelta(seconds=999))
    assert gone.state == "abandoned" and "host:1" in (gone.error or "")


def test_new_labels_count_from_the_newest_ended_run_with_a_cutoff(db: Database) -> None:
    with db.transaction("t") as uow:
        assert uow.training_runs.last_on_labels() is None
        a = uow.training_runs.start(new(cutoff_s=100.0), T0)
        uow.training_runs.end(a.id, T0, state="failed", error="boom")
        b = uow.training_runs.start(new(cutoff_s=None), T0)  # a CLI turn on a given version
        uow.training_runs.end(b.id, T0, state="finished", summary={})
        c = uow.training_runs.start(new(cutoff_s=200.0), T0)  # still running: not counted
        assert uow.training_runs.last_on_labels() == uow.training_runs.require(a.id)
        uow.training_runs.end(c.id, T0, state="finished", summary={})
        last = uow.training_runs.last_on_labels()
    assert (
        last is not None and last.id == c.id and last.labels_cutoff == T0 + timedelta(seconds=200)
    )
