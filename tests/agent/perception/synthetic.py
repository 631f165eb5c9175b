"""Synthetic LiDAR-like frames for the perception tests: a (possibly sloped) ground grid and the
vertical faces of boxes, with known ground truth. No simulator needed."""

from __future__ import annotations

import math
from dataclasses import replace
from pathlib import Path

import numpy as np
import numpy.typing as npt

from core.formats.dataset import DatasetWriter, FrameLabels, ObjectLabel

SENSOR_HEIGHT = 1.73


def ground_points(
    rng: np.random.Generator, n: int, extent: float, slope: float
) -> npt.NDArray[np.float32]:
    """``n`` points on the plane z = slope * x - SENSOR_HEIGHT within |x|, |y| < extent."""
    xy = rng.uniform(-extent, extent, size=(n, 2))
    z = slope * xy[:, 0] - SENSOR_HEIGHT + rng.normal(0.0, 0.01, n)
    out: npt.NDArray[np.float32] = np.c_[xy, z, rng.uniform(0.0, 0.3, n)].astype(np.float32)
    return out


def box_surface_points(
    rng: np.random.Generator, box: tuple[float, ...], n: int
) -> npt.NDArray[np.float32]:
    """``n`` points on the four vertical faces of ``box`` (x, y, z, l, w, h, yaw)."""
    x, y, z, length, width, height, yaw = box
    face = rng.integers(0, 4, n)
    t = rng.uniform(-0.5, 0.5, n)
    u = np.where(face < 2, t * length, np.where(face == 2, 0.5, -0.5) * length)
    v = np.where(face < 2, np.where(face == 0, 0.5, -0.5) * width, t * width)
    w = rng.uniform(-0.5, 0.5, n) * height
    c, s = math.cos(yaw), math.sin(yaw)
    pts = np.c_[x + c * u - s * v, y + s * u + c * v, z + w, rng.uniform(0.2, 0.9, n)]
    out: npt.NDArray[np.float32] = pts.astype(np.float32)
    return out


#: (class, length, width, height) of the synthetic objects
SHAPES = (("car", 4.4, 1.9, 1.6), ("pedestrian", 0.6, 0.6, 1.75), ("cyclist", 1.8, 0.6, 1.7))


def make_frame(
    rng: np.random.Generator,
    index: int,
    *,
    slope: float = 0.0,
    objects: int = 6,
    extent: float = 40.0,
) -> tuple[npt.NDArray[np.float32], FrameLabels]:
    """A frame with ``objects`` well-separated objects standing on the ground plane."""
    parts = [ground_points(rng, 30_000, extent, slope)]
    labels: list[ObjectLabel] = []
    taken: list[tuple[float, float]] = []
    while len(labels) < objects:
        x, y = rng.uniform(-extent + 6, extent - 6, 2)
        if math.hypot(x, y) < 4 or any(math.hypot(x - a, y - b) < 7 for a, b in taken):
            continue
        taken.append((x, y))
        name, length, width, height = SHAPES[len(labels) % len(SHAPES)]
        yaw = float(rng.uniform(-math.pi, math.pi))
        z = slope * x - SENSOR_HEIGHT + height / 2
        box = (float(x), float(y), float(z), length, width, height, yaw)
        n = int(rng.integers(150, 400))
        parts.append(box_surface_points(rng, box, n))
        labels.append(ObjectLabel(name, len(labels), box, n))
    points = np.concatenate(parts).astype(np.float32)
    return points, FrameLabels(
        index, index * 100_000_000, (0.0, 0.0, 0.0, 0.0, 0.0, 0.0), tuple(labels)
    )


def write_dataset(root: Path, frames: int, seed: int, *, rare_every: int = 0) -> Path:
    """A labelled synthetic dataset; with ``rare_every`` > 0 every such object is a "deer"."""
    rng = np.random.default_rng(seed)
    writer = DatasetWriter(root)
    for i in range(frames):
        points, labels = make_frame(rng, i)
        if rare_every:
            objs = tuple(
                replace(o, class_name="deer") if k % rare_every == rare_every - 1 else o
                for k, o in enumerate(labels.objects)
            )
            labels = replace(labels, objects=objs)
        writer.write_frame(points, labels)
    writer.write_meta({"generator": "tests.synthetic", "seed": seed, "frames": frames})
    return root


def build_tiny_package(root: Path) -> Path:
    """Train a tiny model (seconds) on synthetic frames and write its package to root/pkg."""
    from backend.training.run import train_package
    from backend.training.train import TrainConfig

    train = write_dataset(root / "train", 3, seed=10, rare_every=4)
    val = write_dataset(root / "val", 1, seed=11)
    config = TrainConfig(
        epochs=2, ensemble_size=3, embedding_dim=8, width=32, batch_size=32, threads=1
    )
    train_package([train], root / "pkg", val_dirs=[val], config=config, progress=False)
    return root / "pkg"


def ring_ground(
    rng: np.random.Generator, *, beams: int = 64, columns: int = 1000, noise: float = 0.02
) -> npt.NDArray[np.float32]:
    """A flat road at z = -SENSOR_HEIGHT as a spinning sensor sees it: one ring per beam
    (elevations -24.3 to -2 degrees, HDL-64-like), density falling with range, ``noise``
    metres of range noise."""
    el = np.deg2rad(np.linspace(-24.33, -2.0, beams))[:, None]
    az = np.linspace(-np.pi, np.pi, columns, endpoint=False)[None, :]
    r = SENSOR_HEIGHT / np.tan(-el) * np.ones_like(az)
    r = r + rng.normal(0.0, noise, r.shape)
    x, y = r * np.cos(az), r * np.sin(az)
    z = np.broadcast_to(-SENSOR_HEIGHT + 0 * az, r.shape) + rng.normal(0.0, noise / 4, r.shape)
    inten = rng.uniform(0.05, 0.3, r.shape)
    out: npt.NDArray[np.float32] = np.stack([x, y, z, inten], -1).reshape(-1, 4).astype(np.float32)
    return out


def multipath_points(
    rng: np.random.Generator, n: int, r_min: float, r_max: float, depth: tuple[float, float]
) -> npt.NDArray[np.float32]:
    """``n`` returns scattered ``depth`` (min, max) metres below the road, at ranges
    ``r_min``..``r_max`` metres in every direction (multipath off the road surface)."""
    r = rng.uniform(r_min, r_max, n)
    az = rng.uniform(-np.pi, np.pi, n)
    z = -SENSOR_HEIGHT - rng.uniform(depth[0], depth[1], n)
    pts = np.c_[r * np.cos(az), r * np.sin(az), z, rng.uniform(0.0, 0.2, n)]
    out: npt.NDArray[np.float32] = pts.astype(np.float32)
    return out
