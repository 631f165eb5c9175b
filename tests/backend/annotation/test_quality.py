"""Overlap consensus, the senior panel, gold scoring and calibration, and the QA report, through
the services on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from backend.annotation import gold, store
from backend.annotation.reports import report
from backend.config import RoutingRuleConfig
from backend.errors import PermissionDeniedError, UnavailableError
from backend.metadata.records import FrameRecord
from tests.backend.annotation.world import CAR, PEDESTRIAN, World, make_world

OVERLAP = (RoutingRuleConfig("overlap", "priority > -1000", tier=3, overlap=3),)


@pytest.fixture
def world(db_url: str, tmp_path: Path) -> Iterator[World]:
    w = make_world(tmp_path, db_url, rules=OVERLAP, min_agreement=0.6)
    try:
        yield w
    finally:
        w.backend.close()


def labels(frame: FrameRecord, *boxes: tuple[str, tuple[float, ...]]) -> dict[str, Any]:
    return {
        "boxes": [
            {
                "id": f"b{i}",
                "frame_id": frame.id,
                "track_id": i + 1,
                "class_name": c,
                "box": list(b),
            }
            for i, (c, b) in enumerate(boxes)
        ]
    }


def shifted(box: tuple[float, ...], dx: float) -> tuple[float, ...]:
    return (box[0] + dx, *box[1:])


def annotate_all(world: World, people: list[str], bodies: list[dict[str, Any]]) -> Any:
    outcome = None
    for name, body in zip(people, bodies, strict=True):
        lease = world.backend.annotation.queue.next(world.who(name), "annotate")
        outcome = world.backend.annotation.workflow.submit(
            world.who(name), lease.assignment.id, 0, body
        )
    return outcome


def test_consensus_fuses_three_annotators_and_records_the_votes(world: World) -> None:
    people = ["a1", "a2", "a3"]
    for p in people:
        world.person(p, "annotator")
    frame = world.store_frame(
        seed=1, detections=[("car", 0.5, CAR), ("pedestrian", 0.5, PEDESTRIAN)]
    )
    world.backend.annotation.builder.sync()
    outcome = annotate_all(
        world,
        people,
        [
            labels(frame, ("car", CAR), ("pedestrian", PEDESTRIAN)),
            labels(frame, ("car", shifted(CAR, 0.1)), ("pedestrian", PEDESTRIAN)),
            labels(frame, ("truck", shifted(CAR, -0.1)), ("pedestrian", PEDESTRIAN)),
        ],
    )
    assert outcome.stage == "accepted"
    with world.backend.db.transaction("t") as uow:
        task = uow.tasks.require(outcome.task_id)
        fused = store.content(uow, outcome.accepted_label_set_id)
        votes = [v for v in uow.votes.recent() if v.task_id == task.id]
    assert sorted(b.class_name for b in fused.boxes) == ["car", "pedestrian"]
    car = next(b for b in fused.boxes if b.class_name == "car")
    assert car.box[0] == pytest.approx(CAR[0])  # the median centre
    assert task.agreement is not None and 0.6 < task.agreement < 1.0
    assert len(votes) == 6 and {v.worker for v in votes} == set(people)


def test_disagreement_goes_to_the_senior_panel(world: World) -> None:
    people = ["a1", "a2", "a3"]
    for p in people:
        world.person(p, "annotator")
    world.person("sen", "senior")
    frame = world.store_frame(seed=2, detections=[("car", 0.5, CAR)])
    world.backend.annotation.builder.sync()
    outcome = annotate_all(
        world,
        people,
        [
            labels(frame, ("car", CAR)),
            labels(frame, ("pedestrian", PEDESTRIAN)),
            labels(frame),
        ],
    )
    assert outcome.stage == "adjudicate"
    with pytest.raises(PermissionDeniedError):
        world.backend.annotation.queue.next(world.who("a1"), "adjudicate")
    lease = world.backend.annotation.queue.next(world.who("sen"), "adjudicate")
    assert lease.label_set_id is not None  # the consensus proposal
    done = world.backend.annotation.workflow.adjudicate(
        world.who("sen"), lease.assignment.id, fixed=labels(frame, ("car", CAR)), comment="car only"
    )
    assert done.stage == "accepted"
    with world.backend.db.transaction("t") as uow:
        accepted = store.content(uow, done.accepted_label_set_id)  # type: ignore[arg-type]
        actions = [e.action for e in uow.audit.list(task_id=done.task_id)]
    assert [b.class_name for b in accepted.boxes] == ["car"]
    assert "task.escalated" in actions and actions[-1] == "task.accepted"


def test_gold_calibration_passes_the_careful_and_flags_the_spammer(tmp_path: Path) -> None:
    w = make_world(tmp_path, calibration_tasks=2, min_gold_accuracy=0.5)
    try:
        w.person("boss", "admin")
        w.person("careful", "annotator", calibrated=False)
        w.person("spammer", "annotator", calibrated=False)
        frames = [
            w.store_frame(seed=10 + i, t_s=20 * i, detections=[("car", 0.9, CAR)]) for i in range(2)
        ]
        with w.backend.db.transaction("t") as uow:
            uow.webhooks.add("http://127.0.0.1:9/hook", "s" * 32, ["qa.alert"], "boss", w.clock())
        for f in frames:
            w.backend.annotation.gold.create(
                [f.id],
                labels(f, ("car", CAR), ("pedestrian", PEDESTRIAN)),
                calibration=True,
                author="boss",
            )
        for name in ("careful", "spammer"):
            for _ in frames:
                lease = w.backend.annotation.queue.next(w.who(name), "annotate")
                assert lease.task.is_calibration
                f = next(x for x in frames if x.id == lease.task.frame_ids[0])
                body = (
                    labels(f, ("car", shifted(CAR, 0.05)), ("pedestrian", PEDESTRIAN))
                    if name == "careful"
                    else labels(f, ("bus", (-20, -20, -1, 3, 3, 3, 0)))
                )
                w.backend.annotation.workflow.submit(w.who(name), lease.assignment.id, 0, body)
        with w.backend.db.transaction("t") as uow:
            states = {p.name: p.calibration for p in uow.people.list()}
            scores = {s.user: s.accuracy for s in uow.reviews.gold_scores()}
            alerts = [d for d in uow.webhooks.deliveries() if d.event == "qa.alert"]
        assert states["careful"] == "passed" and states["spammer"] == "flagged"
        assert scores["careful"] == pytest.approx(1.0) and scores["spammer"] == 0.0
        assert [a.payload["user"] for a in alerts] == ["spammer"]
        with pytest.raises(PermissionDeniedError, match="flagged"):
            w.backend.annotation.queue.next(w.who("spammer"), "annotate")
        with w.backend.db.transaction("t") as uow:
            qa = report(uow, w.backend.config.annotation, w.clock())
        figures = {p.name: p for p in qa.people}
        assert figures["careful"].gold_tasks == 2 and figures["careful"].gold_accuracy == 1.0
        assert figures["spammer"].calibration == "flagged"
    finally:
        w.backend.close()


def test_hidden_gold_reviews_reach_reviewers_but_never_the_labeller(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A gold submission copied into a hidden review task is handed to a reviewer like any
    review, scored on their decision, and never handed back to the person who labelled it."""
    w = make_world(tmp_path, calibration_tasks=0, gold_share=1.0)
    try:
        w.person("boss", "admin")
        w.person("ann", "annotator")
        w.person("rev", "reviewer")
        frame = w.store_frame(seed=3, detections=[("car", 0.9, CAR)])
        monkeypatch.setattr(gold, "GOLD_REVIEW_SHARE", 1.0)  # every gold submission is copied
        w.backend.annotation.gold.create(
            [frame.id], labels(frame, ("car", CAR)), calibration=False, author="boss"
        )
        lease = w.backend.annotation.queue.next(w.who("rev"), "annotate")
        assert lease.task.is_gold
        w.backend.annotation.workflow.submit(
            w.who("rev"), lease.assignment.id, 0, labels(frame, ("car", shifted(CAR, 0.05)))
        )
        with pytest.raises(UnavailableError):  # the reviewer's own gold labels
            w.backend.annotation.queue.next(w.who("rev"), "review")
        w.person("rev2", "reviewer")
        hidden = w.backend.annotation.queue.next(w.who("rev2"), "review")
        assert hidden.task.is_gold and hidden.task.stage == "review"
        outcome = w.backend.annotation.workflow.review(
            w.who("rev2"), hidden.assignment.id, "approve"
        )
        assert outcome.stage == "closed"
        with w.backend.db.transaction("t") as uow:
            checks = [s for s in uow.reviews.gold_scores(kind=None) if s.kind == "review"]
        assert [(c.user, c.accuracy) for c in checks] == [("rev2", 1.0)]
    finally:
        w.backend.close()
