"""Road users over many steps (no ray casting): rates, tracks, no collisions."""

from __future__ import annotations

import math

import numpy as np

from core.classes import RARE_CLASSES
from simulators.traffic import Traffic, TrafficSettings
from simulators.world import KERB_Y

DENSITY = {"car": 8.0, "truck": 1.0, "bus": 0.4, "pedestrian": 7.0, "cyclist": 1.5}


def settings(rate: float = 0.0) -> TrafficSettings:
    return TrafficSettings(
        density=DENSITY,
        parked_fraction=0.35,
        crossing_fraction=0.1,
        ego_speed=10.0,
        rare_rate=rate,
        rare_mix=dict.fromkeys(RARE_CLASSES, 1.0),
    )


def test_rare_events_start_at_the_configured_rate() -> None:
    rate, steps = 0.05, 2500
    traffic = Traffic(settings(rate), seed=11)
    initial = traffic.rare_events_started
    present = []
    for frame in range(1, steps + 1):
        traffic.step(frame)
        present.append(sum(a.rare for a in traffic.actors))
    # binomial: mean 125, sigma ~10.9; 5 sigma cannot pass by accident with a wrong rate
    sigma = math.sqrt(steps * rate * (1 - rate))
    assert abs(traffic.rare_events_started - initial - steps * rate) < 5 * sigma
    # each stays while the ego covers the 210 m window (10 m/s): ~rate * 210 in it at a time,
    # and the drive starts in that steady state
    assert 0.5 * rate * 210 < np.mean(present) < 1.3 * rate * 210
    assert 0 < initial < 3 * rate * 210


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
        # traffic drives over debris and cones (``Actor.blocks``): those may lie under a car
        fp = traffic._footprints([a for a in [*traffic.actors, traffic.ego] if a.blocks])
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
