"""The active-learning order on hand-made embeddings: near-duplicates go behind distinct frames,
one predicted class cannot fill a batch, and otherwise the more uncertain frame comes first."""

from __future__ import annotations

import math

import numpy as np
import pytest

from backend.annotation.active import (
    NO_KIND,
    ActiveWeights,
    Candidates,
    FrameFeature,
    active_order,
    frame_feature,
    select_candidates,
    strict_priorities,
)
from backend.errors import InvalidInputError


def unit(*values: float) -> np.ndarray:
    v = np.asarray(values, dtype=np.float32)
    return (v / np.linalg.norm(v)).astype(np.float32)


def axis(i: int, dim: int = 8) -> np.ndarray:
    v = np.zeros(dim, dtype=np.float32)
    v[i] = 1.0
    return v


def frame(u: float, emb: np.ndarray | None, kind: str = "car") -> FrameFeature:
    return FrameFeature(u, emb, kind if emb is not None else NO_KIND, 0 if emb is None else 1)


def test_a_batch_takes_a_distinct_frame_before_a_near_duplicate() -> None:
    a = frame(1.0, unit(1, 0, 0), "car")
    near_a = frame(0.95, unit(1, 0.03, 0), "truck")  # the same object seen again
    b = frame(0.6, unit(0, 1, 0), "bus")
    c = frame(0.3, unit(0, 0, 1), "cyclist")
    order = active_order([a, near_a, b, c], ActiveWeights(batch_size=2))
    assert order.order.tolist()[:2] == [0, 2]
    assert order.order.tolist() == [0, 2, 3, 1]  # the near-duplicate waits for every other
    assert order.distance[1] < 0.001 and order.distance[2] == pytest.approx(1.0)
    assert math.isnan(order.distance[0]) and order.diversity[0] == 1.0  # nothing placed yet
    # without the diversity term the duplicate, being more uncertain, would come second
    plain = active_order([a, near_a, b, c], ActiveWeights(diversity=0.0, batch_size=2))
    assert plain.order.tolist() == [0, 1, 2, 3]


def test_one_class_cannot_fill_a_batch() -> None:
    cars = [frame(1.0 - 0.05 * i, axis(i), "car") for i in range(6)]
    people = [frame(0.2, axis(6), "pedestrian"), frame(0.1, axis(7), "pedestrian")]
    pool = cars + people
    balanced = active_order(pool, ActiveWeights(batch_size=4, max_kind_share=0.5))
    first = [pool[i].kind for i in balanced.order[:4]]
    assert first.count("car") == 2 and first.count("pedestrian") == 2
    assert balanced.batch[balanced.order].tolist() == [0, 0, 0, 0, 1, 1, 1, 1]
    assert balanced.order.tolist()[:2] == [0, 1]  # the two most uncertain cars lead
    # the soft term alone lowers a third car but a cap is what guarantees the mix
    assert sorted(balanced.same_kind[balanced.order[:4]].tolist()) == [0, 0, 1, 1]
    free = active_order(pool, ActiveWeights(batch_size=4, max_kind_share=1.0, kind_balance=0.0))
    assert [pool[i].kind for i in free.order[:4]] == ["car"] * 4


def test_the_cap_gives_way_when_only_one_kind_is_left() -> None:
    cars = [frame(1.0 - 0.1 * i, axis(i), "car") for i in range(5)]
    order = active_order(cars, ActiveWeights(batch_size=4, max_kind_share=0.25))
    assert order.order.tolist() == [0, 1, 2, 3, 4]
    assert order.same_kind[order.order].tolist() == [0, 1, 2, 3, 0]  # a new batch counts anew


def test_an_empty_frame_does_not_take_the_place_the_cap_frees() -> None:
    pool = [frame(1.0 - 0.1 * i, axis(i), "car") for i in range(3)] + [frame(0.0, None)]
    order = active_order(pool, ActiveWeights(batch_size=2, max_kind_share=0.5))
    assert order.order.tolist() == [0, 1, 2, 3]


def test_otherwise_the_more_uncertain_frame_wins_and_ties_go_to_the_earlier_one() -> None:
    u = [0.2, 0.9, 0.5, 0.9, 0.7]
    pool = [frame(v, axis(i), f"k{i}") for i, v in enumerate(u)]
    order = active_order(pool, ActiveWeights(batch_size=10))
    assert order.order.tolist() == [1, 3, 4, 2, 0]
    assert order.uncertainty_norm.tolist() == pytest.approx([v / 0.9 for v in u])
    assert order.rank.tolist() == [4, 0, 3, 1, 2]
    again = active_order(pool, ActiveWeights(batch_size=10))
    assert again.order.tolist() == order.order.tolist()
    assert again.value.tolist() == order.value.tolist()


def test_anchors_push_frames_like_the_ones_in_progress_back() -> None:
    pool = [frame(1.0, axis(0), "car"), frame(0.8, axis(1), "bus")]
    assert active_order(pool).order.tolist() == [0, 1]
    anchored = active_order(pool, anchors=[unit(1, 0.01, 0, 0, 0, 0, 0, 0)])
    assert anchored.order.tolist() == [1, 0]
    assert anchored.distance[1] == pytest.approx(0.99, abs=1e-3)  # to the anchor


def test_frames_without_candidates_come_last() -> None:
    pool = [frame(0.0, None), frame(0.1, axis(0)), frame(0.0, None), frame(0.3, axis(1), "bus")]
    order = active_order(pool)
    assert order.order.tolist() == [3, 1, 0, 2]
    assert order.diversity[0] == 0.0 and math.isnan(order.distance[0])
    assert order.kinds == (NO_KIND, "car", NO_KIND, "bus")


def test_a_frame_is_represented_by_its_most_uncertain_candidate() -> None:
    picked = select_candidates(
        ["car", "background", "pedestrian"],
        [0.1, 0.9, 0.4],
        [[3, 0], [0, 1], [0, 2]],
        foreground_only=True,
    )
    assert picked.kinds == ("car", "pedestrian") and len(picked) == 2
    feature = frame_feature(picked)
    assert (feature.uncertainty, feature.kind, feature.candidates) == (0.4, "pedestrian", 2)
    assert feature.embedding is not None and feature.embedding.tolist() == [0.0, 1.0]
    every = frame_feature(
        select_candidates(
            ["car", "background"], [0.1, 0.9], [[3, 0], [0, 1]], foreground_only=False
        )
    )
    assert every.kind == "background" and every.uncertainty == 0.9
    empty = frame_feature(select_candidates(["background"], [0.9], [[1, 0]], foreground_only=True))
    assert (empty.uncertainty, empty.embedding, empty.kind) == (0.0, None, NO_KIND)
    zero = frame_feature(Candidates(np.zeros((1, 2), np.float32), np.array([0.5]), ("car",)))
    assert zero.embedding is None and zero.uncertainty == 0.5


def test_bad_inputs_are_refused_with_their_values() -> None:
    with pytest.raises(InvalidInputError, match="frame 7: 2 kinds, 1 uncertainties"):
        select_candidates(["car", "bus"], [0.1], [[1], [2]], foreground_only=False, what="frame 7")
    with pytest.raises(InvalidInputError, match=r"candidate 1 has uncertainty -0\.5"):
        select_candidates(["car", "bus"], [0.1, -0.5], [[1], [2]], foreground_only=False)
    with pytest.raises(InvalidInputError, match="non-finite embedding"):
        select_candidates(["car"], [0.1], [[np.nan]], foreground_only=False)
    with pytest.raises(InvalidInputError, match=r"differ in dimension: \[2, 3\]"):
        active_order([frame(0.1, unit(1, 0)), frame(0.2, unit(1, 0, 0))])
    with pytest.raises(InvalidInputError, match="max_kind_share must be in"):
        ActiveWeights(max_kind_share=0.0)
    with pytest.raises(InvalidInputError, match="diversity must be finite"):
        ActiveWeights(diversity=-1.0)


def test_strict_priorities_keep_the_scale_and_break_ties_in_order() -> None:
    assert strict_priorities([1.0, 3.0, 2.0]) == [3.0, 2.0, 1.0]
    tied = strict_priorities([2.0, 2.0, 2.0, 0.5], step=0.01)
    assert tied == pytest.approx([2.0, 1.99, 1.98, 0.5])
    assert strict_priorities([]) == []
