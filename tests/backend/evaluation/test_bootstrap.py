"""The frame bootstrap: known answers, interval coverage, agreement with ``algo``."""

from __future__ import annotations

import numpy as np
import pytest

from backend.errors import EvaluationError
from backend.evaluation import algo
from backend.evaluation.bootstrap import (
    average_precision,
    bootstrap_weights,
    calibration_error,
    estimate,
    ratio,
)


def test_weights_resample_every_frame_count() -> None:
    w = bootstrap_weights(50, 200, np.random.default_rng(1))
    assert w.shape == (200, 50) and (w.sum(axis=1) == 50).all() and (w >= 0).all()
    with pytest.raises(EvaluationError, match="frames and replicates"):
        bootstrap_weights(0, 10, np.random.default_rng(1))


def test_recall_interval_covers_the_truth_about_95_percent_of_the_time() -> None:
    """Bernoulli detection (p = 0.7), 150 frames with one object each, 400 repeats of the whole
    experiment: the 95 % percentile interval must cover p in 0.90..0.985 of them (the
    percentile bootstrap under-covers a little at this n; binomial sd of the rate is 0.011)."""
    rng = np.random.default_rng(7)
    p, frames, repeats = 0.7, 150, 400
    covered = 0
    for _ in range(repeats):
        hits = (rng.random(frames) < p).astype(np.float64)
        w = np.vstack([np.ones((1, frames)), bootstrap_weights(frames, 1000, rng)])
        r = ratio(w, hits, np.ones(frames))
        e = estimate(float(r[0]), r[1:], 0.95)
        covered += e.lo <= p <= e.hi
    assert 0.90 <= covered / repeats <= 0.985, covered / repeats


def test_weighted_ap_with_unit_weights_is_algos_ap() -> None:
    rng = np.random.default_rng(3)
    for _ in range(20):
        d = int(rng.integers(0, 60))
        scores = rng.random(d)
        tp = rng.random(d) < 0.6
        num_gt = int(tp.sum() + rng.integers(0, 5))
        got = average_precision(np.ones((1, d)), scores, tp, np.array([float(num_gt)]))[0]
        want = algo.average_precision(scores, tp, num_gt)
        assert (np.isnan(got) and np.isnan(want)) or got == pytest.approx(want, abs=1e-12)


def test_a_frame_drawn_twice_counts_like_its_copy() -> None:
    scores = np.array([0.9, 0.8, 0.7, 0.6])
    tp = np.array([True, False, True, True])
    twice = average_precision(np.array([[2.0, 2.0, 1.0, 1.0]]), scores, tp, np.array([5.0]))[0]
    copied = algo.average_precision(
        np.array([0.9, 0.9, 0.8, 0.8, 0.7, 0.6]), np.array([1, 1, 0, 0, 1, 1], bool), 5
    )
    assert twice == pytest.approx(copied)


def test_calibration_error_known_answers() -> None:
    conf = np.array([0.95, 0.95, 0.15, 0.15])
    perfect = calibration_error(np.ones((1, 4)), conf, np.array([True, True, False, False]))
    assert perfect[0] == pytest.approx(0.1)  # bins at 0.95 (acc 1) and 0.15 (acc 0)
    wrong = calibration_error(np.ones((1, 4)), conf, np.array([False, False, True, True]))
    assert wrong[0] == pytest.approx(0.9)
    assert np.isnan(calibration_error(np.zeros((1, 4)), conf, np.ones(4, bool))[0])


def test_paired_difference_has_the_sign_of_the_change() -> None:
    rng = np.random.default_rng(5)
    frames = 120
    champion = (rng.random(frames) < 0.6).astype(np.float64)
    candidate = np.maximum(champion, (rng.random(frames) < 0.5))  # finds all, and more
    w = np.vstack([np.ones((1, frames)), bootstrap_weights(frames, 1000, rng)])
    a, b = ratio(w, champion, np.ones(frames)), ratio(w, candidate, np.ones(frames))
    diff = estimate(float(b[0] - a[0]), b[1:] - a[1:], 0.95)
    assert diff.value > 0 and diff.lo > 0
    reverse = estimate(float(a[0] - b[0]), a[1:] - b[1:], 0.95)
    assert reverse.hi < 0 and reverse.value == pytest.approx(-diff.value)
    same = estimate(0.0, a[1:] - a[1:], 0.95)
    assert same.lo == same.hi == 0.0
