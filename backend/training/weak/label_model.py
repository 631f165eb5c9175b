"""The label model: the votes of the labelling functions combined into one weak label each.

The labelling functions are the annotators of the crowd's aggregation: each candidate is a
task, each function a worker, each vote a response, and the project's Dawid-Skene
(``backend.annotation.aggregation.dawid_skene``, Toloka crowd-kit's EM) estimates a confusion
matrix per function and the posterior of every candidate's class, as it does for people. An
abstention is simply no response. Gold answers, where some candidates have a known class, are
pinned as for people.

Dawid-Skene assumes the functions err independently given the true class. The champion and
track functions both read the champion (in this frame and in the neighbouring frames), so where
they agree the posterior is optimistic; that is why a weak label is judged against gold
(``backend.training.weak.accuracy``) and only labels whose posterior clears ``min_posterior``
are kept.

Snorkel's ``LabelModel`` does the same job with a matrix-completion estimator of the function
accuracies. It was not taken: its latest release (0.10.0, February 2024) would add tensorboard and
munkres to the cloud install for a second estimator of what Dawid-Skene already
estimates here, and the project keeps one implementation of each concept.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Final

import numpy as np
import numpy.typing as npt

from backend.annotation.aggregation import dawid_skene
from backend.errors import TrainingError
from backend.training.weak.functions import ABSTAIN

log = logging.getLogger(__name__)

F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]

DAWID_SKENE: Final = "dawid_skene"
CHAMPION_ONLY: Final = "champion_only"


@dataclass(frozen=True)
class WeakLabels:
    """The combined label of each of C candidates: ``label`` (index into the classes, ABSTAIN
    where no function voted), its ``posterior`` (0 where none voted), ``kept`` where the
    posterior is at least the threshold, and the model's estimate of each function's accuracy
    (the probability that its vote is right)."""

    method: str
    label: I64
    posterior: F64
    kept: npt.NDArray[np.bool_]
    function_accuracy: dict[str, float]
    min_posterior: float

    def __len__(self) -> int:
        return int(self.label.shape[0])

    def part(self, start: int, stop: int) -> WeakLabels:
        """The labels of candidates ``start:stop`` (one drive of several combined together)."""
        sl = slice(start, stop)
        return WeakLabels(
            self.method,
            self.label[sl],
            self.posterior[sl],
            self.kept[sl],
            self.function_accuracy,
            self.min_posterior,
        )


def _check(votes: I64, names: Sequence[str], classes: Sequence[str], min_posterior: float) -> None:
    if votes.ndim != 2 or votes.shape[1] != len(names):
        raise TrainingError(f"label model: votes {votes.shape} do not match functions {names}")
    if votes.size and (votes.min() < ABSTAIN or votes.max() >= len(classes)):
        raise TrainingError(
            f"label model: votes between {votes.min()} and {votes.max()} fall outside "
            f"ABSTAIN..{len(classes) - 1}"
        )
    if not 0.0 < min_posterior <= 1.0:
        raise TrainingError(f"label model: min_posterior must be in (0, 1], got {min_posterior}")


def combine(
    votes: I64,
    names: Sequence[str],
    classes: Sequence[str],
    *,
    min_posterior: float = 0.95,
    gold: Mapping[int, int] | None = None,
) -> WeakLabels:
    """Dawid-Skene over ``votes`` (C, L): column j holds function ``names[j]``'s vote per
    candidate (an index into ``classes`` or ABSTAIN); ``gold`` pins candidate -> class index."""
    _check(votes, names, classes, min_posterior)
    n = votes.shape[0]
    rows, cols = np.nonzero(votes != ABSTAIN)
    responses = [
        (int(r), names[c], classes[int(votes[r, c])])
        for r, c in zip(rows.tolist(), cols.tolist(), strict=True)
    ]
    pinned = {int(t): classes[k] for t, k in (gold or {}).items()}
    result = dawid_skene(responses, gold=pinned)
    index = {c: k for k, c in enumerate(classes)}
    label = np.full(n, ABSTAIN, dtype=np.int64)
    posterior = np.zeros(n, dtype=np.float64)
    for task, cls in result.labels.items():
        row = int(str(task))  # tasks are the candidates' row numbers
        label[row] = index[str(cls)]
        posterior[row] = result.confidence[task]
    kept = (label != ABSTAIN) & (posterior >= min_posterior)
    accuracy = {str(w): float(a) for w, a in result.accuracy.items()}
    log.info(
        "label model: %d candidates, %d with a vote, %d kept (posterior >= %.2f); function "
        "accuracy %s",
        n,
        int((label != ABSTAIN).sum()),
        int(kept.sum()),
        min_posterior,
        {k: round(v, 3) for k, v in accuracy.items()},
    )
    return WeakLabels(DAWID_SKENE, label, posterior, kept, accuracy, min_posterior)


def champion_only(votes: I64, names: Sequence[str], classes: Sequence[str]) -> WeakLabels:
    """The baseline: the champion function's vote as the label, kept wherever it voted
    (posterior 1 there: no model weighs it)."""
    _check(votes, names, classes, 1.0)
    if "champion" not in names:
        raise TrainingError(f"label model: no champion function among {list(names)}")
    label = votes[:, list(names).index("champion")].astype(np.int64)
    kept = label != ABSTAIN
    return WeakLabels(CHAMPION_ONLY, label, kept.astype(np.float64), kept, {}, 1.0)
