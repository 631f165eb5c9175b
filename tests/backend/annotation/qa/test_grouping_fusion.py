"""Multi-annotator grouping and box fusion on simulated annotators: clusters recover the objects,
the fused box is closer to the truth than the members, flips and disagreement are reported."""

from __future__ import annotations

import math

import numpy as np
import pytest

from backend.annotation.qa.agreement import encode_nominal, krippendorff_alpha
from backend.annotation.qa.fusion import fuse_boxes, fused_heading
from backend.annotation.qa.grouping import group_boxes, reliability_tables
from backend.errors import QualityError


def _scene(rng: np.random.Generator, n: int) -> np.ndarray:
    """n objects on a 60 m x 60 m patch, cars to pedestrians, kept 8 m apart."""
    centres: list[np.ndarray] = []
    while len(centres) < n:
        c = rng.uniform(-30, 30, 2)
        if all(np.hypot(*(c - o)) > 8.0 for o in centres):
            centres.append(c)
    xy = np.array(centres)
    size = rng.uniform([0.6, 0.6, 1.5], [4.8, 2.0, 1.9], (n, 3))
    return np.column_stack([xy, rng.uniform(-1, 0, n), size, rng.uniform(-math.pi, math.pi, n)])


def _annotate(
    rng: np.random.Generator, truth: np.ndarray, centre_sd: float, size_sd: float, miss: float
) -> tuple[np.ndarray, np.ndarray]:
    """One annotator's boxes (shuffled) and the object each came from."""
    keep = np.flatnonzero(rng.random(truth.shape[0]) >= miss)
    rng.shuffle(keep)
    boxes = truth[keep].copy()
    boxes[:, :3] += rng.normal(0, centre_sd, (keep.size, 3))
    boxes[:, 3:6] *= np.exp(rng.normal(0, size_sd, (keep.size, 3)))
    boxes[:, 6] += rng.normal(0, 0.03, keep.size)
    return boxes, keep


def test_groups_recover_the_objects() -> None:
    rng = np.random.default_rng(1)
    truth = _scene(rng, 12)
    sets, sources = [], []
    for miss in (0.0, 0.2, 0.1, 0.0):
        boxes, source = _annotate(rng, truth, 0.08, 0.04, miss)
        sets.append(boxes)
        sources.append(source)
    # annotator 2 also boxes something that is not there
    sets[2] = np.vstack([sets[2], [[100.0, 100.0, 0.0, 2.0, 2.0, 2.0, 0.0]]])
    sources[2] = np.append(sources[2], -1)
    classes = [["car"] * len(s) for s in sets]
    classes[1] = ["truck"] * len(sets[1])  # a class disagreement must not split the clusters
    clusters = group_boxes(sets, classes)
    assert len(clusters) == 13
    for cluster in clusters:
        objects = {
            int(sources[a][i]) for a, i in zip(cluster.annotators, cluster.indices, strict=True)
        }
        assert len(objects) == 1  # one object per cluster
        assert len(set(cluster.annotators.tolist())) == len(cluster)  # one box per annotator
    seen = sorted(len(c) for c in clusters)
    assert seen[0] == 1  # the invented box stands alone
    total = sum(len(s) for s in sets)
    assert sum(seen) == total
    # every object is one cluster: as many members as annotators who saw it
    per_object = {int(sources[c.annotators[0]][c.indices[0]]): len(c) for c in clusters}
    for obj in range(truth.shape[0]):
        assert per_object[obj] == sum(int(obj in s) for s in sources)


def test_fused_box_is_closer_to_the_truth_than_its_members() -> None:
    rng = np.random.default_rng(2)
    truth = _scene(rng, 30)
    sets = [_annotate(rng, truth, 0.15, 0.08, 0.0)[0] for _ in range(5)]
    clusters = group_boxes(sets, [["car"] * len(s) for s in sets])
    assert len(clusters) == 30
    member_err, fused_err = [], []
    for c in clusters:
        fused = fuse_boxes(c.boxes)
        t = truth[np.argmin(np.hypot(*(truth[:, :2] - fused.box[:2]).T))]
        member_err.append(np.linalg.norm(c.boxes[:, :3] - t[:3], axis=1).mean())
        fused_err.append(np.linalg.norm(fused.box[:3] - t[:3]))
    assert np.mean(fused_err) < 0.75 * np.mean(member_err)


def test_fused_heading_handles_wrap_and_flips() -> None:
    heading, flipped = fused_heading([math.pi - 0.05, -math.pi + 0.05, math.pi - 0.01])
    assert abs(math.remainder(heading - math.pi, 2 * math.pi)) < 0.05 and not flipped.any()
    # two annotators agree on the front, one boxed it back to front: the majority wins
    heading, flipped = fused_heading([0.10, 0.12 + math.pi, 0.14])
    assert heading == pytest.approx(0.12, abs=1e-9) and flipped.tolist() == [False, True, False]
    heading, flipped = fused_heading([0.2 + math.pi, 0.2, 0.2 + math.pi])
    assert heading == pytest.approx(0.2 - math.pi, abs=1e-9)
    assert flipped.tolist() == [False, True, False]
    assert -math.pi < fused_heading([math.pi, math.pi])[0] <= math.pi


def test_fusion_disagreement_grows_with_the_noise() -> None:
    rng = np.random.default_rng(3)
    box = np.array([5.0, 2.0, -0.5, 4.5, 1.9, 1.6, 0.7])
    same = fuse_boxes(np.repeat(box[None], 3, axis=0))
    assert same.disagreement == pytest.approx(0.0, abs=1e-12)
    assert same.centre_spread_m == 0.0 and same.heading_spread_rad == 0.0
    np.testing.assert_allclose(same.box, box)
    flipped = np.repeat(box[None], 3, axis=0)
    flipped[1, 6] += math.pi
    f = fuse_boxes(flipped)
    assert f.flipped.tolist() == [False, True, False] and f.disagreement == pytest.approx(
        0.0, abs=1e-12
    )
    previous = 0.0
    for sd in (0.05, 0.2, 0.5):
        members = box + rng.normal(0, sd, (4, 7)) * [1, 1, 1, 0.3, 0.3, 0.3, 0.5]
        d = fuse_boxes(members)
        assert d.disagreement > previous and d.min_iou <= d.mean_iou
        previous = d.disagreement
    with pytest.raises(QualityError, match="expected shape"):
        fuse_boxes(np.zeros((0, 7)))


def test_reliability_tables_feed_alpha() -> None:
    """Size alpha tracks the annotators' size noise; the class table feeds nominal alpha."""
    rng = np.random.default_rng(4)
    truth = _scene(rng, 25)
    alphas = []
    for size_sd in (0.02, 0.25):
        sets = [_annotate(rng, truth, 0.05, size_sd, 0.1)[0] for _ in range(3)]
        clusters = group_boxes(sets, [["car"] * len(s) for s in sets], min_iou=0.1)
        values, names = reliability_tables(clusters, 3)
        assert values.shape == (3, len(clusters), 7)
        assert sum(n is not None for row in names for n in row) == sum(len(s) for s in sets)
        alphas.append(krippendorff_alpha(values[:, :, 3], "interval"))
    assert alphas[0] > 0.95 > alphas[1]
    data, _ = encode_nominal([["car", "car"], ["car", "truck"]])
    assert krippendorff_alpha(data) < 1.0


def test_bad_inputs() -> None:
    with pytest.raises(QualityError, match="min_iou"):
        group_boxes([np.zeros((0, 7))], [[]], min_iou=0.0)
    with pytest.raises(QualityError, match="annotator 1 has boxes of shape"):
        group_boxes([np.zeros((0, 7)), np.zeros((2, 7))], [[], ["car"]])
    with pytest.raises(QualityError, match="2 box sets but 1 class lists"):
        group_boxes([np.zeros((0, 7)), np.zeros((0, 7))], [[]])
    assert group_boxes([np.zeros((0, 7)), []], [[], []]) == []
