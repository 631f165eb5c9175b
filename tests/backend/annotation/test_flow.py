"""The annotation workflow through its services, on SQLite and PostgreSQL: stored frames become
pre-labelled tasks routed by rule, leases, versioned saves, submit, review with rejection and
return, approval, and the audit and webhook records each step leaves."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from backend.annotation.labels import content_to_json
from backend.annotation.workflow import BoxVerdict
from backend.config import RoutingRuleConfig
from backend.errors import (
    InvalidInputError,
    LeaseError,
    PermissionDeniedError,
    StaleVersionError,
    UnavailableError,
)
from tests.backend.annotation.world import CAR, PEDESTRIAN, World, make_world

TIER2_ONLY = (RoutingRuleConfig("everything_to_tier_2", "priority > -1000", tier=2),)


@pytest.fixture
def world(db_url: str, tmp_path: Path) -> Iterator[World]:
    w = make_world(tmp_path, db_url, rules=TIER2_ONLY)
    try:
        yield w
    finally:
        w.backend.close()


def labels_of(world: World, task_id: int, source: str) -> dict[str, object]:
    with world.backend.db.transaction("t") as uow:
        from backend.annotation import store

        found = [s for s in uow.label_sets.of_task(task_id) if s.source == source]
        return content_to_json(store.content(uow, found[-1].id))


def test_context_frames_join_the_key_frame_as_one_tracked_sequence(world: World) -> None:
    frames = [
        world.store_frame(seed=i, t_s=0.1 * i, rules=rules, detections=[("car", 0.8, CAR)])
        for i, rules in enumerate(
            (["context:novel_object"], ["novel_object"], ["context:novel_object"])
        )
    ]
    far = world.store_frame(seed=9, t_s=30.0, rules=["random_sample"], detections=[])
    report = world.backend.annotation.builder.sync()
    assert len(report.created) == 2 and report.skipped == 0
    with world.backend.db.transaction("t") as uow:
        tasks = {t.key_frame_id: t for t in uow.tasks.all()}
    sequence = tasks[frames[1].id]
    assert sequence.frame_ids == tuple(f.id for f in frames)  # capture order
    assert tasks[far.id].frame_ids == (far.id,)
    prelabels = labels_of(world, sequence.id, "prelabel")
    boxes = prelabels["boxes"]
    assert isinstance(boxes, list) and len(boxes) == 3
    assert len({b["track_id"] for b in boxes}) == 1  # one car, one track across the frames
    assert all(b["score"] == pytest.approx(0.8) for b in boxes)
    points = prelabels["points"]
    assert isinstance(points, dict) and set(points) == {f.id for f in frames}
    assert world.backend.annotation.builder.sync().created == []  # idempotent


def test_routing_rules_decide_the_tier_and_record_the_rule(tmp_path: Path) -> None:
    w = make_world(
        tmp_path,
        rules=(
            RoutingRuleConfig("vru", "count.vru > 0", tier=3, overlap=3),
            RoutingRuleConfig("confident", "prelabel.min_confidence >= 0.9", tier=1),
        ),
    )
    try:
        ped = w.store_frame(seed=1, detections=[("pedestrian", 0.95, PEDESTRIAN)])
        sure = w.store_frame(seed=2, t_s=20, detections=[("car", 0.97, CAR)])
        unsure = w.store_frame(seed=3, t_s=40, detections=[("car", 0.4, CAR)])
        w.backend.annotation.builder.sync()
        with w.backend.db.transaction("t") as uow:
            by_key = {t.key_frame_id: t for t in uow.tasks.all()}
            routing = {k: uow.tasks.routing(t.id) for k, t in by_key.items()}
        assert (by_key[ped.id].tier, by_key[ped.id].overlap, by_key[ped.id].stage) == (
            3,
            3,
            "annotate",
        )
        assert (by_key[sure.id].tier, by_key[sure.id].stage) == (1, "accepted")
        assert by_key[sure.id].accepted_label_set_id is not None  # the pre-labels
        assert (by_key[unsure.id].tier, by_key[unsure.id].stage) == (2, "annotate")
        rules = {k: (r.rule if r is not None else None) for k, r in routing.items()}
        assert rules == {ped.id: "vru", sure.id: "confident", unsure.id: "default"}
        unsure_routing = routing[unsure.id]
        assert unsure_routing is not None
        assert unsure_routing.signals["prelabel.min_confidence"] == pytest.approx(0.4)
    finally:
        w.backend.close()


def test_tier_2_save_stale_save_reject_return_and_approve(world: World) -> None:
    world.person("ann", "annotator")
    world.person("rev", "reviewer")
    world.store_frame(seed=1, detections=[("car", 0.7, CAR)])
    world.backend.annotation.builder.sync()
    services = world.backend.annotation
    ann, rev = world.who("ann"), world.who("rev")

    lease = services.queue.next(ann, "annotate")
    assert (
        services.queue.next(ann, "annotate").assignment.id == lease.assignment.id
    )  # one at a time
    view = services.editor.view(ann, lease.assignment.id)
    assert view.working is not None and view.working.version == 0 and view.prelabels is not None
    body = content_to_json(view.prelabels.content)  # accept the pre-labels as a start
    v1 = services.editor.save(ann, lease.assignment.id, 0, body, draft=True)
    assert v1 == 1
    with pytest.raises(StaleVersionError) as stale:
        services.editor.save(ann, lease.assignment.id, 0, body, draft=True)  # an old tab
    assert stale.value.current_version == 1
    with pytest.raises(PermissionDeniedError):
        services.queue.next(ann, "review")  # annotators do not review

    outcome = services.workflow.submit(ann, lease.assignment.id, 1)
    assert outcome.stage == "review"
    with pytest.raises(LeaseError, match="submitted"):
        services.editor.save(ann, lease.assignment.id, 1, body, draft=True)

    review = services.queue.next(rev, "review")
    box_id = body["boxes"][0]["id"]
    with pytest.raises(InvalidInputError, match="reason code"):
        services.workflow.review(rev, review.assignment.id, "reject")
    outcome = services.workflow.review(
        rev,
        review.assignment.id,
        "reject",
        box_verdicts=[BoxVerdict(box_id, ("bad_extent",), "too long at the back")],
    )
    assert outcome.stage == "annotate"

    again = services.queue.next(ann, "annotate")  # the same annotator gets it back first
    assert again.task.id == lease.task.id and again.label_set_id == lease.label_set_id
    returned = services.editor.view(ann, again.assignment.id)
    assert [r.box_verdicts[0]["comment"] for r in returned.reviews] == ["too long at the back"]
    assert returned.working is not None and returned.working.version == 1
    fixed = content_to_json(returned.working.content)
    fixed["boxes"][0]["box"][3] = 4.0
    services.workflow.submit(ann, again.assignment.id, 1, fixed)

    second = services.queue.next(rev, "review")
    outcome = services.workflow.review(rev, second.assignment.id, "approve")
    assert outcome.stage == "accepted" and outcome.accepted_label_set_id == lease.label_set_id
    with world.backend.db.transaction("t") as uow:
        actions = [e.action for e in uow.audit.list(task_id=lease.task.id)]
        saves = [
            e for e in uow.audit.list(task_id=lease.task.id) if e.action.startswith("labels.saved")
        ]
        pending = uow.webhooks.deliveries()
    assert actions[0] == "task.created" and actions[-1] == "task.accepted"
    assert "review.reject" in actions and "task.returned" in actions
    changed = saves[-1].details["changed"]
    assert changed[0]["fields"] == ["box"] and changed[0]["before"]["box"][3] != 4.0
    assert pending == []  # no subscriber: nothing queued
    with pytest.raises(UnavailableError):
        services.queue.next(rev, "review")


def test_an_expired_lease_returns_the_task_and_refuses_the_old_holder(world: World) -> None:
    world.person("a", "annotator")
    world.person("b", "annotator")
    world.store_frame(seed=1, detections=[("car", 0.7, CAR)])
    world.backend.annotation.builder.sync()
    services = world.backend.annotation
    first = services.queue.next(world.who("a"), "annotate")
    with pytest.raises(UnavailableError):
        services.queue.next(world.who("b"), "annotate")  # the only slot is held
    world.clock.advance(world.backend.config.annotation.lease_s + 1)
    second = services.queue.next(world.who("b"), "annotate")
    assert second.task.id == first.task.id
    with pytest.raises(LeaseError, match="expired"):
        services.editor.save(world.who("a"), first.assignment.id, 0, {"boxes": []}, draft=True)
    renewed = services.queue.renew(world.who("b"), second.assignment.id)
    assert renewed.assignment.lease_expires_at is not None
    assert renewed.assignment.lease_expires_at > world.clock() + services.queue.lease_time * 0.99


@pytest.mark.parametrize(
    ("box", "message"),
    [
        ([10, 2, -0.9, -4.2, 1.8, 1.6, 0.3], "l must be in"),
        ([10, 2, -0.9, 4.2, 0.0, 1.6, 0.3], "w must be in"),
        ([float("nan"), 2, -0.9, 4.2, 1.8, 1.6, 0.3], "x must be finite"),
        ([900, 2, -0.9, 4.2, 1.8, 1.6, 0.3], "outside the frame"),
        ([10, 2, -0.9, 4.2, 1.8, 1.6], "7 numbers"),
    ],
)
def test_invalid_boxes_are_refused_by_name_and_store_nothing(
    world: World, box: list[float], message: str
) -> None:
    world.person("a", "annotator")
    frame = world.store_frame(seed=1, detections=[("car", 0.7, CAR)])
    world.backend.annotation.builder.sync()
    lease = world.backend.annotation.queue.next(world.who("a"), "annotate")
    body = {
        "boxes": [
            {"id": "b1", "frame_id": frame.id, "track_id": 1, "class_name": "car", "box": box}
        ]
    }
    with pytest.raises(InvalidInputError, match=message):
        world.backend.annotation.editor.save(
            world.who("a"), lease.assignment.id, 0, body, draft=True
        )
    for bad, why in (
        ({"class_name": "unicorn"}, "not an object class"),
        ({"class_name": "road"}, "not an object class"),
        ({"attributes": {"occluded": "totally"}}, "occluded='totally'"),
        ({"attributes": {"colour": "red"}}, "unknown attribute 'colour'"),
        ({"frame_id": "f" * 64}, "not a frame of this task"),
    ):
        entry = {
            "id": "b1",
            "frame_id": frame.id,
            "track_id": 1,
            "class_name": "car",
            "box": list(CAR),
        }
        entry.update(bad)
        with pytest.raises(InvalidInputError, match=why):
            world.backend.annotation.editor.save(
                world.who("a"), lease.assignment.id, 0, {"boxes": [entry]}, draft=True
            )
    view = world.backend.annotation.editor.view(world.who("a"), lease.assignment.id)
    assert view.working is not None and view.working.version == 0


def test_a_released_task_is_free_at_once_and_comes_back_to_its_holder(world: World) -> None:
    """The labelling tool releases the lease when its page goes away: the slot is free for
    anyone at once, and the person who left (or reloaded the page) gets the task back, with the
    work they saved, while nobody else has taken it."""
    world.person("a", "annotator")
    world.person("b", "annotator")
    world.store_frame(seed=1, detections=[("car", 0.7, CAR)])
    world.backend.annotation.builder.sync()
    services = world.backend.annotation
    a, b = world.who("a"), world.who("b")
    first = services.queue.next(a, "annotate")
    frame = first.task.frame_ids[0]
    box = {"id": "b1", "frame_id": frame, "track_id": 1, "class_name": "car", "box": list(CAR)}
    services.editor.save(a, first.assignment.id, 0, {"boxes": [box]}, draft=True)
    services.queue.release(a, first.assignment.id)
    with pytest.raises(LeaseError, match="released, not leased"):
        services.editor.save(a, first.assignment.id, 1, {"boxes": []}, draft=True)
    back = services.queue.next(a, "annotate")  # a reloaded page asks again
    assert back.assignment.id == first.assignment.id and back.assignment.state == "active"
    working = services.editor.view(a, back.assignment.id).working
    assert working is not None and [bx.id for bx in working.content.boxes] == ["b1"]
    services.queue.release(a, back.assignment.id)  # a closes the page
    taken = services.queue.next(b, "annotate")  # at once, no lease expiry
    assert taken.task.id == first.task.id and taken.assignment.user == "b"
    with pytest.raises(UnavailableError):
        services.queue.next(a, "annotate")  # b holds it now: a does not get it back
