"""Class aggregation over many annotators: Dawid-Skene (Toloka ``crowd-kit``) with gold answers
pinned, and majority vote for comparison. A thin adapter: plain triples in, plain dicts out;
pandas lives only here.

Input is ``(task, worker, label)`` triples (any hashable ids and labels: a task may be a cluster
of boxes from ``qa.grouping``, a label a class name). Output is the aggregated label of every task
that has at least one response, the confidence in it, and per worker an estimated accuracy and
confusion matrix.

- **Dawid-Skene** (``crowdkit.aggregation.DawidSkene``): EM over per-worker confusion matrices.
  Gold answers are pinned with crowd-kit's own ``true_labels`` support: the posterior of every gold
  task is reset to its known answer before each M-step, so gold tasks teach the confusion
  matrices and always come out with their gold label. A worker's ``accuracy`` is the probability
  that their answer is right under the model, ``sum_c prior_c * confusion[c, c]``.
- **Majority vote** (``crowdkit.aggregation.MajorityVote``; ties go to crowd-kit's column order):
  gold tasks are then set to their gold answers, and a worker's accuracy is their share of
  answers that agree with the final labels.

``confusion[w]`` is ``(C, C)`` over ``categories``: row = the label the worker gave, column = the
true label, each column summing to 1 over the labels the worker used (Dawid-Skene's estimate; for
majority vote, counted against the final labels).
"""

from __future__ import annotations

import logging
from collections.abc import Hashable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd
from crowdkit.aggregation import DawidSkene, MajorityVote

from backend.errors import QualityError

log = logging.getLogger(__name__)

F64 = npt.NDArray[np.float64]
Response = tuple[Hashable, Hashable, Hashable]


@dataclass(frozen=True)
class Aggregation:
    """Aggregated labels and worker estimates (see the module docstring for each method).

    ``labels[task]`` is the aggregated label, ``confidence[task]`` its posterior probability
    (Dawid-Skene) or vote share (majority vote), 1 for gold tasks; ``categories`` orders the rows
    and columns of ``confusion[worker]``; ``accuracy[worker]`` is in [0, 1].
    """

    method: str
    labels: dict[Hashable, Hashable]
    confidence: dict[Hashable, float]
    accuracy: dict[Hashable, float]
    confusion: dict[Hashable, F64]
    categories: tuple[Hashable, ...]
    gold_tasks: int


def _frame(responses: Iterable[Response]) -> pd.DataFrame:
    rows = list(responses)
    for i, row in enumerate(rows):
        if len(row) != 3:
            raise QualityError(f"aggregation: response {i} is {row!r}, not (task, worker, label)")
    df = pd.DataFrame(rows, columns=["task", "worker", "label"], dtype=object)
    duplicated = df.duplicated(subset=["task", "worker"])
    if duplicated.any():
        task, worker = df.loc[duplicated.idxmax(), ["task", "worker"]]
        raise QualityError(f"aggregation: worker {worker!r} answered task {task!r} twice")
    return df


def _gold_series(gold: Mapping[Any, Hashable] | None, df: pd.DataFrame) -> pd.Series[Any]:
    if not gold:
        return pd.Series(dtype=object)
    series = pd.Series(dict(gold), dtype=object)
    return series[series.index.isin(df["task"].unique())]


def _categories(df: pd.DataFrame, gold: pd.Series[Any]) -> tuple[Hashable, ...]:
    seen = pd.unique(pd.concat([df["label"], gold], ignore_index=True))
    return tuple(sorted(seen, key=str))


def _empty(method: str) -> Aggregation:
    return Aggregation(method, {}, {}, {}, {}, (), 0)


def dawid_skene(
    responses: Iterable[Response],
    gold: Mapping[Any, Hashable] | None = None,
    n_iter: int = 100,
    tol: float = 1e-5,
) -> Aggregation:
    """Dawid-Skene aggregation of ``(task, worker, label)`` responses with ``gold`` answers
    (task -> label) pinned; at most ``n_iter`` EM steps, stopping when the per-response evidence
    lower bound gains less than ``tol``."""
    df = _frame(responses)
    if df.empty:
        return _empty("dawid_skene")
    gold_s = _gold_series(gold, df)
    categories = _categories(df, gold_s)
    model = DawidSkene(n_iter=n_iter, tol=tol)
    labels = model.fit_predict(df, true_labels=gold_s if len(gold_s) else None)
    probas = model.probas_
    errors = model.errors_
    priors = model.priors_
    if probas is None or errors is None or priors is None:  # crowd-kit fills them on fit
        raise QualityError("aggregation: Dawid-Skene returned no posteriors")
    log.debug("dawid-skene: %d responses, %d EM steps", len(df), len(model.loss_history_))
    probas = probas.reindex(columns=list(categories), fill_value=0.0)
    prior = priors.reindex(list(categories), fill_value=0.0).to_numpy(dtype=np.float64)
    confusion: dict[Hashable, F64] = {}
    accuracy: dict[Hashable, float] = {}
    for worker, block in errors.groupby(level="worker", sort=False):  # over workers
        matrix = (
            block.droplevel("worker")
            .reindex(index=list(categories), columns=list(categories), fill_value=0.0)
            .to_numpy(dtype=np.float64)
        )
        confusion[worker] = matrix
        accuracy[worker] = float(prior @ np.diag(matrix))
    return Aggregation(
        method="dawid_skene",
        labels=dict(labels.items()),
        confidence={t: float(probas.loc[t, labels[t]]) for t in labels.index},
        accuracy=accuracy,
        confusion=confusion,
        categories=categories,
        gold_tasks=len(gold_s),
    )


def majority_vote(
    responses: Iterable[Response], gold: Mapping[Any, Hashable] | None = None
) -> Aggregation:
    """Majority vote of ``(task, worker, label)`` responses; gold tasks take their gold answer."""
    df = _frame(responses)
    if df.empty:
        return _empty("majority_vote")
    gold_s = _gold_series(gold, df)
    categories = _categories(df, gold_s)
    model = MajorityVote()
    labels = model.fit_predict(df).astype(object)
    probas = model.probas_
    if probas is None:
        raise QualityError("aggregation: majority vote returned no vote shares")
    confidence = {t: float(probas.loc[t, labels[t]]) for t in labels.index}
    for task, answer in gold_s.items():
        labels[task] = answer
        confidence[task] = 1.0
    final = df["task"].map(labels)
    right = df["label"] == final
    accuracy = {w: float(v) for w, v in right.groupby(df["worker"], sort=False).mean().items()}
    counts = pd.crosstab([df["worker"], df["label"]], final)
    confusion: dict[Hashable, F64] = {}
    for worker in accuracy:
        block = counts.loc[worker].reindex(
            index=list(categories), columns=list(categories), fill_value=0
        )
        m = block.to_numpy(dtype=np.float64)
        total = m.sum(axis=0, keepdims=True)
        confusion[worker] = np.divide(m, total, out=np.zeros_like(m), where=total > 0)
    return Aggregation(
        method="majority_vote",
        labels=dict(labels.items()),
        confidence=confidence,
        accuracy=accuracy,
        confusion=confusion,
        categories=categories,
        gold_tasks=len(gold_s),
    )
