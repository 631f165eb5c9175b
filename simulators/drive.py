"""A simulated drive: the street, the traffic and the sensor, frame after frame.

``simulate_drive`` yields ``(points, labels)`` per frame: points float32 (N, 4) in the sensor
frame, labels with boxes in the sensor frame and the sensor pose in the world frame.
``DriveSimulator.point_labels()`` gives the ground truth of every point of the last frame: the
class of the surface its ray hit (``core.classes.POINT_CLASS_IDS``; ``outlier`` for rain and fog
returns) and, for road users and rare objects, the object's track id as instance id.
``write_drive`` stores a drive in the dataset layout of DESIGN.md, point labels included.
"""

from __future__ import annotations

import logging
import math
import os
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import numpy as np
import numpy.typing as npt
from tqdm import tqdm

from core.classes import POINT_CLASS_IDS, is_rare
from core.formats.dataset import (
    LABELS_DIR,
    META_FILE,
    POINT_LABELS_DIR,
    VELODYNE_DIR,
    DatasetWriter,
    FrameLabels,
    ObjectLabel,
    wrap_yaw,
)
from core.formats.semantic_kitti import ID_MAX, PointLabels
from simulators.errors import SimulatorError
from simulators.lidar import return_model, simulate_returns
from simulators.meshes import Mesh, merge, rotate_about_z, rotation_z
from simulators.raycast import ActorHits, MeshScene, cast_street_and_actors
from simulators.scenario import Scenario
from simulators.sensors import get_preset
from simulators.streams import SENSOR, substream
from simulators.traffic import Actor, Traffic, TrafficSettings
from simulators.world import CHUNK_LENGTH, street_mesh

log = logging.getLogger(__name__)

#: the static scene covers this far behind/ahead of the ego; rebuilt when the ego nears its end
STATIC_BACK: Final = 130.0
STATIC_AHEAD: Final = 130.0
STATIC_REBUILD_EVERY: Final = 4 * CHUNK_LENGTH
#: objects farther than this (metres, horizontal) are not put into the per-frame scene
DYNAMIC_RANGE: Final = 125.0
#: the point class of returns with no surface behind them (rain drops, fog back-scatter)
OUTLIER: Final = POINT_CLASS_IDS["outlier"]
#: lane-keeping swing of the ego heading: amplitude (radians) and period (seconds)
EGO_YAW_AMPLITUDE: Final = 0.015
EGO_YAW_PERIOD: Final = 6.0


@dataclass(frozen=True)
class FrameTiming:
    """Seconds spent on one frame: scene building, ray casting and the return model."""

    scene: float
    cast: float
    post: float


class DriveSimulator:
    """Steps one drive; ``frame()`` returns the points and labels of the next frame."""

    def __init__(self, scenario: Scenario, seed: int) -> None:
        self.scenario = scenario
        self.seed = seed
        self.sensor = get_preset(scenario.sensor)
        self.model = return_model(self.sensor, scenario.weather, scenario.weather_intensity)
        self.directions = self.sensor.directions()
        self.traffic = Traffic(
            TrafficSettings(
                density=scenario.density,
                parked_fraction=scenario.parked_fraction,
                crossing_fraction=scenario.crossing_fraction,
                ego_speed=scenario.ego_speed,
                rare_rate=scenario.rare_rate,
                rare_mix=scenario.rare_mix,
                dt=1.0 / self.sensor.rate_hz,
            ),
            seed,
        )
        self.noise_rng = substream(seed, SENSOR)
        self._yaw_phase = float(substream(seed, SENSOR, 1).uniform(0.0, 2.0 * math.pi))
        self.index = 0
        self._static: MeshScene | None = None
        self._static_end = -math.inf
        self.last_timing = FrameTiming(0.0, 0.0, 0.0)
        #: per point of the last frame, the track id of the object it hit (-1: street, weather)
        self.last_point_track: npt.NDArray[np.int64] = np.zeros(0, dtype=np.int64)
        #: per point of the last frame, the point class id of the surface it hit
        self.last_point_class: npt.NDArray[np.uint16] = np.zeros(0, dtype=np.uint16)

    def _static_scene(self, ego_x: float) -> MeshScene:
        if self._static is None or ego_x + STATIC_AHEAD > self._static_end:
            lo, hi = ego_x - STATIC_BACK, ego_x + STATIC_AHEAD + STATIC_REBUILD_EVERY
            mesh, (_, last) = street_mesh(self.seed, lo, hi)
            self._static = MeshScene(mesh).commit()
            self._static_end = (last + 1) * CHUNK_LENGTH
            log.debug("static scene rebuilt for x in [%.0f, %.0f] m", lo, self._static_end)
        return self._static

    def ego_yaw(self, index: int) -> float:
        """Heading of the sensor in the world frame (radians) at frame ``index``: the street is
        straight, but lane keeping makes a real car swing by about a degree."""
        t = index / self.sensor.rate_hz
        return EGO_YAW_AMPLITUDE * math.sin(2.0 * math.pi * t / EGO_YAW_PERIOD + self._yaw_phase)

    def build_scene(self) -> FrameScene:
        """The scene of the current frame: static street plus the actors near the ego."""
        ego = self.traffic.ego
        origin = np.array([ego.x, ego.y, self.sensor.mount_height], dtype=np.float64)
        static = self._static_scene(ego.x)
        visible = [
            a for a in self.traffic.actors if math.hypot(a.x - ego.x, a.y - ego.y) < DYNAMIC_RANGE
        ]
        meshes = [_world_mesh(a) for a in visible]
        owner = np.repeat(np.arange(len(meshes), dtype=np.int64), [m.num_triangles for m in meshes])
        yaw = self.ego_yaw(self.index)
        dynamic = MeshScene(merge(meshes)).commit()
        return FrameScene(static, dynamic, owner, visible, origin, yaw)

    def frame(self) -> tuple[npt.NDArray[np.float32], FrameLabels]:
        """Simulate the next frame: points (N, 4) in the sensor frame and their labels."""
        if self.index > 0:
            self.traffic.step(self.index)
        t0 = time.perf_counter()
        scene = self.build_scene()
        t1 = time.perf_counter()
        # rays leave the sensor in its own frame; turn them into the world by the ego heading
        world_dirs = rotate_about_z(self.directions, scene.yaw)
        hits = scene.cast(world_dirs)
        t2 = time.perf_counter()
        returns = simulate_returns(
            self.directions,
            hits.t_hit,
            hits.cos_incidence,
            hits.reflectivity,
            self.model,
            self.noise_rng,
            specular=hits.specular,
        )
        # the return model drops rays (misses, dropout, range limits) and keeps the rest in ray
        # order; ``returns.ray`` names the ray of each point, so every per-ray fact is looked up
        # through it and stays aligned with the points
        point_owner = np.where(returns.spurious, -1, hits.actor[returns.ray])
        counts = np.bincount(point_owner[point_owner >= 0], minlength=len(scene.actors))
        track_of = np.array([a.track_id for a in scene.actors] + [-1], dtype=np.int64)
        self.last_point_track = track_of[point_owner]  # owner -1 picks the trailing -1
        # a weather return lies in front of whatever surface its ray hit: it is an outlier
        self.last_point_class = np.where(
            returns.spurious, np.uint16(OUTLIER), hits.point_class[returns.ray]
        )
        labels = self._labels(scene, counts)
        t3 = time.perf_counter()
        self.last_timing = FrameTiming(t1 - t0, t2 - t1, t3 - t2)
        index = self.index
        self.index += 1
        x, y, z = (float(v) for v in scene.origin)
        timestamp = round(index * 1e9 / self.sensor.rate_hz)
        return returns.points, FrameLabels(index, timestamp, (x, y, z, 0.0, 0.0, scene.yaw), labels)

    def point_labels(self) -> PointLabels:
        """Ground truth of every point of the last frame, aligned with its points: the point
        class id (uint16, ``core.classes.POINT_CLASS_IDS``) of the surface hit, and the instance
        id (uint16): the track id of the object hit, 0 for the street and for outliers.

        Track ids are stable over a drive and used unchanged; one beyond 65535 (a drive of some
        200 000 frames at about 0.3 new tracks a frame) cannot be stored in the 16-bit instance
        field and is refused with SimulatorError rather than wrapped onto an earlier track.
        """
        track = self.last_point_track
        if track.size and int(track.max()) > ID_MAX:
            raise SimulatorError(
                f"frame {self.index - 1}: track id {int(track.max())} does not fit the 16-bit "
                f"instance id of a point label (at most {ID_MAX}); simulate shorter drives"
            )
        return PointLabels(self.last_point_class, np.maximum(track, 0).astype(np.uint16))

    def _labels(self, scene: FrameScene, counts: npt.NDArray[np.int64]) -> tuple[ObjectLabel, ...]:
        out = []
        c, s = math.cos(scene.yaw), math.sin(scene.yaw)
        for actor, count in zip(scene.actors, counts, strict=True):
            if count < self.scenario.min_points or actor.model is None:
                continue
            length, width, height = actor.model.size
            dx, dy = actor.x - scene.origin[0], actor.y - scene.origin[1]
            box = (
                float(c * dx + s * dy),
                float(-s * dx + c * dy),
                float(actor.ground_z + height / 2.0 - scene.origin[2]),
                length,
                width,
                height,
                wrap_yaw(actor.yaw - scene.yaw),
            )
            out.append(ObjectLabel(actor.model.class_name, actor.track_id, box, int(count)))
        return tuple(out)


@dataclass(frozen=True)
class FrameScene:
    """What the sensor sees in one frame: the static and per-frame meshes, which actor owns each
    per-frame triangle, the sensor position (world, metres) and heading (radians)."""

    static: MeshScene
    dynamic: MeshScene
    owner: npt.NDArray[np.int64]
    actors: list[Actor]
    origin: npt.NDArray[np.float64]
    yaw: float

    def cast(self, world_dirs: npt.NDArray[np.float32]) -> ActorHits:
        """Nearest hits of rays from the sensor along ``world_dirs`` (R, 3), world frame."""
        origin = self.origin.astype(np.float32)
        return cast_street_and_actors(self.static, self.dynamic, self.owner, origin, world_dirs)


def _world_mesh(actor: Actor) -> Mesh:
    assert actor.model is not None
    centre = (actor.x, actor.y, actor.ground_z + actor.model.size[2] / 2.0)
    return actor.model.mesh.transformed(rotation_z(actor.yaw), centre)


def simulate_drive(
    scenario: Scenario, frames: int, seed: int
) -> Iterator[tuple[npt.NDArray[np.float32], FrameLabels]]:
    """Yield ``frames`` frames of a drive: points float32 (N, 4) x, y, z, intensity in the
    sensor frame and their labels (index from 0, timestamps at the sensor rate, ego pose in the
    world frame). The same ``scenario`` and ``seed`` give bit-identical frames."""
    sim = DriveSimulator(scenario, seed)
    for _ in range(frames):
        yield sim.frame()


def _prepare_output(root: Path, overwrite: bool) -> None:
    if root.exists() and not root.is_dir():
        raise SimulatorError(f"{root}: exists and is not a directory")
    old = [root / META_FILE] if (root / META_FILE).exists() else []
    old += sorted((root / VELODYNE_DIR).glob("*.bin")) + sorted((root / LABELS_DIR).glob("*.json"))
    old += sorted((root / POINT_LABELS_DIR).glob("*.label"))
    if old and not overwrite:
        raise SimulatorError(
            f"{root}: already holds a dataset ({len(old)} files); choose an empty directory "
            "or pass overwrite"
        )
    for path in old:
        path.unlink()


def write_drive(
    scenario: Scenario,
    frames: int,
    seed: int,
    out_dir: str | os.PathLike[str],
    progress: bool = True,
    overwrite: bool = False,
) -> dict[str, Any]:
    """Simulate ``frames`` frames into ``out_dir`` (dataset layout of DESIGN.md: points, boxes
    and per-point labels); returns the meta. ``meta.json`` is written last, so a directory
    without it holds an interrupted drive.
    A directory that already holds a dataset is refused unless ``overwrite``, which first
    removes its frames and meta (and nothing else)."""
    if frames < 1:
        raise SimulatorError(f"frames must be at least 1, got {frames}")
    sensor = get_preset(scenario.sensor)
    _prepare_output(Path(out_dir), overwrite)
    writer = DatasetWriter(out_dir)
    classes: Counter[str] = Counter()
    frames_with_rare = 0
    sim = DriveSimulator(scenario, seed)
    bar = tqdm(
        range(frames), total=frames, desc=f"sim {scenario.name}", unit="frame", disable=not progress
    )
    for _ in bar:
        points, labels = sim.frame()
        writer.write_frame(points, labels, sim.point_labels())
        names = labels.class_names()
        classes.update(names)
        frames_with_rare += any(is_rare(n) for n in names)
    meta = {
        "generator": "longtail.simulators",
        "sensor": {
            "preset": sensor.name,
            "beams": sensor.beams,
            "columns": sensor.columns,
            "rate_hz": sensor.rate_hz,
            "mount_height_m": sensor.mount_height,
            "max_range_m": sensor.max_range,
            "elevations_deg": list(sensor.elevations_deg),
        },
        "seed": seed,
        "scenario": scenario.to_dict(),
        "scenario_name": scenario.name,
        "frames": frames,
        "class_counts": dict(sorted(classes.items())),
        "frames_with_rare": frames_with_rare,
    }
    meta = writer.write_meta(meta)
    log.info("wrote %d frames of %r (seed %d) to %s", frames, scenario.name, seed, Path(out_dir))
    return meta
