"""Selection metrics on hand-made cases whose answers are worked out by hand."""

from __future__ import annotations

import math

import numpy as np
import pytest

from backend.errors import EvaluationError
from backend.evaluation.selection_metrics import (
    EventRule,
    ThresholdRule,
    auroc,
    auroc_two_sample,
    budget_count,
    event_capture,
    lift,
    random_expected_recall,
    recall_at_budget,
    recall_at_threshold,
    recall_curve,
    selection_weights,
    spread,
    threshold_rule,
    wilson_interval,
)


def test_auroc_perfect_reversed_and_all_tied() -> None:
    labels = [1, 1, 0, 0, 0]
    assert auroc([5, 4, 3, 2, 1], labels) == 1.0
    assert auroc([1, 2, 3, 4, 5], labels) == 0.0
    assert auroc([7, 7, 7, 7, 7], labels) == 0.5


def test_auroc_counts_ties_one_half() -> None:
    # pairs: 0.8 beats all 3 negatives (3); 0.4 loses to 0.5, ties 0.4, beats 0.1 (1.5): 4.5 / 6
    assert auroc_two_sample([0.8, 0.4], [0.5, 0.4, 0.1]) == pytest.approx(0.75)
    assert auroc([0.8, 0.5, 0.4, 0.4, 0.1], [1, 0, 1, 0, 0]) == pytest.approx(0.75)


def test_auroc_ranks_minus_infinity_last() -> None:
    # a frame with nothing to score gets -inf: below every finite score, tied with other -inf
    assert auroc_two_sample([0.0, -math.inf], [-1.0, -math.inf]) == pytest.approx(0.625)


def test_auroc_is_nan_without_one_class_and_refuses_nan() -> None:
    assert math.isnan(auroc([1.0, 2.0], [0, 0]))
    assert math.isnan(auroc_two_sample([], [1.0]))
    with pytest.raises(EvaluationError, match="NaN at index 1"):
        auroc([1.0, math.nan], [1, 0])
    with pytest.raises(EvaluationError, match="labels must have shape"):
        auroc([1.0, 2.0], [1, 0, 0])


def test_budget_count_rounds_up_and_keeps_one() -> None:
    assert budget_count(1000, 0.01) == 10
    assert budget_count(300, 0.01) == 3  # 0.01 * 300 is 3.0000000000000004 in floats
    assert budget_count(1001, 0.01) == 11
    assert budget_count(50, 0.01) == 1
    assert budget_count(0, 0.5) == 0
    assert budget_count(7, 1.0) == 7
    with pytest.raises(EvaluationError, match="budget must be in"):
        budget_count(10, 0.0)
    with pytest.raises(EvaluationError, match="budget must be in"):
        budget_count(10, 1.5)


def test_selection_weights_share_the_cut_among_ties() -> None:
    w = selection_weights([3.0, 2.0, 2.0, 2.0, 1.0], 2)
    np.testing.assert_allclose(w, [1.0, 1 / 3, 1 / 3, 1 / 3, 0.0])
    assert w.sum() == pytest.approx(2.0)
    np.testing.assert_array_equal(selection_weights([1.0, 2.0], 0), [0.0, 0.0])
    np.testing.assert_array_equal(selection_weights([1.0, 2.0], 2), [1.0, 1.0])


def test_recall_at_budget_known_answers() -> None:
    scores = np.arange(100, 0, -1, dtype=np.float64)  # frame i scores 100 - i
    labels = np.zeros(100, dtype=bool)
    labels[[0, 1, 50]] = True
    # top 2 frames (budget 2 %) hold 2 of the 3 positives
    assert recall_at_budget(scores, labels, 0.02) == pytest.approx(2 / 3)
    assert recall_at_budget(scores, labels, 0.51) == pytest.approx(1.0)
    assert recall_at_budget(scores, labels, 0.01) == pytest.approx(1 / 3)
    np.testing.assert_allclose(recall_curve(scores, labels, [0.01, 0.02]), [1 / 3, 2 / 3])
    assert math.isnan(recall_at_budget(scores, np.zeros(100), 0.1))


def test_recall_with_all_scores_tied_is_the_random_expectation() -> None:
    labels = [1, 0, 0, 0]
    assert recall_at_budget([1.0, 1.0, 1.0, 1.0], labels, 0.5) == pytest.approx(0.5)
    assert random_expected_recall(4, 0.5) == pytest.approx(0.5)
    assert random_expected_recall(1000, 0.01) == pytest.approx(0.01)
    assert random_expected_recall(50, 0.01) == pytest.approx(0.02)  # one frame of 50


def test_lift() -> None:
    assert lift(0.8, 0.01) == pytest.approx(80.0)
    assert lift(0.01, 0.01) == pytest.approx(1.0)


def test_threshold_rule_keeps_the_budget_of_the_reference() -> None:
    ref = np.arange(1, 101, dtype=np.float64)
    assert threshold_rule(ref, 0.05) == ThresholdRule(96.0, 1.0)
    # ties at the cut: 3 above (10, 9, 8), 4 tied at 5; budget 5 of 10 -> 2 of 4 tied kept
    rule = threshold_rule([10, 9, 8, 5, 5, 5, 5, 1, 1, 1], 0.5)
    assert rule == ThresholdRule(5.0, 0.5)
    assert recall_at_threshold([9.5, 5.0, 4.0, 5.0], rule) == pytest.approx((1 + 0.5 + 0.5) / 4)
    assert math.isnan(recall_at_threshold([], rule))
    with pytest.raises(EvaluationError, match="empty"):
        threshold_rule([], 0.1)


def test_threshold_rule_on_the_same_frames_matches_recall_at_budget() -> None:
    rng = np.random.default_rng(3)
    scores = rng.integers(0, 20, size=500).astype(np.float64)  # many ties
    labels = rng.random(500) < 0.1
    for budget in (0.01, 0.05, 0.2):
        direct = recall_at_budget(scores, labels, budget)
        rule = threshold_rule(scores, budget)
        assert recall_at_threshold(scores[labels], rule) == pytest.approx(direct)


def test_spread_skips_nan_and_handles_one_value() -> None:
    s = spread([1.0, 3.0, math.nan, 2.0])
    assert (s.mean, s.median, s.min, s.max, s.n) == (2.0, 2.0, 1.0, 3.0, 3)
    assert s.std == pytest.approx(1.0)
    assert spread([0.5]).std == 0.0
    empty = spread([math.nan])
    assert empty.n == 0 and math.isnan(empty.mean)
    assert set(s.as_dict()) == {"mean", "std", "median", "min", "max", "n"}


def test_wilson_interval_matches_the_published_values() -> None:
    # Newcombe (1998), Table I: 81 of 263 -> 0.2553 to 0.3662; 0 of 10 -> 0 to 0.2775
    low, high = wilson_interval(81, 263)
    assert (round(low, 4), round(high, 4)) == (0.2553, 0.3662)
    low, high = wilson_interval(0, 10)
    assert low == pytest.approx(0.0, abs=1e-12) and round(high, 4) == 0.2775
    low, high = wilson_interval(10, 10)
    assert round(low, 4) == 0.7225 and high == pytest.approx(1.0)


def test_wilson_interval_refuses_impossible_counts() -> None:
    with pytest.raises(EvaluationError, match="successes"):
        wilson_interval(11, 10)
    assert all(math.isnan(v) for v in wilson_interval(0, 0))


def test_event_capture_counts_tracks_not_frames() -> None:
    rule = EventRule(min_points=50, near_points=10, near_range_m=30.0)
    # track 7: well observed twice, uploaded once (captured); track 3: only ever seen with
    # 12 points at 45 m (not eligible, even though uploaded); track 9: well observed near the
    # sensor (12 points at 20 m) but never uploaded
    track = [7, 7, 7, 3, 9]
    points = [60, 80, 5, 12, 12]
    range_m = [40.0, 35.0, 10.0, 45.0, 20.0]
    uploaded = [False, True, True, True, False]
    result = event_capture(track, points, range_m, uploaded, rule)
    assert result.tracks.tolist() == [3, 7, 9]
    assert result.eligible.tolist() == [False, True, True]
    assert result.captured.tolist() == [False, True, False]
    assert result.recall == 0.5
    # an upload of a frame where the object is badly observed does not capture it
    only_poor = event_capture([7, 7], [60, 5], [40.0, 10.0], [False, True], rule)
    assert only_poor.captured.tolist() == [False] and only_poor.recall == 0.0


def test_event_capture_refuses_rows_that_disagree() -> None:
    with pytest.raises(EvaluationError, match=r"track \(2,\), points \(3,\)"):
        event_capture([1, 2], [1, 2, 3], [1.0, 2.0], [True, False], EventRule())
    assert math.isnan(event_capture([], [], [], [], EventRule()).recall)
