"""The "unexplained object in the drivable area" signal: something on the carriageway that no
confident known-class detection explains.

The drivable area is a map layer in the world frame (``DrivableArea``: polygons, metres); a
source that knows the vehicle's pose (x, y, z, roll, pitch, yaw in the world frame, as
``SourceFrame.pose``) lets detections in the sensor frame be placed on it. A candidate counts
when its box centre lies in the area within ``max_range_m`` of the sensor, it holds at least
``min_points`` points, is compact (longest side at most ``max_length_m``) and stands above the
road (box top at least ``min_height_m`` above the sensor's ground plane, ``ground_z_m`` in the
sensor frame). Its *unexplained-ness* is 1 when the model calls it background and ``1 -
confidence`` otherwise; a class in ``normal_classes`` with confidence at least
``explained_confidence`` explains it (0). Ties are broken towards the better observed: each
value gets ``TIE_BREAK * min(points, 1000) / 1000`` added. The frame signal is the largest value over the
candidates that count (``-inf`` when none does), so a threshold on it is a trigger family of its
own, not a term diluted in a fused score.

The map file (``load_drivable_area``) is JSON, ``{"polygons": [[[x, y], ...], ...]}`` in the
world frame of the source's poses (metres); ``simulators.world.drivable_polygon`` writes the
simulator's.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

from agent.errors import AgentError
from agent.selection.signals import DetectionFacts

F64 = npt.NDArray[np.float64]
#: weight of the point count in the value: orders equally unexplained candidates, never more
TIE_BREAK = 1e-3


@dataclass(frozen=True)
class DrivableArea:
    """Polygons ``(N_i, 2)`` (world x, y, metres, either winding) whose union is drivable."""

    polygons: tuple[F64, ...]

    def contains(self, xy: npt.ArrayLike) -> npt.NDArray[np.bool_]:
        """Per point ``(M, 2)`` (world frame), whether it lies inside any polygon (even-odd)."""
        pts = np.asarray(xy, dtype=np.float64).reshape(-1, 2)
        inside = np.zeros(pts.shape[0], dtype=bool)
        for poly in self.polygons:
            inside |= _in_polygon(pts, np.asarray(poly, dtype=np.float64))
        return inside


class MapError(AgentError):
    """A drivable-area map file that cannot be read or holds no valid polygon."""


def load_drivable_area(path: str | Path) -> DrivableArea:
    """Read the drivable-area map at ``path`` (JSON, see the module docstring)."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
        polygons = tuple(np.asarray(p, dtype=np.float64) for p in data["polygons"])
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise MapError(f"{path}: not a drivable-area map: {exc}") from exc
    for i, poly in enumerate(polygons):
        if poly.ndim != 2 or poly.shape[0] < 3 or poly.shape[1] != 2 or not np.isfinite(poly).all():
            raise MapError(
                f"{path}: polygon {i} must be >= 3 finite [x, y] corners, got {poly.shape}"
            )
    if not polygons:
        raise MapError(f"{path}: no polygons")
    return DrivableArea(polygons)


def _in_polygon(pts: F64, poly: F64) -> npt.NDArray[np.bool_]:
    """Even-odd rule: a ray towards +x crosses the boundary an odd number of times."""
    x, y = pts[:, 0:1], pts[:, 1:2]
    x0, y0 = poly[:, 0][None, :], poly[:, 1][None, :]
    x1, y1 = np.roll(poly[:, 0], -1)[None, :], np.roll(poly[:, 1], -1)[None, :]
    straddles = (y0 > y) != (y1 > y)
    with np.errstate(divide="ignore", invalid="ignore"):
        cross_x = x0 + (y - y0) * (x1 - x0) / (y1 - y0)
    crossings = straddles & (x < cross_x)
    result: npt.NDArray[np.bool_] = (crossings.sum(axis=1) % 2) == 1
    return result


def sensor_to_world_xy(xy: npt.ArrayLike, pose: Sequence[float]) -> F64:
    """Points ``(M, 2)`` in the sensor frame to the world frame by the pose's x, y and yaw
    (roll and pitch are ignored: a car's are small and a box centre moves by centimetres)."""
    pts = np.asarray(xy, dtype=np.float64).reshape(-1, 2)
    c, s = math.cos(pose[5]), math.sin(pose[5])
    out = np.empty_like(pts)
    out[:, 0] = pose[0] + c * pts[:, 0] - s * pts[:, 1]
    out[:, 1] = pose[1] + s * pts[:, 0] + c * pts[:, 1]
    return out


@dataclass(frozen=True)
class UnexplainedSettings:
    """Which candidates count (see the module docstring; metres, points, probabilities)."""

    max_range_m: float = 50.0
    min_points: int = 10
    max_length_m: float = 6.0
    min_height_m: float = 0.2
    ground_z_m: float = -1.73
    explained_confidence: float = 0.9
    normal_classes: tuple[str, ...] = ("car", "truck", "bus", "pedestrian", "cyclist")


def unexplained_values(
    boxes: npt.ArrayLike,
    class_names: Sequence[str],
    confidence: npt.ArrayLike,
    num_points: npt.ArrayLike,
    pose: Sequence[float],
    area: DrivableArea,
    settings: UnexplainedSettings = UnexplainedSettings(),
) -> F64:
    """Per detection (boxes ``(N, 7)`` in the sensor frame), its unexplained-ness in [0, 1] (plus
    the tie-break, at most ``TIE_BREAK``), or ``-inf`` when it does not count (off the drivable area, too far, too few points, too long,
    too low)."""
    b = np.asarray(boxes, dtype=np.float64).reshape(-1, 7)
    conf = np.asarray(confidence, dtype=np.float64).reshape(-1)
    pts = np.asarray(num_points).reshape(-1)
    out = np.full(b.shape[0], -np.inf)
    if not b.shape[0]:
        return out
    near = np.hypot(b[:, 0], b[:, 1]) <= settings.max_range_m
    top = b[:, 2] + b[:, 5] / 2.0 - settings.ground_z_m
    counts = (
        near
        & (pts >= settings.min_points)
        & (np.maximum(b[:, 3], b[:, 4]) <= settings.max_length_m)
        & (top >= settings.min_height_m)
    )
    if counts.any():
        counts[counts] = area.contains(sensor_to_world_xy(b[counts, :2], pose))
    names = np.asarray(class_names)
    known = np.isin(names, settings.normal_classes)
    value = np.where(names == "background", 1.0, 1.0 - conf)
    value = np.where(known & (conf >= settings.explained_confidence), 0.0, value)
    value = value + TIE_BREAK * np.minimum(pts, 1000) / 1000.0
    out[counts] = value[counts]
    return out


def unexplained_in_drivable(
    boxes: npt.ArrayLike,
    class_names: Sequence[str],
    confidence: npt.ArrayLike,
    num_points: npt.ArrayLike,
    pose: Sequence[float],
    area: DrivableArea,
    settings: UnexplainedSettings = UnexplainedSettings(),
) -> float:
    """The frame signal: the largest ``unexplained_values`` (``-inf`` when none counts)."""
    values = unexplained_values(boxes, class_names, confidence, num_points, pose, area, settings)
    return float(values.max()) if values.size else -math.inf


def drivable_signals(
    detections: Sequence[DetectionFacts], pose: Sequence[float], area: DrivableArea | None
) -> dict[str, float]:
    """The map signals of one frame for ``compute_signals``' ``extra``: ``unexplained_drivable``
    (NaN when no candidate counts); none without a map."""
    if area is None:
        return {}
    value = unexplained_in_drivable(
        np.array([d.box for d in detections], dtype=np.float64).reshape(-1, 7),
        [d.class_name for d in detections],
        [d.confidence for d in detections],
        [d.num_points for d in detections],
        pose,
        area,
    )
    return {"unexplained_drivable": value if math.isfinite(value) else math.nan}
