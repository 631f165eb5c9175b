"""Re-scoring after each new model, on SQLite and PostgreSQL, with the vehicle's real runtime:
promoting a champion wakes the periodic job (through the registry's promotion hook), every
pending task's key frame is scored by that champion and the queue follows the active-learning
order; tasks in progress and gold tasks keep their priority."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from backend.annotation.active import FrameFeature, active_order, strict_priorities
from backend.annotation.rescoring import (
    ACTOR,
    ActiveRescorer,
    RescoreReport,
    embedding_of,
    score_setting,
    wake_on_promote,
    weights_of,
)
from backend.errors import ConflictError
from backend.metadata.repositories.task_scores import TaskScoreRecord
from backend.periodic import Periodic
from backend.release.registry import register_baseline
from tests.backend.annotation.world import CAR, PEDESTRIAN, World, make_world
from tests.backend.release.conftest import make_package

#: a second car beside the first, and a cyclist-sized box, so frames differ in what they show
CAR_2 = (18.0, -6.0, -0.9, 4.5, 1.9, 1.5, 1.2)
SMALL = (5.0, 4.0, -1.0, 1.7, 0.6, 1.6, 0.4)
#: seconds a promotion may take to be seen by the job on a loaded 2-core machine (the job is
#: woken at once; this only bounds a failure)
WAIT_S = 240.0


@pytest.fixture
def world(tmp_path: Path, db_url: str) -> Iterator[World]:
    w = make_world(tmp_path, db_url)
    try:
        yield w
    finally:
        w.backend.close()


def store_tasks(w: World) -> list[int]:
    """Five single-frame tasks, oldest first: an empty road (no candidate), then frames with
    objects; every one with the same builder priority, so the builder's order is by id."""
    scenes = [[], [CAR], [CAR, PEDESTRIAN], [CAR, CAR_2, SMALL], [PEDESTRIAN, SMALL]]
    for i, boxes in enumerate(scenes):
        w.store_frame(
            seed=10 + i,
            detections=[("car", 0.5, box) for box in boxes],
            t_s=10.0 * i,
            # priority + (1 - lowest confidence): 1.5 for all (the road has no detection)
            priority=1.0 if boxes else 1.5,
        )
    report = w.backend.annotation.builder.sync()
    assert len(report.created) == len(scenes) and not report.auto_accepted
    return sorted(report.created)


def wait_for(rescorer: ActiveRescorer, version: str) -> RescoreReport:
    deadline = time.monotonic() + WAIT_S
    while time.monotonic() < deadline:
        last = rescorer.last
        assert last is None or last.error is None, last.error
        if last is not None and last.model_version == version and not rescorer.running:
            return last
        time.sleep(0.1)
    raise AssertionError(f"no re-scoring with {version} within {WAIT_S} s: {rescorer.last}")


def queue_order(w: World) -> list[int]:
    """The annotate queue as the work queue reads it (ordinary tasks)."""
    with w.backend.db.transaction("t") as uow:
        return [t.id for t in uow.tasks.candidates("annotate", gold=False, limit=100)]


def scores(w: World, ids: list[int]) -> dict[int, TaskScoreRecord]:
    with w.backend.db.transaction("t") as uow:
        return uow.task_scores.of_tasks(ids)


def test_a_new_champion_rescores_and_reorders_the_pending_tasks(
    world: World, tmp_path: Path
) -> None:
    w = world
    rescorer = w.backend.active
    ids = store_tasks(w)
    assert queue_order(w) == ids  # equal builder priorities: oldest first
    builder = {t: 1.5 for t in ids}  # trigger priority 1 + (1 - confidence 0.5)
    job = Periodic("active-learning", 3600.0, rescorer.tick, wake=rescorer.wake).start()
    try:
        first = register_baseline(w.backend.release.registry).version  # promoted: wakes the job
        report = wait_for(rescorer, first)
        assert (report.trigger, report.pending, report.scored, report.placed) == (
            "periodic",
            5,
            5,
            5,
        )
        assert report.unreadable == 0
        stored = scores(w, ids)
        assert {s.score.model_version for s in stored.values()} == {first}
        assert {s.score.score_name for s in stored.values()} == {
            score_setting(w.backend.config.active)
        }
        assert all(s.builder_priority == pytest.approx(1.5) for s in stored.values())
        empty = stored[ids[0]].score
        assert (empty.candidates, empty.uncertainty, empty.embedding) == (0, 0.0, None)
        assert all(stored[t].score.candidates > 0 for t in ids[1:])

        # the queue now follows the order recomputed from what was stored
        order = queue_order(w)
        features = [
            FrameFeature(
                stored[t].score.uncertainty,
                embedding_of(stored[t].score.embedding),
                stored[t].score.kind,
                stored[t].score.candidates,
            )
            for t in ids
        ]
        expected = active_order(features, weights_of(w.backend.config.active))
        assert order == [ids[i] for i in expected.order.tolist()]
        assert order != ids and order[-1] == ids[0]  # reordered: the empty road goes last
        ranks = {t: stored[t].placement.queue_rank for t in ids}  # type: ignore[union-attr]
        assert sorted(ids, key=ranks.__getitem__) == order
        with w.backend.db.transaction("t") as uow:
            priorities = [uow.tasks.require(t).priority for t in order]
        assert priorities == pytest.approx(strict_priorities(list(builder.values())))

        # someone opens the first task; a gold task joins the queue
        w.person("ann", "annotator")
        lease = w.backend.annotation.queue.next(w.who("ann"), "annotate")
        opened = lease.task.id
        assert opened == order[0]
        gold = w.backend.annotation.gold.create(
            [stored[ids[1]].score.frame_id], {}, calibration=False, author="admin"
        )
        with w.backend.db.transaction("t") as uow:
            before = {t: uow.tasks.require(t).priority for t in (opened, gold.id)}

        # ordered again with the same champion, the opened task is an anchor: even the first
        # pending task is measured against it
        forced = rescorer.run(force=True)
        assert (forced.model_version, forced.pending, forced.scored, forced.placed) == (
            first,
            4,
            4,
            4,
        )
        stored = scores(w, ids)
        leader = min(
            (t for t in ids if t != opened),
            key=lambda t: stored[t].placement.queue_rank,  # type: ignore[union-attr]
        )
        assert stored[leader].placement.distance is not None  # type: ignore[union-attr]

        # the next champion: promoted through the registry, seen by the job at once
        second = "second-champion"
        registry = w.backend.release.registry
        registry.register(
            make_package(tmp_path, second),
            run_id=None,
            dataset_digest=None,
            parent_version=first,
            metrics={},
        )
        registry.promote(second, actor="admin")
        report = wait_for(rescorer, second)
        pending = [t for t in ids if t != opened]
        assert (report.pending, report.scored, report.placed) == (4, 4, 4)
        again = scores(w, ids)
        assert {again[t].score.model_version for t in pending} == {second}
        assert again[opened].score.model_version == first  # in progress: left alone
        assert gold.id not in scores(w, [gold.id])
        with w.backend.db.transaction("t") as uow:
            after = {t: uow.tasks.require(t).priority for t in (opened, gold.id)}
            rescored = [e for e in uow.audit.list(actor=ACTOR) if e.action == "queue.rescored"]
        assert after == before
        assert [e.details["model_version"] for e in rescored] == [first, first, second]
        assert [e.details["anchors"] for e in rescored] == [0, 1, 0]
        places = {t: again[t].placement for t in pending}
        assert all(p is not None for p in places.values())
        ranked = sorted(pending, key=lambda t: places[t].queue_rank)  # type: ignore[union-attr]
        assert [t for t in queue_order(w) if t in pending] == ranked
        # the opened task's embedding is the first champion's: no anchor for the second's
        assert places[ranked[0]].distance is None  # type: ignore[union-attr]
    finally:
        job.stop()


def test_a_run_without_a_champion_does_nothing_and_a_request_is_refused(world: World) -> None:
    w = world
    ids = store_tasks(w)
    report = w.backend.active.run()
    assert report.model_version is None and report.scored == 0
    assert scores(w, ids) == {}
    with pytest.raises(ConflictError, match="no model is the champion"):
        w.backend.active.request("admin")


def test_a_requested_run_rescores_even_current_scores(world: World) -> None:
    w = world
    ids = store_tasks(w)
    version = register_baseline(w.backend.release.registry).version
    assert w.backend.active.run().scored == 5
    w.clock.advance(60.0)
    quiet = w.backend.active.tick()
    assert quiet is not None and (quiet.scored, quiet.placed) == (0, 0)  # nothing new
    started = w.backend.active.request("admin")
    assert started.pending == 5 and started.model_version == version
    assert w.backend.active.wait(WAIT_S)
    last = w.backend.active.last
    assert last is not None and (last.trigger, last.scored, last.placed) == ("request", 5, 5)
    assert {s.score.scored_at for s in scores(w, ids).values()} == {w.clock()}


def test_the_promotion_hook_wakes_the_job_only_after_a_commit(world: World) -> None:
    event = threading.Event()
    hook = wake_on_promote(event)
    with pytest.raises(RuntimeError), world.backend.db.transaction("t") as uow:
        hook(uow, "v2", "admin", world.clock())
        raise RuntimeError("the promotion fails")
    assert not event.is_set()  # rolled back: nothing to re-score
    with world.backend.db.transaction("t") as uow:
        hook(uow, "v2", "admin", world.clock())
        assert not event.is_set()  # the job would not see the champion yet
    assert event.is_set()
