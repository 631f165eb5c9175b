"""Road users over many steps (no ray casting): rates, tracks, no collisions."""

from __future__ import annotations

import math

import numpy as np

from core.classes import RARE_CLASSES
from simulators.traffic import Traffic, TrafficSettings
from simulators.world import KERB_Y

DENSITY = {"car": 8.0, "truck": 1.0, "bus": 0.4, "pedestrian": 7.0, "cyclist": 1.5}


def settings(rate: float = 0.0, frames: tuple[int, int] = (4, 10)) -> TrafficSettings:
    return TrafficSettings(
        density=DENSITY,
        parked_fraction=0.35,
        crossing_fraction=0.1,
        ego_speed=10.0,
        rare_rate=rate,
        rare_mix=dict.fromkeys(RARE_CLASSES, 1.0),
        rare_frames=frames,
    )


def test_rare_events_start_at_the_configured_rate() -> None:
    rate, steps = 0.08, 2500
    traffic = Traffic(settings(rate, (3, 7)), seed=11)
    present = 0
    for frame in range(1, steps + 1):
        traffic.step(frame)
        present += any(a.rare for a in traffic.actors)
    # binomial: mean 200, sigma ~13.6; 5 sigma cannot pass by accident with a wrong rate
    sigma = math.sqrt(steps * rate * (1 - rate))
    assert abs(traffic.rare_events_started - steps * rate) < 5 * sigma
    # events last 3-7 frames (5 on average): a rare object is present in ~rate * 5 of frames
    assert 0.6 * rate * 5 < present / steps < 1.1 * rate * 5


def test_no_rare_objects_without_a_rate() -> None:
    traffic = Traffic(settings(0.0), seed=1)
    for frame in range(1, 300):
        traffic.step(frame)
        assert not any(a.rare for a in traffic.actors)
    assert traffic.rare_events_started == 0


def test_tracks_are_stable_and_actors_never_overlap() -> None:
    traffic = Traffic(settings(0.1), seed=5)
    seen: dict[int, tuple[str, tuple[float, float, float]]] = {}
    x0 = traffic.ego.x
    for frame in range(1, 600):
        traffic.step(frame)
        ids = [a.track_id for a in traffic.actors]
        assert len(ids) == len(set(ids))
        for a in traffic.actors:
            assert a.model is not None
            identity = (a.model.class_name, a.model.size)
            assert seen.setdefault(a.track_id, identity) == identity
        fp = traffic._footprints([*traffic.actors, traffic.ego])
        overlap = (
            (fp[:, None, 0] < fp[None, :, 1] - 0.05)
            & (fp[:, None, 1] > fp[None, :, 0] + 0.05)
            & (fp[:, None, 2] < fp[None, :, 3] - 0.05)
            & (fp[:, None, 3] > fp[None, :, 2] + 0.05)
        )
        np.fill_diagonal(overlap, False)
        assert not overlap.any(), f"frame {frame}: actors overlap"
    # the ego drove on (it may have waited for people crossing)
    assert 0.8 * 599 * 1.0 < traffic.ego.x - x0 <= 599 * 1.0 + 1e-6
    classes = {name for name, _ in seen.values()}
    assert {"car", "truck", "bus", "pedestrian", "cyclist"} <= classes
    assert len(classes & set(RARE_CLASSES)) >= 5


def test_vehicles_keep_to_the_road_and_people_to_the_sidewalk() -> None:
    traffic = Traffic(settings(0.0), seed=2)
    for frame in range(1, 200):
        traffic.step(frame)
        for a in traffic.actors:
            assert a.model is not None
            _, hy = a.half_extent()
            if a.model.class_name in ("car", "truck", "bus", "cyclist"):
                assert abs(a.y) + hy <= KERB_Y + 1e-6
                # along the street, give or take a parking angle
                assert min(abs(a.yaw), abs(abs(a.yaw) - math.pi)) <= 0.106
            elif a.mover != "cross":
                assert abs(a.y) - hy > KERB_Y
