"""A retraining turn with ``[training] weak_supervision`` on: the champion labels the pool
frames no task holds, those labels extend the training split, and the turn's summary says how
many weak objects per class it trained on."""

from __future__ import annotations

from pathlib import Path

from backend.release.turn import turn_on_accepted_labels
from backend.training.sets import TrainingSet
from tests.backend.annotation.world import CAR, PEDESTRIAN
from tests.backend.datasets.conftest import stock
from tests.backend.training.turn_world import turn_world


def test_a_turn_with_weak_supervision_trains_on_weak_labels(
    tiny_package: Path, drives: dict[str, Path], tmp_path: Path
) -> None:
    world = turn_world(tiny_package, drives, tmp_path, weak_supervision=True, weak_share=0.8)
    try:
        stock(world)  # accepted labels in four tasks
        for i in range(4):  # frames no task holds: the pool
            world.store_frame(
                seed=100 + i,
                t_s=500.0 + 0.1 * i,
                vehicle="car-3",
                detections=[("car", 0.9, CAR), ("pedestrian", 0.9, PEDESTRIAN)],
            )
        world.clock.advance(1)
        summary = turn_on_accepted_labels(world.backend, world.clock(), "weak-turn")
        weak = summary["weak_objects"]
        assert weak and sum(weak.values()) > 0
        ts = TrainingSet.open(tmp_path / "training" / "sets" / summary["training_set"])
        assert ts.weak_objects() == weak
        assert ts.manifest["summary"]["weak_frames"] > 0
        assert {g["kind"] for g in ts.groups("val")} <= {"new", "replay"}
        assert any((tmp_path / "training" / "weak").rglob("weak.json"))
    finally:
        world.backend.close()
