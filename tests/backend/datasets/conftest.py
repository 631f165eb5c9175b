"""A world with accepted tasks for the datasets stage: stored frames of two vehicles, a tracked
three-frame sequence, and routing that accepts every task from its pre-labels (tier 1) except
those with vulnerable road users, which go to an annotator and a reviewer (tier 2)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from backend.annotation.labels import content_to_json
from backend.config import RoutingRuleConfig
from backend.datasets.versions import DatasetVersions
from backend.metadata.records import FrameRecord
from tests.backend.annotation.world import CAR, PEDESTRIAN, World, make_world

RULES = (
    RoutingRuleConfig("people_to_review", "count.vru > 0", tier=2),
    RoutingRuleConfig("accept_all", "prelabel.count >= 0", tier=1),
)
TRUCK = (18.0, -6.0, -0.2, 8.0, 2.5, 3.0, 2.8)


@dataclass
class Stock:
    """What :func:`stock` stored: frames by name, and the tier-2 task's id."""

    frames: dict[str, FrameRecord]
    reviewed_task: int


@pytest.fixture
def world(db_url: str, tmp_path: Path) -> Iterator[World]:
    w = make_world(tmp_path, db_url, rules=RULES)
    try:
        yield w
    finally:
        w.backend.close()


def versions_of(world: World) -> DatasetVersions:
    return DatasetVersions(world.backend.db, world.backend.blobs, world.clock)


def stock(world: World) -> Stock:
    """Five frames in four tasks: a car frame and a car-and-truck sequence of three frames on
    car-1 (tier 1), a pedestrian frame on car-1 labelled by ``ann`` and approved by ``rev``
    (tier 2), and a truck frame on car-2 (tier 1)."""
    world.person("ann", "annotator")
    world.person("rev", "reviewer")
    frames = {
        "single": world.store_frame(seed=1, detections=[("car", 0.9, CAR)]),
        "seq0": world.store_frame(
            seed=2,
            t_s=30.0,
            rules=["context:x"],
            detections=[("car", 0.8, CAR), ("truck", 0.7, TRUCK)],
        ),
        "seq1": world.store_frame(
            seed=3, t_s=30.1, detections=[("car", 0.8, CAR), ("truck", 0.7, TRUCK)]
        ),
        "seq2": world.store_frame(
            seed=4,
            t_s=30.2,
            rules=["context:x"],
            detections=[("car", 0.8, CAR), ("truck", 0.7, TRUCK)],
        ),
        "person": world.store_frame(seed=5, t_s=60.0, detections=[("pedestrian", 0.9, PEDESTRIAN)]),
        "other": world.store_frame(
            seed=6, t_s=90.0, vehicle="car-2", detections=[("truck", 0.6, TRUCK)]
        ),
    }
    world.backend.annotation.builder.sync()
    services = world.backend.annotation
    ann, rev = world.who("ann"), world.who("rev")
    lease = services.queue.next(ann, "annotate")
    view = services.editor.view(ann, lease.assignment.id)
    assert view.prelabels is not None
    body = content_to_json(view.prelabels.content)
    body["boxes"][0]["attributes"] = {"occluded": "partly", "motion": "moving"}
    services.workflow.submit(ann, lease.assignment.id, 0, body)
    world.clock.advance(600.0)  # the review comes ten minutes after the tier-1 acceptances
    review = services.queue.next(rev, "review")
    assert services.workflow.review(rev, review.assignment.id, "approve").stage == "accepted"
    return Stock(frames, lease.task.id)
