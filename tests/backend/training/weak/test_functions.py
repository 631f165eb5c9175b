"""Labelling functions on hand-made observations: each votes what its rule says, or abstains."""

from __future__ import annotations

import numpy as np
import pytest

from backend.errors import TrainingError
from backend.training.weak.functions import (
    ABSTAIN,
    FUNCTION_NAMES,
    GeometryPriors,
    Observations,
    champion_votes,
    geometry_votes,
    track_votes,
    vote_matrix,
)

CLASSES = ("background", "car", "truck", "bus", "pedestrian", "cyclist")
CAR, PED = CLASSES.index("car"), CLASSES.index("pedestrian")


def _probs(rows: list[list[dict[int, float]]]) -> np.ndarray:
    """(C, M, K) probabilities from, per candidate and member, {class: probability}; the rest
    of each member's mass goes to background."""
    out = np.zeros((len(rows), len(rows[0]), len(CLASSES)))
    for c, members in enumerate(rows):
        for m, probs in enumerate(members):
            for k, p in probs.items():
                out[c, m, k] = p
            out[c, m, 0] += 1.0 - out[c, m].sum()
    return out


def _obs(
    probs: np.ndarray,
    *,
    frame: list[int] | None = None,
    track: list[int] | None = None,
    sizes: list[tuple[float, float, float]] | None = None,
    classes: tuple[str, ...] = CLASSES,
) -> Observations:
    n = probs.shape[0]
    fitted = np.zeros((n, 7), dtype=np.float32)
    fitted[:, 3:6] = sizes if sizes is not None else [(1.0, 1.0, 1.0)] * n
    return Observations(
        np.array(frame if frame is not None else range(n), dtype=np.int64),
        probs,
        fitted.copy(),
        fitted,
        np.array(track if track is not None else range(n), dtype=np.int64),
        classes,
    )


def test_champion_votes_only_where_confident_and_unanimous() -> None:
    probs = _probs(
        [
            [{CAR: 0.97}, {CAR: 0.95}],  # confident, both members agree
            [{CAR: 0.8}, {CAR: 0.8}],  # below the score
            [{CAR: 1.0}, {CAR: 0.9}],  # confident mean
            [{CAR: 1.0}, {PED: 0.7}],  # mean 0.5 car / member two says pedestrian
            [{}, {}],  # confident background
        ]
    )
    votes = champion_votes(_obs(probs), 0.9)
    assert votes.tolist() == [CAR, ABSTAIN, CAR, ABSTAIN, 0]
    # a mean of 0.91 made of one member at 0.82 that still prefers car is unanimous
    split = _probs([[{CAR: 1.0}, {CAR: 0.82}]])
    assert champion_votes(_obs(split), 0.9).tolist() == [CAR]
    # members that disagree make the vote abstain even above the score
    torn = _probs([[{CAR: 1.0}] * 9 + [{PED: 0.6, CAR: 0.4}]])
    assert champion_votes(_obs(torn), 0.9).tolist() == [ABSTAIN]
    assert champion_votes(_obs(torn), 0.9, unanimous=False).tolist() == [CAR]
    with pytest.raises(TrainingError, match="min_score"):
        champion_votes(_obs(probs), 0.0)


def test_track_votes_come_from_the_other_frames_of_the_track() -> None:
    # track 7 over frames 0..5: the champion says car except in frame 3 (pedestrian);
    # track 9 is two frames long (too short); frame 20 of track 7 is out of every window
    says = [CAR, CAR, CAR, PED, CAR, CAR, CAR, PED, CAR]
    frame = [0, 1, 2, 3, 4, 5, 0, 1, 20]
    track = [7, 7, 7, 7, 7, 7, 9, 9, 7]
    probs = _probs([[{k: 1.0}] for k in says])
    votes = track_votes(_obs(probs, frame=frame, track=track), window=3, min_votes=3)
    # frame 3 gets car from its 5 neighbours, frame 2 from 4 of its 5 (0.8); frames 0, 1, 4
    # and 5 see the pedestrian among 3 or 4 neighbours (2/3, 3/4 < 0.8)
    assert votes[[2, 3]].tolist() == [CAR, CAR]
    assert votes[[0, 1, 4, 5]].tolist() == [ABSTAIN] * 4
    assert votes[[6, 7, 8]].tolist() == [ABSTAIN] * 3  # too short / alone in its window
    # with a looser majority, 3 of 4 neighbours are enough; 2 of 3 still are not
    loose = track_votes(_obs(probs, frame=frame, track=track), window=3, min_share=0.7)
    assert loose[[1, 2, 3, 4]].tolist() == [CAR] * 4
    assert loose[[0, 5]].tolist() == [ABSTAIN] * 2
    # a candidate never votes for itself: a track of 4 identical frames gives 3 votes each
    same = _probs([[{CAR: 1.0}]] * 4)
    assert track_votes(_obs(same, frame=[0, 1, 2, 3], track=[1] * 4)).tolist() == [CAR] * 4
    assert (
        track_votes(_obs(same, frame=[0, 1, 2, 3], track=[1] * 4), min_votes=4).tolist()
        == [ABSTAIN] * 4
    )
    # an object the champion is unsure of in every frame gets nothing from its track, though
    # its argmax is the same each time (what the model has never seen often looks like that)
    unsure = _probs([[{PED: 0.55, CAR: 0.45}]] * 6)
    frames6 = _obs(unsure, frame=list(range(6)), track=[1] * 6)
    assert (track_votes(frames6) == ABSTAIN).all()
    assert (track_votes(frames6, min_score=0.5) == PED).all()


def test_geometry_votes_by_size() -> None:
    sizes = [
        (0.5, 0.5, 1.7),  # upright and slim: a pedestrian or cyclist, never a car
        (4.5, 1.8, 1.5),  # car
        (11.0, 2.5, 3.2),  # bus or truck: abstain
        (20.0, 0.3, 3.0),  # a wall longer than any road user
        (3.0, 2.0, 6.0),  # taller than any road user
        (1.5, 0.4, 0.2),  # a kerb
        (1.8, 0.5, 1.6),  # car or cyclist: abstain
        (7.0, 2.4, 2.3),  # only a truck is this long at this height
    ]
    probs = _probs([[{}]] * len(sizes))
    votes = geometry_votes(_obs(probs, sizes=sizes))
    truck = CLASSES.index("truck")
    assert votes.tolist() == [ABSTAIN, CAR, ABSTAIN, 0, 0, 0, ABSTAIN, truck]
    # a champion class without size priors (a promoted rare class): no vote at all
    grown = (*CLASSES, "stroller")
    probs7 = np.concatenate([probs, np.zeros((len(sizes), 1, 1))], axis=2)
    assert (geometry_votes(_obs(probs7, sizes=sizes, classes=grown)) == ABSTAIN).all()
    # priors are data: narrower car heights drop the car vote
    narrow = GeometryPriors(
        ranges={**GeometryPriors().ranges, "car": GeometryPriors().ranges["truck"]}
    )
    assert geometry_votes(_obs(probs, sizes=sizes), narrow)[1] != CAR


def test_vote_matrix_has_one_column_per_function() -> None:
    probs = _probs([[{CAR: 1.0}]] * 5)
    obs = _obs(probs, frame=[0, 1, 2, 3, 4], track=[1] * 5, sizes=[(4.5, 1.8, 1.5)] * 5)
    votes = vote_matrix(obs)
    assert votes.shape == (5, len(FUNCTION_NAMES)) == (5, 3)
    assert (votes == CAR).all()


def test_observations_refuse_mismatched_shapes() -> None:
    probs = _probs([[{CAR: 1.0}]] * 2)
    with pytest.raises(TrainingError, match="track has shape"):
        Observations(
            np.zeros(2, np.int64),
            probs,
            np.zeros((2, 7), np.float32),
            np.zeros((2, 7), np.float32),
            np.zeros(3, np.int64),
            CLASSES,
        )
    with pytest.raises(TrainingError, match="start with background"):
        _obs(probs, classes=("car", *CLASSES[2:], "x"))
