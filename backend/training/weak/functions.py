"""Labelling functions: each votes, per candidate object, a class of the champion or ABSTAIN.

Pure numpy over one drive's :class:`Observations` (no I/O): what the vehicle's runtime saw of
every candidate (ensemble probabilities, refined and fitted boxes) and the world-frame track it
belongs to. A vote is an index into ``Observations.classes`` (0 = background), ``ABSTAIN`` = -1.

- :func:`champion_votes`: the champion's class where it is confident: ensemble-mean probability
  at least ``min_score`` and, with ``unanimous``, every ensemble member's own argmax the same
  (members that disagree mark what the model has not seen; its confident mean is not a label).
- :func:`track_votes`: the class the champion gives the *other* candidates of the same track
  within ``window`` frames either side (multi-frame consistency: a far, sparse view of a car is
  labelled by the near views of it); a neighbour counts where the champion's ensemble-mean
  probability of its class is at least ``min_score`` (an object the model is unsure of in every
  frame, as it is of what it has never seen, gets no vote from its track); needs ``min_votes``
  such neighbours and a majority of at least ``min_share`` among them; the candidate's own
  frame never votes for it.
- :func:`geometry_votes`: size priors on the fitted box (what the points show, not the
  network's refinement): the one class whose ranges contain the candidate's height and visible
  footprint; background when the candidate is taller, longer or flatter than every road user;
  abstains when several classes fit. A 0.5 x 0.5 x 1.7 m upright object is not a car (a car
  always shows at least one side of over a metre), so it gets no car vote.

All sizes are metres.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Final

import numpy as np
import numpy.typing as npt

from backend.errors import TrainingError
from core.classes import BACKGROUND

log = logging.getLogger(__name__)

F32 = npt.NDArray[np.float32]
F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]

#: the vote of a labelling function that does not decide
ABSTAIN: Final = -1


@dataclass(frozen=True)
class Observations:
    """What the runtime saw of the C candidates of one drive (frames in time order).

    - ``frame`` int64 (C,): position of the candidate's frame in the drive (0, 1, ...)
    - ``probs`` float64 (C, M, K): per ensemble member, the softmax over ``classes``
    - ``boxes`` float32 (C, 7): the champion's refined boxes (sensor frame)
    - ``fitted`` float32 (C, 7): the boxes fitted to the points before refinement
    - ``track`` int64 (C,): world-frame track id (``agent.tracking``)
    - ``classes`` (K,): the champion's classes, ``classes[0] == "background"``
    """

    frame: I64
    probs: F64
    boxes: F32
    fitted: F32
    track: I64
    classes: tuple[str, ...]

    def __post_init__(self) -> None:
        c, k = self.frame.shape[0], len(self.classes)
        if self.probs.ndim != 3 or (self.probs.shape[0], self.probs.shape[2]) != (c, k):
            raise TrainingError(
                f"observations: probs has shape {self.probs.shape}, expected ({c}, M, {k})"
            )
        for name, want in (("boxes", (c, 7)), ("fitted", (c, 7)), ("track", (c,))):
            got = tuple(getattr(self, name).shape)
            if got != want:
                raise TrainingError(f"observations: {name} has shape {got}, expected {want}")
        if not self.classes or self.classes[0] != BACKGROUND:
            raise TrainingError(f"observations: classes {self.classes} must start with background")

    def __len__(self) -> int:
        return int(self.frame.shape[0])

    @property
    def mean_probs(self) -> F64:
        """(C, K) ensemble-mean probabilities."""
        out: F64 = self.probs.mean(axis=1)
        return out

    def take(self, rows: npt.NDArray[np.integer] | npt.NDArray[np.bool_]) -> Observations:
        return Observations(
            self.frame[rows],
            self.probs[rows],
            self.boxes[rows],
            self.fitted[rows],
            self.track[rows],
            self.classes,
        )

    @classmethod
    def concat(cls, parts: list[Observations]) -> Observations:
        if not parts:
            raise TrainingError("observations: nothing to concatenate")
        classes = parts[0].classes
        if any(p.classes != classes for p in parts):
            raise TrainingError("observations: parts with different classes")
        return cls(
            np.concatenate([p.frame for p in parts]),
            np.concatenate([p.probs for p in parts]),
            np.concatenate([p.boxes for p in parts]),
            np.concatenate([p.fitted for p in parts]),
            np.concatenate([p.track for p in parts]),
            classes,
        )


def champion_votes(obs: Observations, min_score: float = 0.9, *, unanimous: bool = True) -> I64:
    """The champion's argmax class where its ensemble-mean probability is at least
    ``min_score`` (and, with ``unanimous``, every member's argmax agrees); else ABSTAIN."""
    if not 0.0 < min_score <= 1.0:
        raise TrainingError(f"champion votes: min_score must be in (0, 1], got {min_score}")
    mean = obs.mean_probs
    best = mean.argmax(axis=1) if len(obs) else np.zeros(0, dtype=np.int64)
    sure = mean[np.arange(len(obs)), best] >= min_score
    if unanimous and len(obs):
        sure &= (obs.probs.argmax(axis=2) == best[:, None]).all(axis=1)
    return np.where(sure, best, ABSTAIN).astype(np.int64)


def track_votes(
    obs: Observations,
    *,
    window: int = 5,
    min_votes: int = 3,
    min_share: float = 0.8,
    min_score: float = 0.7,
) -> I64:
    """The majority champion class of the other candidates of each candidate's track within
    ``window`` frames (see the module docstring); ABSTAIN below ``min_votes`` neighbours or a
    majority under ``min_share``."""
    if window < 1 or min_votes < 1 or not 0.5 < min_share <= 1.0:
        raise TrainingError(
            f"track votes: need window >= 1, min_votes >= 1, 0.5 < min_share <= 1; got "
            f"{window}, {min_votes}, {min_share}"
        )
    k = len(obs.classes)
    mean = obs.mean_probs
    guess = mean.argmax(axis=1) if len(obs) else np.zeros(0, dtype=np.int64)
    sure = mean[np.arange(len(obs)), guess] >= min_score
    out = np.full(len(obs), ABSTAIN, dtype=np.int64)
    order = np.lexsort((obs.frame, obs.track))
    tracks, starts = np.unique(obs.track[order], return_index=True)
    bounds = [*starts.tolist(), len(order)]
    for t in range(tracks.size):
        rows = order[bounds[t] : bounds[t + 1]]
        if rows.size <= min_votes:  # too short: no candidate has enough neighbours
            continue
        frames = obs.frame[rows]
        one_hot = np.zeros((rows.size, k), dtype=np.int64)
        one_hot[np.arange(rows.size), guess[rows]] = sure[rows]
        cum = np.vstack([np.zeros((1, k), dtype=np.int64), np.cumsum(one_hot, axis=0)])
        lo = np.searchsorted(frames, frames - window, side="left")
        hi = np.searchsorted(frames, frames + window, side="right")
        counts = cum[hi] - cum[lo] - one_hot  # the neighbours in the window, not itself
        total = counts.sum(axis=1)
        top = counts.argmax(axis=1)
        share = counts[np.arange(rows.size), top] / np.maximum(total, 1)
        ok = (total >= min_votes) & (share >= min_share)
        out[rows[ok]] = top[ok]
    return out


@dataclass(frozen=True)
class SizeRange:
    """The sizes a class can show in a LiDAR cluster (metres): the height of its top over the
    ground, and the visible footprint's long and short sides. Visible sides are at most the
    object's (an occluded object shows less), so only ``min_long`` bounds them from below."""

    min_height: float
    max_height: float
    max_long: float
    max_short: float
    min_long: float = 0.0

    def contains(self, height: F64, long: F64, short: F64) -> npt.NDArray[np.bool_]:
        out: npt.NDArray[np.bool_] = (
            (height >= self.min_height)
            & (height <= self.max_height)
            & (long >= self.min_long)
            & (long <= self.max_long)
            & (short <= self.max_short)
        )
        return out


def _default_ranges() -> dict[str, SizeRange]:
    # road users as they are built (passenger cars to SUVs, vans to box trucks, city buses,
    # adults, people on bicycles), with a few tens of centimetres for noise and partial views
    return {
        "car": SizeRange(1.2, 2.0, 5.6, 2.3, min_long=1.0),
        "truck": SizeRange(1.9, 4.2, 12.5, 2.8, min_long=1.5),
        "bus": SizeRange(2.7, 4.0, 15.0, 3.0, min_long=2.0),
        "pedestrian": SizeRange(1.0, 2.1, 1.2, 1.0),
        "cyclist": SizeRange(1.0, 2.1, 2.2, 1.0),
    }


@dataclass(frozen=True)
class GeometryPriors:
    """Per class :class:`SizeRange`; a cluster taller than ``background_above``, lower than
    ``background_below`` or longer than ``background_longer`` is no road user (walls, trees,
    kerbs, hedges)."""

    ranges: Mapping[str, SizeRange] = field(default_factory=_default_ranges)
    background_above: float = 4.5
    background_below: float = 0.5
    background_longer: float = 16.0


def geometry_votes(obs: Observations, priors: GeometryPriors = GeometryPriors()) -> I64:
    """The one class of ``obs.classes`` whose size range holds the fitted box; background for a
    box outside every road user's size; ABSTAIN when several classes could fit, and everywhere
    when a class of the champion has no size range (a promoted rare class: anything could be
    one)."""
    out = np.full(len(obs), ABSTAIN, dtype=np.int64)
    unknown = [c for c in obs.classes[1:] if c not in priors.ranges]
    if unknown:  # a class without priors could be anything: no vote by elimination is safe
        log.warning("geometry votes: no size priors for %s; the function abstains", unknown)
        return out
    l_ = obs.fitted[:, 3].astype(np.float64)
    w = obs.fitted[:, 4].astype(np.float64)
    height = obs.fitted[:, 5].astype(np.float64)
    long, short = np.maximum(l_, w), np.minimum(l_, w)
    fits = np.zeros(len(obs), dtype=np.int64)
    only = np.full(len(obs), ABSTAIN, dtype=np.int64)
    for k, name in enumerate(obs.classes[1:], start=1):
        inside = priors.ranges[name].contains(height, long, short)
        fits += inside
        only[inside] = k
    out[fits == 1] = only[fits == 1]
    nothing = (
        (height > priors.background_above)
        | (height < priors.background_below)
        | (long > priors.background_longer)
    )
    out[nothing & (fits == 0)] = 0
    return out


#: the labelling functions by name, in the column order of a vote matrix
FUNCTION_NAMES: Final = ("champion", "track", "geometry")


@dataclass(frozen=True)
class VoteSettings:
    """Settings of the three labelling functions (see each function)."""

    champion_min_score: float = 0.9
    champion_unanimous: bool = True
    track_window: int = 5
    track_min_votes: int = 3
    track_min_share: float = 0.8
    track_min_score: float = 0.7
    priors: GeometryPriors = field(default_factory=GeometryPriors)


def vote_matrix(obs: Observations, settings: VoteSettings = VoteSettings()) -> I64:
    """(C, 3) votes of ``FUNCTION_NAMES`` for every candidate."""
    return np.stack(
        [
            champion_votes(obs, settings.champion_min_score, unanimous=settings.champion_unanimous),
            track_votes(
                obs,
                window=settings.track_window,
                min_votes=settings.track_min_votes,
                min_share=settings.track_min_share,
                min_score=settings.track_min_score,
            ),
            geometry_votes(obs, settings.priors),
        ],
        axis=1,
    ).reshape(len(obs), len(FUNCTION_NAMES))
