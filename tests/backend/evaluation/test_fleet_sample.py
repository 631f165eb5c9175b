"""The fleet's monitoring sample for the drift check: only ``random_sample`` frames, newest first,
damaged payloads left out; and the turn's drift, not reported on too few frames."""

from __future__ import annotations

from pathlib import Path

import pytest

from backend.evaluation.drift import frame_statistics
from backend.evaluation.fleet_sample import monitoring_statistics
from backend.release.turn import MIN_DRIFT_FRAMES, suite_drift
from core.formats.codec import decode_frame
from tests.backend.annotation.world import CAR, World, make_world


@pytest.fixture
def world(tmp_path: Path) -> World:
    return make_world(tmp_path)


def test_only_the_random_sample_is_read_newest_first_and_damage_is_left_out(
    world: World, caplog: pytest.LogCaptureFixture
) -> None:
    stored = []
    for i, rules in enumerate(
        [
            ("random_sample",),
            ("novel_object",),
            ("random_sample", "novel_object"),
            ("random_sample",),
        ]
    ):
        world.clock.advance(10)
        stored.append(
            world.store_frame(
                seed=i,
                t_s=float(i),
                rules=rules,
                received_ago_s=0.0,
                detections=[("car", 0.9, CAR)],
            )
        )
    try:
        expected = [
            frame_statistics(decode_frame(world.backend.blobs.get(f.blob_key)))
            for f in reversed(stored)
            if "random_sample" in f.rules_fired
        ]
        got = monitoring_statistics(world.backend.db, world.backend.blobs)
        assert got == expected  # the selected-only frame is not part of the sample
        assert monitoring_statistics(world.backend.db, world.backend.blobs, limit=1) == expected[:1]
        world.backend.blobs.put(stored[-1].blob_key, b"not a frame")
        assert monitoring_statistics(world.backend.db, world.backend.blobs) == expected[1:]
        assert f"monitoring frame {stored[-1].id} left out" in caplog.text
    finally:
        world.backend.close()


def test_the_turns_drift_is_reported_from_enough_frames_only() -> None:
    def stats(n: float) -> dict[str, float]:
        return {"num_points": n, "mean_range_m": 20.0, "far_share": 0.1, "mean_intensity": 0.3}

    suite = [stats(100_000.0 + i) for i in range(30)]
    assert suite_drift(suite, [stats(50_000.0)] * (MIN_DRIFT_FRAMES - 1)) is None
    sparse = suite_drift(suite, [stats(50_000.0 + i) for i in range(MIN_DRIFT_FRAMES)])
    assert sparse is not None and sparse.worst == "num_points" and sparse.value == 1.0
    assert (sparse.suite_frames, sparse.fleet_frames) == (30, MIN_DRIFT_FRAMES)
