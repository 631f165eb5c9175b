"""The label model on hand-made votes: Dawid-Skene follows the reliable functions, abstentions
are no responses, only confident labels are kept, and the champion-only baseline is its votes."""

from __future__ import annotations

import numpy as np
import pytest

from backend.errors import TrainingError
from backend.training.weak.functions import ABSTAIN
from backend.training.weak.label_model import CHAMPION_ONLY, WeakLabels, champion_only, combine

CLASSES = ("background", "car", "pedestrian")
NAMES = ("champion", "track", "geometry")


def _crowd(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """True classes and the votes of two good functions (90 % right, abstaining on a fifth)
    and one bad one (right 40 % of the time, else a random wrong class)."""
    rng = np.random.default_rng(seed)
    truth = rng.integers(0, 3, n)
    votes = np.empty((n, 3), dtype=np.int64)
    for j, right in enumerate((0.9, 0.9, 0.4)):
        ok = rng.random(n) < right
        wrong = (truth + rng.integers(1, 3, n)) % 3
        votes[:, j] = np.where(ok, truth, wrong)
    votes[rng.random((n, 3)) < 0.2] = ABSTAIN
    return truth, votes


def _majority(votes: np.ndarray) -> np.ndarray:
    """Plain majority of the votes cast (ties to the lowest class), ABSTAIN where none."""
    out = np.full(votes.shape[0], ABSTAIN)
    for i, row in enumerate(votes):
        cast = row[row != ABSTAIN]
        if cast.size:
            out[i] = np.bincount(cast, minlength=3).argmax()
    return out


def test_dawid_skene_weighs_the_functions_by_their_accuracy() -> None:
    for seed in (3, 4):
        truth, votes = _crowd(600, seed)
        labels = combine(votes, NAMES, CLASSES, min_posterior=0.5)
        acc = labels.function_accuracy
        assert acc["champion"] > 0.8 and acc["track"] > 0.8 and acc["geometry"] < 0.6
        majority = _majority(votes)
        voted = majority != ABSTAIN
        assert (labels.label != ABSTAIN).tolist() == voted.tolist()
        ds = float((labels.label[voted] == truth[voted]).mean())
        mv = float((majority[voted] == truth[voted]).mean())
        # where the good functions split or abstain, the majority follows the bad one
        assert ds > mv + 0.04, (ds, mv)


def test_only_labels_above_the_posterior_are_kept() -> None:
    truth, votes = _crowd(400, seed=4)
    loose = combine(votes, NAMES, CLASSES, min_posterior=0.5)
    strict = combine(votes, NAMES, CLASSES, min_posterior=0.99)
    assert (strict.kept == (strict.posterior >= 0.99) & (strict.label != ABSTAIN)).all()
    assert strict.kept.sum() < loose.kept.sum()
    assert (strict.label == loose.label).all()  # the threshold keeps, it never relabels

    def right(w: WeakLabels) -> float:
        return float((w.label[w.kept] == truth[w.kept]).mean())

    assert right(strict) > right(loose)


def test_a_candidate_nobody_voted_on_has_no_label() -> None:
    votes = np.array([[1, 1, ABSTAIN], [ABSTAIN, ABSTAIN, ABSTAIN], [2, 2, 2]], dtype=np.int64)
    labels = combine(votes, NAMES, CLASSES)
    assert labels.label.tolist()[1] == ABSTAIN and labels.posterior[1] == 0.0
    assert not labels.kept[1]
    assert labels.label.tolist()[0] == 1 and labels.label.tolist()[2] == 2


def test_gold_is_pinned() -> None:
    votes = np.array([[1, 1, 1], [1, 1, 1], [2, 2, 2]], dtype=np.int64)
    labels = combine(votes, NAMES, CLASSES, min_posterior=0.5, gold={0: 2})
    assert labels.label[0] == 2


def test_the_baseline_is_the_champion_vote() -> None:
    votes = np.array([[1, 2, 2], [ABSTAIN, 2, 2], [0, ABSTAIN, 1]], dtype=np.int64)
    base = champion_only(votes, NAMES, CLASSES)
    assert base.method == CHAMPION_ONLY
    assert base.label.tolist() == [1, ABSTAIN, 0]
    assert base.kept.tolist() == [True, False, True]


def test_bad_votes_are_refused() -> None:
    with pytest.raises(TrainingError, match="outside"):
        combine(np.array([[3, 1, 1]]), NAMES, CLASSES)
    with pytest.raises(TrainingError, match="do not match"):
        combine(np.array([[1, 1]]), NAMES, CLASSES)
    with pytest.raises(TrainingError, match="min_posterior"):
        combine(np.array([[1, 1, 1]]), NAMES, CLASSES, min_posterior=0.0)
    with pytest.raises(TrainingError, match="no champion"):
        champion_only(np.array([[1, 1, 1]]), ("a", "b", "c"), CLASSES)
