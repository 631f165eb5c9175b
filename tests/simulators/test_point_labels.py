"""Per-point ground truth: every point carries the class of the surface its ray hit and, on an
object, the object's track id; labels stay aligned with the points and reach the disk."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest

from core.classes import POINT_CLASS_IDS, POINT_CLASS_NAMES, STUFF_CLASSES
from core.formats.dataset import Dataset, FrameLabels
from core.formats.semantic_kitti import PointLabels
from simulators.drive import DriveSimulator, write_drive
from simulators.errors import SimulatorError
from simulators.meshes import rotate_about_z
from simulators.scenario import builtin_scenario
from simulators.sensors import get_preset
from simulators.world import BUILDING_Y, FURNITURE_Y, KERB_Y, SIDEWALK_HEIGHT, SIDEWALK_OUTER_Y
from tests.simulators.test_drive import box_contains

ID = POINT_CLASS_IDS
URBAN = builtin_scenario("urban")
#: the kerb stone is 0.25 m wide
KERB_OUTER_Y = KERB_Y + 0.25
#: range noise (2 cm, 5 cm in fog, one sigma) moves points along their rays: 5 sigma in fog
TOL = 0.25


def run(
    scenario: str, frames: int, seed: int
) -> list[tuple[npt.NDArray[np.float32], FrameLabels, PointLabels]]:
    sim = DriveSimulator(builtin_scenario(scenario), seed)
    out = []
    for _ in range(frames):
        points, labels = sim.frame()
        out.append((points, labels, sim.point_labels()))
    return out


def to_world(points: npt.NDArray[np.float32], labels: FrameLabels) -> npt.NDArray[np.float32]:
    """Sensor-frame points into the street's world frame (road surface at z = 0)."""
    x, y, z, _, _, yaw = labels.pose
    return rotate_about_z(np.ascontiguousarray(points[:, :3]), yaw) + np.array(
        [x, y, z], np.float32
    )


@pytest.mark.parametrize("scenario", ["urban", "rare_heavy", "rain", "fog"])
def test_labels_align_with_points_and_cover_every_point(scenario: str) -> None:
    for points, _, (semantic, instance) in run(scenario, 2, seed=3):
        assert semantic.shape == instance.shape == (points.shape[0],)
        assert semantic.dtype == instance.dtype == np.uint16
        # every surface of the street and of every object carries a class
        assert ID["unlabelled"] not in semantic
        assert set(np.unique(semantic).tolist()) <= set(POINT_CLASS_NAMES)
        # stuff (and outliers) have no instance; every object point has one
        is_stuff = np.isin(semantic, [ID[name] for name in STUFF_CLASSES])
        assert not instance[is_stuff].any() and instance[~is_stuff].all()


@pytest.mark.parametrize("scenario", ["urban", "rare_heavy"])
def test_points_in_a_box_are_its_object_and_an_objects_points_are_in_its_box(
    scenario: str,
) -> None:
    boxes = inside_total = 0
    for points, labels, (semantic, instance) in run(scenario, 6, seed=4):
        for obj in labels.objects:
            # the box stands on the road: its lowest 5 cm also hold road returns (range noise);
            # a long crosser (a deer) stepping off the kerb straddles the kerb step, whose
            # 15 cm of kerb stone and sidewalk are then inside its box too
            bottom = obj.box[2] - obj.box[5] / 2.0
            step = np.isin(semantic, [ID["curb"], ID["sidewalk"]]) & (points[:, 2] < bottom + 0.25)
            inside = box_contains(points, obj.box, 0.0) & (points[:, 2] > bottom + 0.05) & ~step
            ours = (semantic == ID[obj.class_name]) & (instance == obj.track_id)
            if inside.sum() >= 10:
                assert ours[inside].mean() > 0.95, (obj, inside.sum())
            inside_total += int(inside.sum())
            # the object's own points: its class, inside its box up to the range noise (the
            # tolerance of the box test in test_drive.py)
            own = instance == obj.track_id
            assert own.sum() == obj.num_points
            assert np.all(semantic[own] == ID[obj.class_name])
            assert box_contains(points[own], obj.box, 0.1).mean() > 0.97
            boxes += 1
    assert boxes > 40 and inside_total > 10_000


@pytest.mark.parametrize("scenario", ["urban", "rain", "fog"])
def test_street_points_carry_the_class_of_the_surface_they_lie_on(scenario: str) -> None:
    ((points, labels, (semantic, instance)),) = run(scenario, 1, seed=5)
    world = to_world(points, labels)
    y, z = np.abs(world[:, 1]), world[:, 2]

    def where(name: str) -> npt.NDArray[np.bool_]:
        mask: npt.NDArray[np.bool_] = semantic == ID[name]
        assert mask.sum() > 100, name  # each surface is seen in every frame
        return mask

    # ground at z = 0 in the road area is road, unless an object stands there or rain hangs
    ground = (np.abs(z) < 0.05) & (y < KERB_Y - 0.5) & (instance == 0) & (semantic != ID["outlier"])
    assert ground.sum() > 50_000 and np.all(semantic[ground] == ID["road"])
    # each class lies where the street puts that surface
    road = where("road")
    assert np.all(y[road] < KERB_Y + TOL) and np.all(np.abs(z[road]) < TOL)
    curb = where("curb")
    assert np.all((y[curb] > KERB_Y - TOL) & (y[curb] < KERB_OUTER_Y + TOL))
    sidewalk = where("sidewalk")
    assert np.all((y[sidewalk] > KERB_OUTER_Y - TOL) & (y[sidewalk] < SIDEWALK_OUTER_Y + TOL))
    assert np.all(np.abs(z[sidewalk] - SIDEWALK_HEIGHT) < TOL)
    assert np.all(y[where("terrain")] > SIDEWALK_OUTER_Y - TOL)
    assert np.all(y[where("building")] > BUILDING_Y - TOL)
    # lamp arms reach 1.5 m over the road from the kerb-side posts
    assert np.all(np.abs(y[where("pole")] - FURNITURE_Y) < 1.5 + TOL)
    # tree crowns (radius up to 2.4 m) overhang the kerb
    assert np.all(y[where("vegetation")] > FURNITURE_Y - 2.4 - TOL)


def test_weather_returns_are_outliers_without_instance() -> None:
    rain = builtin_scenario("rain")
    clear = dataclasses.replace(rain, weather="clear", weather_intensity=0.0)
    counts = {}
    for name, scenario in (("rain", rain), ("fog", builtin_scenario("fog")), ("clear", clear)):
        sim = DriveSimulator(scenario, 9)
        points, labels = sim.frame()
        semantic, instance = sim.point_labels()
        outlier = semantic == ID["outlier"]
        counts[name] = int(outlier.sum())
        assert not instance[outlier].any()
        # drops and fog back-scatter lie within metres of the sensor (exponential, mean 2.5 m
        # in rain, 4 m in fog, beyond the minimum range)...
        ranges = np.linalg.norm(points[outlier, :3], axis=1)
        assert counts[name] == 0 or np.median(ranges) < 8.0
        # ...and mostly in the air, where the street has no surface
        height = to_world(points[outlier], labels)[:, 2]
        assert counts[name] == 0 or np.mean(height > 0.3) > 0.8
    assert counts["clear"] == 0
    # the spurious rates of the presets (1.5 % of rays in rain, 8 % in fog, at intensity)
    sensor = get_preset(rain.sensor)
    rays = sensor.beams * sensor.columns
    assert 0.3 * 0.015 * rain.weather_intensity * rays < counts["rain"] < 0.015 * rays
    assert counts["fog"] > 4 * counts["rain"]


def test_same_seed_gives_bit_identical_point_labels() -> None:
    a, b = run("rare_heavy", 2, seed=42), run("rare_heavy", 2, seed=42)
    for (_, _, la), (_, _, lb) in zip(a, b, strict=True):
        assert la.semantic.tobytes() == lb.semantic.tobytes()
        assert la.instance.tobytes() == lb.instance.tobytes()


def test_written_drive_carries_point_labels_that_load_back(tmp_path: Path) -> None:
    meta = write_drive(URBAN, 2, seed=8, out_dir=tmp_path, progress=False)
    assert meta["point_labels"]["format"] == "semantic_kitti"
    assert meta["point_labels"]["class_ids"] == POINT_CLASS_IDS
    dataset = Dataset(tmp_path)
    assert dataset.carries_point_labels()
    for index, (points, _, expected) in enumerate(run("urban", 2, seed=8)):
        assert (tmp_path / "point_labels" / f"{index:06d}.label").stat().st_size == 4 * len(points)
        stored = dataset.point_labels(index)
        assert stored is not None
        assert np.array_equal(dataset.points(index), points)
        assert np.array_equal(stored.semantic, expected.semantic)
        assert np.array_equal(stored.instance, expected.instance)
    # an overwrite takes the old label files with the old frames
    write_drive(URBAN, 1, seed=9, out_dir=tmp_path, progress=False, overwrite=True)
    assert sorted(p.name for p in (tmp_path / "point_labels").iterdir()) == ["000000.label"]


def test_track_ids_beyond_16_bits_are_refused() -> None:
    sim = DriveSimulator(URBAN, 1)
    for actor in sim.traffic.actors:
        actor.track_id += 0x10000  # as if the drive had spawned 65536 tracks
    sim.frame()
    with pytest.raises(SimulatorError, match=r"frame 0: track id \d+ does not fit the 16-bit"):
        sim.point_labels()
