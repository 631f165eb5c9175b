"""The unexplained-object-in-the-drivable-area signal."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from agent.selection.drivable import (
    TIE_BREAK,
    DrivableArea,
    MapError,
    UnexplainedSettings,
    drivable_signals,
    load_drivable_area,
    sensor_to_world_xy,
    unexplained_in_drivable,
    unexplained_values,
)
from agent.selection.signals import DetectionFacts, SignalSchema, compute_signals

#: a straight carriageway 22 m wide along world x, and an L-shaped one (concave)
ROAD = DrivableArea((np.array([[-500.0, -11.0], [500.0, -11.0], [500.0, 11.0], [-500.0, 11.0]]),))
ELL = DrivableArea(
    (np.array([[0.0, 0.0], [10.0, 0.0], [10.0, 2.0], [2.0, 2.0], [2.0, 10.0], [0, 10]]),)
)


def test_points_in_polygons_follow_the_even_odd_rule() -> None:
    pts = np.array([[1.0, 1.0], [5.0, 1.0], [5.0, 5.0], [1.0, 9.0], [-1.0, 1.0], [11.0, 1.0]])
    assert ELL.contains(pts).tolist() == [True, True, False, True, False, False]
    # clockwise winding gives the same answer
    clockwise = DrivableArea((ELL.polygons[0][::-1].copy(),))
    assert clockwise.contains(pts).tolist() == ELL.contains(pts).tolist()


def test_sensor_points_are_placed_in_the_world_by_the_pose() -> None:
    pose = (100.0, -2.0, 0.0, 0.0, 0.0, math.pi / 2)  # facing world +y
    world = sensor_to_world_xy([[10.0, 0.0], [0.0, 3.0]], pose)
    assert world == pytest.approx(np.array([[100.0, 8.0], [97.0, -2.0]]))


def boxes(*rows: tuple[float, float]) -> np.ndarray:
    """Boxes 1 x 1 x 1 m standing on the road (sensor 1.73 m above it) at sensor x, y."""
    return np.array([[x, y, -1.23, 1.0, 1.0, 1.0, 0.0] for x, y in rows])


def test_only_candidates_on_the_carriageway_that_no_confident_class_explains_count() -> None:
    pose = (0.0, -1.75, 0.0, 0.0, 0.0, 0.0)  # in the right-hand lane
    b = boxes((10.0, 0.0), (10.0, 3.0), (10.0, 15.0), (80.0, 0.0), (12.0, 1.0), (14.0, 0.0))
    names = ["background", "pedestrian", "background", "background", "car", "pedestrian"]
    conf = [0.95, 0.6, 0.99, 0.99, 0.97, 0.95]
    pts = [30, 30, 30, 30, 30, 4]
    values = unexplained_values(b, names, conf, pts, pose, ROAD)
    # background on the road: 1; a doubtful pedestrian: 1 - 0.6; on the sidewalk (world y
    # 13.25), beyond 50 m, a confident car, and 4 points: do not count or count 0
    tie = TIE_BREAK * 30 / 1000  # the point count orders equally unexplained candidates
    assert values[0] == 1.0 + tie and values[1] == pytest.approx(0.4 + tie)
    assert values[2] == -np.inf and values[3] == -np.inf
    assert values[4] == tie and values[5] == -np.inf
    assert unexplained_in_drivable(b, names, conf, pts, pose, ROAD) == 1.0 + tie


def test_flat_or_long_candidates_do_not_count() -> None:
    pose = (0.0, 0.0, 0.0, 0.0, 0.0, 0.0)
    flat = np.array([[10.0, 0.0, -1.70, 1.0, 1.0, 0.05, 0.0]])  # a patch of road, 5 cm high
    wall = np.array([[10.0, 0.0, -0.5, 12.0, 0.5, 2.5, 0.0]])  # 12 m long
    for b in (flat, wall):
        assert unexplained_values(b, ["background"], [0.9], [100], pose, ROAD)[0] == -np.inf
    assert unexplained_in_drivable(np.zeros((0, 7)), [], [], [], pose, ROAD) == -math.inf
    loose = UnexplainedSettings(max_length_m=20.0)
    value = unexplained_values(wall, ["background"], [0.9], [100], pose, ROAD, loose)[0]
    assert value == pytest.approx(1.0 + TIE_BREAK / 10)


def test_the_map_file_is_read_and_bad_files_are_named(tmp_path: Path) -> None:
    path = tmp_path / "map.json"
    path.write_text(json.dumps({"polygons": [ROAD.polygons[0].tolist()]}))
    area = load_drivable_area(path)
    assert area.contains([[0.0, 0.0], [0.0, 20.0]]).tolist() == [True, False]
    for text, problem in (
        ("{", "not a drivable-area map"),
        ('{"polygons": [[[0, 0]]]}', "polygon 0"),
    ):
        path.write_text(text)
        with pytest.raises(MapError, match=problem) as info:
            load_drivable_area(path)
        assert str(path) in str(info.value)


def test_rules_can_name_the_map_signal_only_with_a_map() -> None:
    det = DetectionFacts("background", 0.9, (10.0, 0.0, -1.23, 1.0, 1.0, 1.0, 0.0), 40)
    pose = (0.0, 0.0, 0.0, 0.0, 0.0, 0.0)
    extra = drivable_signals([det], pose, ROAD)
    assert extra["unexplained_drivable"] == pytest.approx(1.0 + TIE_BREAK * 0.04)
    assert math.isnan(drivable_signals([], pose, ROAD)["unexplained_drivable"])
    assert drivable_signals([det], pose, None) == {}
    schema = SignalSchema(("background", "car"), drivable_area=True)
    assert "unexplained_drivable" in schema.names()
    assert "unexplained_drivable" not in SignalSchema(("background", "car")).names()
    signals = compute_signals(schema, [det], {}, {}, 1000, extra)
    assert signals["unexplained_drivable"] == extra["unexplained_drivable"]
