"""Dawid-Skene through crowd-kit on a simulated crowd: it beats majority vote, ranks the spammer
last, and gold answers stay pinned."""

from __future__ import annotations

from collections.abc import Hashable

import numpy as np
import pytest

from backend.annotation.aggregation import dawid_skene, majority_vote
from backend.errors import QualityError

CLASSES = ("car", "truck", "pedestrian", "cyclist")
#: the class a tired annotator confuses each class with
CONFUSED = {"car": "truck", "truck": "car", "pedestrian": "cyclist", "cyclist": "pedestrian"}
WORKERS = ("good-0", "good-1", "good-2", "good-3", "careless", "spammer")


def _crowd(
    seed: int, spammer: str, n_tasks: int = 300, per_task: int = 3, n_gold: int = 20
) -> tuple[list[tuple[Hashable, Hashable, Hashable]], dict[str, str], dict[str, str]]:
    """Responses, truth and gold answers. Good workers: right 85 %, the confusable class 10 %,
    anything 5 %; the careless one: 55 / 30 / 15 %; the spammer answers at random or always
    "car". Each task gets ``per_task`` distinct workers; the first ``n_gold`` tasks are gold."""
    rng = np.random.default_rng(seed)
    truth = {f"task-{i}": CLASSES[int(rng.integers(0, 4))] for i in range(n_tasks)}
    responses: list[tuple[Hashable, Hashable, Hashable]] = []
    for task, true in truth.items():
        for worker in rng.choice(WORKERS, per_task, replace=False):
            u, anything = rng.random(), CLASSES[int(rng.integers(0, 4))]
            if worker == "spammer":
                label = anything if spammer == "random" else "car"
            elif worker == "careless":
                label = true if u < 0.55 else CONFUSED[true] if u < 0.85 else anything
            else:
                label = true if u < 0.85 else CONFUSED[true] if u < 0.95 else anything
            responses.append((task, str(worker), label))
    gold = {t: truth[t] for t in list(truth)[:n_gold]}
    return responses, truth, gold


@pytest.mark.parametrize(
    ("seed", "spammer"), [(0, "random"), (1, "constant"), (2, "random"), (3, "constant")]
)
def test_dawid_skene_beats_majority_vote_and_finds_the_spammer(seed: int, spammer: str) -> None:
    responses, truth, gold = _crowd(seed, spammer)
    ds = dawid_skene(responses, gold)
    mv = majority_vote(responses, gold)
    scored = [t for t in truth if t not in gold]

    def accuracy(labels: dict[Hashable, Hashable]) -> float:
        return float(np.mean([labels[t] == truth[t] for t in scored]))

    assert accuracy(ds.labels) > accuracy(mv.labels) + 0.01
    assert min(ds.accuracy, key=lambda w: ds.accuracy[w]) == "spammer"
    assert ds.accuracy["careless"] < min(ds.accuracy[w] for w in WORKERS[:4])
    # the estimates track the simulated skills (about 150 answers each: +-0.12): good workers
    # are right 85 % + 5 % / 4 of the time, the careless one 55 % + 15 % / 4, the spammer 1 / 4
    for w in WORKERS[:4]:
        assert ds.accuracy[w] == pytest.approx(0.85 + 0.05 / 4, abs=0.12)
    assert ds.accuracy["careless"] == pytest.approx(0.55 + 0.15 / 4, abs=0.12)
    assert ds.accuracy["spammer"] == pytest.approx(0.25, abs=0.12)
    # a confusion matrix per worker, columns (true labels) summing to 1
    assert ds.categories == tuple(sorted(CLASSES))
    for matrix in ds.confusion.values():
        assert matrix.shape == (4, 4)
        np.testing.assert_allclose(matrix.sum(axis=0), 1.0, atol=1e-6)
    assert ds.gold_tasks == mv.gold_tasks == len(gold)


def test_gold_answers_are_pinned() -> None:
    responses = [
        ("gold-1", "w1", "car"),
        ("gold-1", "w2", "car"),
        ("gold-1", "w3", "car"),
        ("t-2", "w1", "truck"),
        ("t-2", "w2", "truck"),
        ("t-3", "w3", "car"),
    ]
    gold = {"gold-1": "truck", "not-in-batch": "car"}
    for agg in (dawid_skene(responses, gold), majority_vote(responses, gold)):
        assert agg.labels["gold-1"] == "truck"  # the crowd said car; gold wins
        assert agg.confidence["gold-1"] == pytest.approx(1.0)
        assert "not-in-batch" not in agg.labels and agg.gold_tasks == 1
    mv = majority_vote(responses, gold)
    assert mv.labels["t-2"] == "truck"
    assert mv.accuracy["w3"] == pytest.approx(0.5)  # wrong on gold, right (alone) on t-3
    np.testing.assert_allclose(mv.confusion["w3"][:, mv.categories.index("truck")], [1.0, 0.0])


def test_empty_and_bad_input() -> None:
    assert dawid_skene([]).labels == {} and majority_vote([]).accuracy == {}
    with pytest.raises(QualityError, match="worker 'w1' answered task 't' twice"):
        dawid_skene([("t", "w1", "car"), ("t", "w1", "truck")])
    with pytest.raises(QualityError, match="not \\(task, worker, label\\)"):
        majority_vote([("t", "w1")])  # type: ignore[list-item]
