"""Road users over a drive: spawning, moving and retiring actors with stable track ids.

World frame as in ``simulators.world`` (street along +x). Actors live in a window around the ego
vehicle; streams (a lane, a bike lane, a walking lane, a parking strip) keep a steady density by
letting actors flow in at the window edge where their motion relative to the ego brings them in.
Everything that moves along x follows the actor ahead of it in its y-band (cars queue behind a
crossing pedestrian or a crashed car), and people crossing the road wait for whatever moves along the street in their way.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Final

import numpy as np

from simulators.shapes import ObjectModel, build_object
from simulators.streams import RARE, SHAPE, TRAFFIC, substream
from simulators.world import (
    BIKE_LANES,
    EGO_LANE_Y,
    KERB_Y,
    LANES,
    PARKING_Y,
    SIDEWALK_HEIGHT,
    STAND_LANE,
    WALK_LANES,
)

WINDOW_BACK: Final = 100.0  # metres behind the ego kept populated
WINDOW_FRONT: Final = 110.0  # metres ahead
EGO_LENGTH: Final = 4.6
EGO_WIDTH: Final = 1.85
VEHICLES: Final = ("car", "truck", "bus")
ROAD_HAZARDS: Final = ("traffic_cone", "construction_barrier", "debris", "overturned_car")
SIDEWALK_RARE: Final = ("stroller", "wheelchair_user", "person_with_object", "dog")
SMALL_RARE: Final = ("traffic_cone", "debris", "dog")
#: speed ranges (m/s) of a lane of cars (25-50 km/h), a bike lane and a walking lane
LANE_SPEED: Final = (7.0, 14.0)
CYCLE_SPEED: Final = (4.0, 7.0)
WALK_SPEED: Final = (1.0, 1.6)
#: one-sigma heading error (radians) of parked and of moving vehicles, clipped at 3 sigma
PARKED_YAW_SPREAD: Final = 0.035
DRIVING_YAW_SPREAD: Final = 0.01
#: share of the sidewalk pedestrians standing still
STANDING_SHARE: Final = 0.2
#: hazards a car drives over or around without stopping (everything else in a lane queues traffic)
DRIVE_OVER: Final = ("traffic_cone", "debris")
#: where people (and deer) start to cross, metres ahead of the ego along x: ordinary and rare alike
CROSSING_AHEAD: Final = (-20.0, 80.0)
#: retries to find a free spot for a rare actor before its event is skipped
RARE_ATTEMPTS: Final = 12


@dataclass
class Actor:
    """One road user: box centre (x, y) and heading ``yaw`` in the world frame (metres,
    radians), standing on ``ground_z``; ``speed`` m/s along ``vx``/``vy`` unit direction."""

    track_id: int
    model: ObjectModel | None  # None for the ego vehicle, which the sensor does not see
    x: float
    y: float
    yaw: float
    speed: float
    mover: str  # "lane" (along x, follows), "cross" (along y, yields), "static"
    direction: int = 1
    rare: bool = False
    blocks: bool = True  # False: traffic drives over or around it (debris, a cone)
    min_gap: float = 2.0
    target_y: float = 0.0
    size: tuple[float, float, float] = field(default=(0.0, 0.0, 0.0))

    def __post_init__(self) -> None:
        if self.model is not None:
            self.size = self.model.size

    @property
    def ground_z(self) -> float:
        return SIDEWALK_HEIGHT if abs(self.y) > KERB_Y else 0.0

    def half_extent(self) -> tuple[float, float]:
        """Half sizes (x, y) of the footprint's axis-aligned bounds, metres."""
        c, s = abs(math.cos(self.yaw)), abs(math.sin(self.yaw))
        length, width = self.size[0] / 2.0, self.size[1] / 2.0
        return length * c + width * s, length * s + width * c


@dataclass(frozen=True)
class Stream:
    """Actors of ``classes`` (weights) entering a y-band at ``density`` per metre of road."""

    classes: tuple[str, ...]
    weights: tuple[float, ...]
    y: float
    direction: int
    speed: float
    density: float
    mover: str
    min_gap: float
    y_jitter: float = 0.0


@dataclass(frozen=True)
class TrafficSettings:
    """What ``Traffic`` needs from a scenario: densities (instances per 100 m of street),
    the parked and crossing shares, the ego speed (m/s) and the rare-event settings."""

    density: dict[str, float]
    parked_fraction: float
    crossing_fraction: float
    ego_speed: float
    rare_rate: float
    rare_mix: dict[str, float]
    dt: float = 0.1


class Traffic:
    """The actors of one drive; ``step(frame)`` advances them by one sensor period."""

    def __init__(self, settings: TrafficSettings, seed: int) -> None:
        self.settings = settings
        self.seed = seed
        self.rng = substream(seed, TRAFFIC)
        self.rare_rng = substream(seed, RARE)
        self._next_id = 1
        self.ego = Actor(0, None, 0.0, EGO_LANE_Y, 0.0, settings.ego_speed, "lane", 1)
        self.ego.size = (EGO_LENGTH, EGO_WIDTH, 1.5)
        self.actors: list[Actor] = []
        self.streams = self._streams()
        self.rare_events_started = 0
        self.ego_velocity = settings.ego_speed  # m/s along +x over the last step
        self._fill()
        self._fill_rare()

    # -- set-up -------------------------------------------------------------------------------
    def _streams(self) -> list[Stream]:
        s = self.settings
        rng = self.rng
        per_m = {name: s.density.get(name, 0.0) / 100.0 for name in s.density}
        streams: list[Stream] = []
        parked = {"car": s.parked_fraction, "truck": s.parked_fraction, "bus": 0.0}
        moving = {v: per_m.get(v, 0.0) * (1.0 - parked[v]) for v in VEHICLES}
        total_moving = sum(moving.values())
        if total_moving > 0:
            weights = tuple(moving[v] / total_moving for v in VEHICLES)
            for y, direction in LANES:
                # the ego's lane flows at the ego's speed; the others at their own city speed
                speed = s.ego_speed if y == EGO_LANE_Y else rng.uniform(*LANE_SPEED)
                streams.append(
                    Stream(VEHICLES, weights, y=y, direction=direction, speed=speed,
                           density=total_moving / len(LANES), mover="lane", min_gap=2.5,
                           y_jitter=0.2)
                )  # fmt: skip
        total_parked = sum(per_m.get(v, 0.0) * parked[v] for v in VEHICLES)
        if total_parked > 0:
            weights = tuple(per_m.get(v, 0.0) * parked[v] / total_parked for v in VEHICLES)
            for side in (-1, 1):
                # parked facing the traffic of their side of the street
                streams.append(
                    Stream(VEHICLES, weights, y=side * PARKING_Y, direction=-side, speed=0.0,
                           density=total_parked / 2, mover="static", min_gap=1.0, y_jitter=0.1)
                )  # fmt: skip
        if per_m.get("cyclist", 0.0) > 0:
            for y, direction in BIKE_LANES:
                streams.append(
                    Stream(("cyclist",), (1.0,), y=y, direction=direction,
                           speed=rng.uniform(*CYCLE_SPEED), density=per_m["cyclist"] / 2,
                           mover="lane", min_gap=1.5, y_jitter=0.15)
                )  # fmt: skip
        walkers = per_m.get("pedestrian", 0.0) * (1.0 - s.crossing_fraction)
        if walkers > 0:
            walking = walkers * (1.0 - STANDING_SHARE) / (2 * len(WALK_LANES))
            for side in (-1, 1):
                for y in WALK_LANES:
                    streams.append(
                        Stream(("pedestrian",), (1.0,), y=side * y,
                               direction=int(rng.choice([-1, 1])), speed=rng.uniform(*WALK_SPEED),
                               density=walking, mover="lane", min_gap=0.6, y_jitter=0.1)
                    )  # fmt: skip
                streams.append(
                    Stream(("pedestrian",), (1.0,), y=side * STAND_LANE, direction=1, speed=0.0,
                           density=walkers * STANDING_SHARE / 2, mover="static", min_gap=0.5,
                           y_jitter=0.1)
                )  # fmt: skip
        return streams

    def _new_id(self) -> int:
        track = self._next_id
        self._next_id += 1
        return track

    def _spawn(self, stream: Stream, x: float) -> None:
        rng = self.rng
        name = stream.classes[int(rng.choice(len(stream.classes), p=stream.weights))]
        track = self._new_id()
        model = build_object(name, substream(self.seed, SHAPE, track))
        yaw = 0.0 if stream.direction > 0 else math.pi
        if stream.mover == "static" and name == "pedestrian":
            yaw = rng.uniform(-math.pi, math.pi)
        elif name in VEHICLES:
            # nobody parks or drives perfectly straight: parked up to ~6 deg off, moving ~1 deg
            spread = PARKED_YAW_SPREAD if stream.mover == "static" else DRIVING_YAW_SPREAD
            yaw += float(np.clip(rng.normal(0.0, spread), -3 * spread, 3 * spread))
        y = stream.y + rng.uniform(-stream.y_jitter, stream.y_jitter)
        actor = Actor(
            track,
            model,
            x,
            y,
            yaw,
            stream.speed,
            stream.mover,
            stream.direction,
            min_gap=stream.min_gap,
        )
        if name in VEHICLES:  # a wide, skewed truck in the parking strip stays off the kerb
            limit = KERB_Y - actor.half_extent()[1]
            actor.y = float(np.clip(actor.y, -limit, limit))
        if self._is_free(actor, margin=stream.min_gap):
            self.actors.append(actor)

    def _fill(self) -> None:
        lo, hi = self.ego.x - WINDOW_BACK, self.ego.x + WINDOW_FRONT
        for stream in self.streams:
            count = self.rng.poisson(stream.density * (hi - lo))
            for x in np.sort(self.rng.uniform(lo, hi, count)):
                self._spawn(stream, float(x))

    # -- geometry -----------------------------------------------------------------------------
    def _footprints(self, actors: Sequence[Actor]) -> np.ndarray:
        """``(n, 4)`` float64 rows x_lo, x_hi, y_lo, y_hi."""
        out = np.empty((len(actors), 4))
        for i, a in enumerate(actors):
            hx, hy = a.half_extent()
            out[i] = (a.x - hx, a.x + hx, a.y - hy, a.y + hy)
        return out

    def _is_free(self, actor: Actor, margin: float) -> bool:
        others = [*self.actors, self.ego]
        fp = self._footprints(others)
        hx, hy = actor.half_extent()
        clear = (
            (fp[:, 1] + margin < actor.x - hx)
            | (fp[:, 0] - margin > actor.x + hx)
            | (fp[:, 3] + 0.1 < actor.y - hy)
            | (fp[:, 2] - 0.1 > actor.y + hy)
        )
        return bool(clear.all())

    # -- one step -----------------------------------------------------------------------------
    def step(self, frame: int) -> None:
        """Advance every actor (and the ego) by one period; ``frame`` is the new frame index."""
        dt = self.settings.dt
        ego_x = self.ego.x
        self._move(dt)
        # inflow follows how far the ego really went (it may have waited for someone crossing)
        self.ego_velocity = (self.ego.x - ego_x) / dt
        self._inflow(dt)
        self._rare(frame)
        lo, hi = self.ego.x - WINDOW_BACK, self.ego.x + WINDOW_FRONT
        self.actors = [
            a
            for a in self.actors
            if lo <= a.x <= hi
            and not (a.mover == "cross" and a.direction * (a.y - a.target_y) >= 0)
        ]

    def _move(self, dt: float) -> None:
        everyone = [*self.actors, self.ego]
        fp = self._footprints(everyone)
        x = np.array([a.x for a in everyone])
        lane = [i for i, a in enumerate(everyone) if a.mover == "lane" and a.speed > 0]
        advance = {}
        if lane:
            rows = np.array(lane)
            d = np.array([everyone[i].direction for i in lane], dtype=np.float64)
            dx = (x[None, :] - x[rows, None]) * d[:, None]
            overlap = (fp[None, :, 2] < fp[rows, None, 3] - 0.05) & (
                fp[None, :, 3] > fp[rows, None, 2] + 0.05
            )
            half = (fp[:, 1] - fp[:, 0]) / 2.0
            gap = dx - half[rows, None] - half[None, :]
            ahead = overlap & (dx > 0) & np.array([a.blocks for a in everyone])[None, :]
            ahead[np.arange(len(lane)), rows] = False
            nearest = np.where(ahead, gap, np.inf).min(axis=1)
            for k, i in enumerate(lane):
                a = everyone[i]
                advance[i] = max(0.0, min(a.speed * dt, float(nearest[k]) - a.min_gap))
        for i, step in advance.items():
            everyone[i].x += everyone[i].direction * step
        # People crossing wait for anything moving along the street that is in the way; those
        # in turn keep their distance to the crosser, so neither side can lock the other.
        others = self._footprints([a for a in everyone if a.mover != "cross"])
        for a in everyone:
            if a.mover != "cross":
                continue
            hx, hy = a.half_extent()
            ny = a.y + a.direction * a.speed * dt
            blocked = (
                (others[:, 0] - 0.5 < a.x + hx)
                & (others[:, 1] + 0.5 > a.x - hx)
                & (others[:, 2] - 0.5 < ny + hy)
                & (others[:, 3] + 0.5 > ny - hy)
            )
            if not blocked.any():
                a.y = ny

    def _inflow(self, dt: float) -> None:
        ego_v = self.ego_velocity
        lo, hi = self.ego.x - WINDOW_BACK, self.ego.x + WINDOW_FRONT
        for stream in self.streams:
            rel = stream.direction * stream.speed - ego_v
            if abs(rel) < 1e-6 or stream.y == EGO_LANE_Y:
                continue
            for _ in range(self.rng.poisson(stream.density * abs(rel) * dt)):
                offset = self.rng.uniform(0.0, abs(rel) * dt)
                self._spawn(stream, hi - offset if rel < 0 else lo + offset)
        crossing = (
            self.settings.density.get("pedestrian", 0.0) / 100.0 * self.settings.crossing_fraction
        )
        # crossers live ~(2 * kerb / 1.3 m/s) seconds; keep their density over the window steady
        rate = crossing * (hi - lo) * dt * 1.3 / (2 * KERB_Y)
        for _ in range(self.rng.poisson(rate)):
            actor = self._crossing_actor(
                "pedestrian",
                self.rng,
                self.ego.x + self.rng.uniform(*CROSSING_AHEAD),
                self.rng.uniform(*WALK_SPEED),
                rare=False,
            )
            if self._is_free(actor, margin=0.5):
                self.actors.append(actor)

    def _crossing_actor(
        self,
        name: str,
        rng: np.random.Generator,
        x: float,
        speed: float,
        rare: bool,
    ) -> Actor:
        """Someone (or a deer) about to cross the street at ``x`` from a random side."""
        side = int(rng.choice([-1, 1]))
        track = self._new_id()
        model = build_object(name, substream(self.seed, SHAPE, track))
        y0 = side * (KERB_Y + 0.1)  # on the kerb stone: clear of the trees, poles and walkers
        return Actor(
            track,
            model,
            x,
            y0,
            -side * math.pi / 2 + rng.normal(0.0, 0.1),
            speed,
            "cross",
            -side,
            rare=rare,
            target_y=-y0,
        )

    # -- rare events --------------------------------------------------------------------------
    # A rare actor follows the rules of the ordinary actors of its kind: it enters at the window
    # edge ahead (110 m, beyond where the sensor resolves an object of its size) like a parked
    # car, a cyclist or a walker the ego catches up with, or starts to cross where ordinary
    # people start to cross; it stays until it has crossed or the ego has left it 100 m behind.
    def _rare(self, frame: int) -> None:
        s = self.settings
        rng = self.rare_rng
        if s.rare_rate <= 0 or not s.rare_mix or rng.random() >= s.rare_rate:
            return
        self._start_rare(rng, self.ego.x + WINDOW_FRONT - rng.uniform(0.0, s.ego_speed * s.dt))

    def _start_rare(self, rng: np.random.Generator, x: float) -> None:
        """One rare-object event of a class drawn from the mix, entering at ``x`` (world)."""
        s = self.settings
        names = sorted(s.rare_mix)
        weights = np.array([s.rare_mix[n] for n in names], dtype=np.float64)
        name = names[int(rng.choice(len(names), p=weights / weights.sum()))]
        for _ in range(RARE_ATTEMPTS):
            actor = self._rare_actor(name, rng, x)
            if self._is_free(actor, margin=0.5):
                self.actors.append(actor)
                self.rare_events_started += 1
                return
            x += rng.uniform(-3.0, 3.0)

    def _fill_rare(self) -> None:
        """At the start of a drive, the rare actors already on the street: as many as the rate
        keeps in the window in steady state (each stays while the ego covers the window)."""
        s = self.settings
        if s.rare_rate <= 0 or not s.rare_mix or s.ego_speed <= 0:
            return
        lo, hi = self.ego.x - WINDOW_BACK, self.ego.x + WINDOW_FRONT
        frames_in_window = (hi - lo) / (s.ego_speed * s.dt)
        for _ in range(self.rare_rng.poisson(s.rare_rate * frames_in_window)):
            self._start_rare(self.rare_rng, float(self.rare_rng.uniform(lo, hi)))

    def _rare_actor(self, name: str, rng: np.random.Generator, x: float) -> Actor:
        """A rare object entering at ``x``: crossing (deer, some people, where ordinary people
        start to cross), a hazard on the carriageway, or moving along its lane or sidewalk."""
        if name == "deer" or (name in SIDEWALK_RARE and rng.random() < 0.3):
            speed = rng.uniform(1.5, 4.0) if name == "deer" else rng.uniform(0.8, 1.4)
            start = self.ego.x + rng.uniform(*CROSSING_AHEAD)
            return self._crossing_actor(name, rng, start, speed, rare=True)
        track = self._new_id()
        model = build_object(name, substream(self.seed, SHAPE, track))
        if name in ROAD_HAZARDS:
            yaw = (
                rng.uniform(-math.pi, math.pi)
                if name != "overturned_car"
                else float(rng.choice([0.0, math.pi])) + rng.normal(0, 0.3)
            )
            actor = Actor(track, model, x, 0.0, yaw, 0.0, "static", 1, rare=True)
            actor.blocks = name not in DRIVE_OVER
            # in a lane or the parking strip, off-centre, never over the kerb; what the ego
            # cannot drive over stays out of its lane (the simulated ego does not change lanes)
            lanes = [lane for lane, _ in LANES if not actor.blocks or lane != EGO_LANE_Y]
            lane = float(rng.choice([*lanes, -PARKING_Y, PARKING_Y]))
            limit = KERB_Y - actor.half_extent()[1]
            actor.y = float(np.clip(lane + rng.uniform(-0.8, 0.8), -limit, limit))
            return actor
        # moving along the street: an e-scooter in a bike lane, the others on a sidewalk
        if name == "scooter_rider":
            y, direction = BIKE_LANES[int(rng.integers(0, 2))]
            speed = rng.uniform(*CYCLE_SPEED)
        else:
            side = int(rng.choice([-1, 1]))
            y = side * WALK_LANES[int(rng.integers(0, len(WALK_LANES)))]
            direction = int(rng.choice([-1, 1]))
            speed = rng.uniform(1.5, 2.5) if name == "dog" else rng.uniform(0.8, 1.4)
        yaw = 0.0 if direction > 0 else math.pi
        return Actor(
            track, model, x, y, yaw, speed, "lane", direction, rare=True, min_gap=0.5,
        )  # fmt: skip
