"""The coarse-first (``lod``) encoding of a frame's points: the coarse level is spatially even
and bounded, and the payload gives back every point in the frame's own order, bit for bit."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest

from backend.annotation.lod import MAX_COARSE_SHARE, VOXEL_M, coarse_indices, encode_lod
from tests.backend.annotation.world import CAR, PEDESTRIAN, cloud


def decode_lod(payload: bytes) -> tuple[npt.NDArray[np.uint32], npt.NDArray[np.float32]]:
    """The coarse indices and the points in the frame's order, read as the page reads them
    (the layout of ``backend.annotation.lod``'s docstring)."""
    n, k = np.frombuffer(payload, "<u4", 2)
    index = np.frombuffer(payload, "<u4", int(k), 8)
    coarse = np.frombuffer(payload, "<f4", 4 * int(k), 8 + 4 * int(k)).reshape(-1, 4)
    rest = np.frombuffer(payload, "<f4", offset=8 + 20 * int(k)).reshape(-1, 4)
    assert rest.shape[0] == n - k
    out = np.empty((int(n), 4), np.float32)
    out[index] = coarse
    left = np.ones(int(n), bool)
    left[index] = False
    out[left] = rest
    return index, out


def test_payload_restores_every_point_in_the_frames_order_exactly() -> None:
    points = cloud(3, [CAR, PEDESTRIAN], per_box=400)
    points[5] = [np.nan, 1.0, 2.0, 0.5]  # a stray return must travel unchanged too
    payload = encode_lod(points)
    assert len(payload) == 8 + 4 * len(coarse_indices(points)) + 16 * len(points)
    index, restored = decode_lod(payload)
    assert restored.tobytes() == points.astype("<f4").tobytes()
    assert np.all(np.diff(index.astype(np.int64)) > 0)  # ascending, no repeats


def test_coarse_level_holds_one_point_per_occupied_voxel_within_its_budget() -> None:
    rng = np.random.default_rng(0)
    # dense near the sensor, sparse far away: what a spinning LiDAR returns
    r = np.concatenate([rng.uniform(2, 8, 20_000), rng.uniform(30, 60, 600)])
    a = rng.uniform(-np.pi, np.pi, r.shape[0])
    points = np.column_stack(
        [
            r * np.cos(a),
            r * np.sin(a),
            rng.uniform(-1.8, 0.5, r.shape[0]),
            rng.uniform(0, 1, r.shape[0]),
        ]
    ).astype(np.float32)
    index = coarse_indices(points)
    assert 0 < index.shape[0] <= MAX_COARSE_SHARE * points.shape[0]
    # spatially even: every point has a coarse point within one voxel diagonal of the grid
    # the level settled on, and the far points keep a much larger share than the near ones
    edge = VOXEL_M
    while len(coarse_indices(points, edge, 1.0)) > MAX_COARSE_SHARE * points.shape[0]:
        edge *= 2.0
    coarse = points[index, :3]
    gaps = np.sqrt(((points[:, None, :3] - coarse[None, :, :]) ** 2).sum(-1)).min(axis=1)
    assert gaps.max() <= edge * np.sqrt(3) + 1e-4
    far = r > 20
    kept = np.zeros(points.shape[0], bool)
    kept[index] = True
    assert kept[far].mean() > 5 * kept[~far].mean()


@pytest.mark.parametrize("n", [0, 1, 7])
def test_tiny_frames_keep_at_least_one_coarse_point(n: int) -> None:
    points = np.arange(4 * n, dtype=np.float32).reshape(n, 4)
    index, restored = decode_lod(encode_lod(points))
    assert restored.tobytes() == points.tobytes()
    assert index.shape[0] == min(n, 1)


GOLDEN = Path(__file__).resolve().parents[3] / "annotator" / "tests" / "golden"


def test_the_pages_golden_payload_is_what_the_server_sends() -> None:
    """annotator/tests/lod.test.ts reads this payload back in Node; it must stay what the
    server sends for those points (regenerate both files with ``encode_lod`` if the layout
    changes on purpose)."""
    points = np.frombuffer((GOLDEN / "lod_points.f32").read_bytes(), "<f4").reshape(-1, 4)
    assert encode_lod(points) == (GOLDEN / "lod_points.lod").read_bytes()
