"""The supervised probe of the selection ceiling benchmark: candidates, training rows, metrics."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from agent.perception.package import ModelPackage, default_package_path
from agent.perception.preprocess import Preprocessor
from benchmarks.selection_drives import rare_overlap, rare_points_of
from benchmarks.selection_probe import (
    DriveCandidates,
    candidate_level,
    extract_candidates,
    probe_logits,
    train_probe,
    training_rows,
)
from core.formats.dataset import Dataset
from simulators.drive import write_drive
from simulators.scenario import builtin_scenario


def test_training_rows_keep_every_rare_row_and_draw_the_ordinary_ones() -> None:
    rare = np.zeros(100, dtype=bool)
    rare[[3, 50, 99]] = True
    rows = training_rows(rare, 10, np.random.default_rng(0))
    assert rows.size == 13 and np.all(np.diff(rows) > 0)
    assert set(np.flatnonzero(rare)) <= set(rows.tolist())
    assert training_rows(rare, 1000, np.random.default_rng(0)).tolist() == list(range(100))


def test_the_probe_learns_a_shape_that_only_the_points_tell_apart() -> None:
    # same features for all; rare candidates are tall thin columns, ordinary ones flat slabs
    rng = np.random.default_rng(1)
    n, p = 600, 16
    rare = rng.random(n) < 0.2
    points = rng.uniform(-1.0, 1.0, size=(n, p, 4)).astype(np.float32)
    points[rare, :, :2] *= 0.1
    points[~rare, :, 2] *= 0.1
    features = np.zeros((n, 3), dtype=np.float32)
    probe = train_probe(points[:400], features[:400], rare[:400], epochs=15, seed=0)
    logits = probe_logits(probe, points[400:], features[400:], batch=64)
    held_rare = rare[400:]
    result = candidate_level(logits, held_rare, logits[~held_rare])
    assert result["rare_candidates"] == int(held_rare.sum())
    assert result["auroc"] > 0.95


def test_candidate_level_counts_rare_candidates_above_the_ordinary_tail() -> None:
    ordinary = np.arange(10_000, dtype=np.float64)  # 0.99 quantile 9899.01, 0.9999 9998.0001
    logits = np.array([9_950.0, 9_999.5, 5.0])
    result = candidate_level(logits, np.array([True, True, True]), ordinary)
    shares = result["share_above_ordinary_quantile"]
    assert shares["0.99"] == pytest.approx(2 / 3)
    assert shares["0.9999"] == pytest.approx(1 / 3)
    assert candidate_level(logits, np.zeros(3, dtype=bool), ordinary)["rare_candidates"] == 0


def test_candidates_are_the_runtime_preprocessing_labelled_frame_by_frame(tmp_path: Path) -> None:
    drive = tmp_path / "drive"
    write_drive(builtin_scenario("rare_heavy"), 4, 3, drive, progress=False)
    preprocess = Preprocessor(ModelPackage.load(default_package_path()).params)
    found = extract_candidates(drive, 3, preprocess, "test")
    data = Dataset(drive)
    offsets = found.offsets
    assert offsets.size == 4 and offsets[-1] == found.points.shape[0] == found.rare.size
    for i, index in enumerate(data.indices[:3]):
        expect = preprocess(data.points(index))
        labels = data.labels(index)
        rows = slice(offsets[i], offsets[i + 1])
        np.testing.assert_array_equal(found.points[rows], expect.points)
        np.testing.assert_array_equal(found.features[rows], expect.features)
        np.testing.assert_array_equal(found.rare[rows], rare_overlap(expect.boxes, labels)[0] != "")
        assert found.rare_points[i] == rare_points_of(labels)
    found.save(tmp_path / "c.npz")
    again = DriveCandidates.load(tmp_path / "c.npz")
    np.testing.assert_array_equal(again.points, found.points)
    np.testing.assert_array_equal(again.frame, found.frame)
