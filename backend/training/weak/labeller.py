"""Weak labels of a drive: the labelling functions' votes on its observations, the label model,
and the boxes each frame gets. Pure (the observations come in computed).

What a frame's labels hold (:meth:`WeakResult.frame_objects`):

- a candidate whose weak label is kept (posterior >= ``min_posterior``) and is a class: one
  object of that class with the champion's refined box and the candidate's track;
- a candidate kept as background: nothing (training calls every unlabelled candidate
  background);
- any other candidate (no function voted, or a posterior below the threshold): one object of
  class ``UNSURE`` with its fitted box (enlarged by ``UNSURE_MARGIN`` metres so that it holds
  the candidate's points). ``UNSURE`` is no class of any model, so training drops the
  candidate, as it drops rare objects (``backend.training.candidates``), instead of teaching
  that what the label model could not name is background.

A frame is written only when it holds at least one kept label. The champion-only baseline
(``label_model.champion_only``) goes through the same report so the two compare on the same
candidates.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Final

import numpy as np
import numpy.typing as npt

from backend.errors import TrainingError
from backend.training.weak.accuracy import class_report
from backend.training.weak.functions import ABSTAIN, FUNCTION_NAMES, VoteSettings, vote_matrix
from backend.training.weak.label_model import WeakLabels, champion_only, combine
from backend.training.weak.observe import Observed
from core.formats.dataset import ObjectLabel

log = logging.getLogger(__name__)

#: the class of a candidate the label model could not name (training drops it)
UNSURE: Final = "weak_unsure"
#: metres added to each side of an unsure candidate's fitted box
UNSURE_MARGIN: Final = 0.1


@dataclass(frozen=True)
class WeakSettings:
    """The labelling functions' settings and the posterior a weak label needs to be kept."""

    votes: VoteSettings = field(default_factory=VoteSettings)
    min_posterior: float = 0.95

    def to_json(self) -> dict[str, Any]:
        v = self.votes
        return {
            "min_posterior": self.min_posterior,
            "champion_min_score": v.champion_min_score,
            "champion_unanimous": v.champion_unanimous,
            "track_window": v.track_window,
            "track_min_votes": v.track_min_votes,
            "track_min_share": v.track_min_share,
            "track_min_score": v.track_min_score,
            "geometry_ranges": {
                name: dict(r.__dict__) for name, r in sorted(v.priors.ranges.items())
            },
        }


def _names(labels: WeakLabels, classes: tuple[str, ...]) -> list[str | None]:
    return [classes[k] if kept else None for k, kept in zip(labels.label, labels.kept, strict=True)]


@dataclass(frozen=True)
class WeakResult:
    """One drive's votes (C, L), weak labels, the champion-only baseline and, where the drive
    has ground truth, each candidate's gold class."""

    observed: Observed
    votes: npt.NDArray[np.int64]
    labels: WeakLabels
    baseline: WeakLabels
    gold: tuple[str, ...] | None = None

    @property
    def classes(self) -> tuple[str, ...]:
        return self.observed.observations.classes

    def frame_objects(self, position: int) -> tuple[ObjectLabel, ...]:
        """The objects written for the frame at ``position`` (see the module docstring)."""
        obs = self.observed.observations
        det = self.observed.detections[position]
        rows = np.flatnonzero(obs.frame == position)
        out = []
        for i, row in enumerate(rows):
            label, kept = int(self.labels.label[row]), bool(self.labels.kept[row])
            if kept and label == 0:
                continue
            if kept:
                name, box = self.classes[label], det.boxes[i]
            else:
                grown = det.fitted_boxes[i].copy()
                grown[3:6] += 2.0 * UNSURE_MARGIN
                name, box = UNSURE, grown
            values = tuple(float(v) for v in box)
            out.append(ObjectLabel(name, int(obs.track[row]), values, int(det.num_points[i])))  # type: ignore[arg-type]
        return tuple(out)

    def frame_posteriors(self, position: int) -> list[float]:
        """The posterior of every candidate of the frame at ``position``, in detection order."""
        rows = np.flatnonzero(self.observed.observations.frame == position)
        return [round(float(p), 6) for p in self.labels.posterior[rows]]

    def written_positions(self) -> list[int]:
        """The frames that hold at least one kept label."""
        frame, kept = self.observed.observations.frame, self.labels.kept
        return sorted({int(f) for f in frame[kept]})

    def weak_objects(self) -> dict[str, int]:
        """Kept weak labels per class over the written frames (background included)."""
        kept = self.labels.label[self.labels.kept]
        return dict(sorted(Counter(self.classes[int(k)] for k in kept).items()))

    def report(self) -> dict[str, Any]:
        """This drive's :func:`report`."""
        return report([self])


def report(results: Sequence[WeakResult]) -> dict[str, Any]:
    """Counts over ``results`` (drives labelled together), the label model's estimates and,
    when every drive has gold, the accuracy of the weak labels, of the champion-only baseline
    and of each labelling function."""
    if not results:
        raise TrainingError("weak labels: no result to report")
    classes = results[0].classes
    votes = np.concatenate([r.votes for r in results])
    objects: Counter[str] = Counter()
    for r in results:
        objects.update(r.weak_objects())
    out: dict[str, Any] = {
        "drives": len(results),
        "frames": sum(len(r.observed.detections) for r in results),
        "frames_written": sum(len(r.written_positions()) for r in results),
        "candidates": int(votes.shape[0]),
        "candidates_voted": int((votes != ABSTAIN).any(axis=1).sum()),
        "weak_labels_kept": sum(int(r.labels.kept.sum()) for r in results),
        "weak_objects": dict(sorted(objects.items())),
        "function_votes": {
            name: int((votes[:, j] != ABSTAIN).sum()) for j, name in enumerate(FUNCTION_NAMES)
        },
        "function_accuracy_estimated": results[0].labels.function_accuracy,
        "min_posterior": results[0].labels.min_posterior,
    }
    if all(r.gold is not None for r in results):
        gold = [g for r in results for g in r.gold or ()]
        weak = [n for r in results for n in _names(r.labels, classes)]
        base = [n for r in results for n in _names(r.baseline, classes)]
        out["accuracy"] = {
            "weak": class_report(weak, gold, classes),
            "champion_only": class_report(base, gold, classes),
            "functions": {
                name: class_report(
                    [classes[v] if v != ABSTAIN else None for v in votes[:, j]], gold, classes
                )
                for j, name in enumerate(FUNCTION_NAMES)
            },
        }
    return out


def label_drives(
    drives: Sequence[Observed],
    settings: WeakSettings = WeakSettings(),
    *,
    gold: Sequence[Sequence[str]] | None = None,
) -> list[WeakResult]:
    """Votes, weak labels and the baseline of each drive's ``observed`` candidates. Votes are
    cast per drive (tracks live in one drive); one label model is fitted on all of them (the
    functions' confusions are estimated from every candidate). ``gold`` (per drive, one class
    per candidate) only measures the labels, it never labels."""
    if not drives:
        raise TrainingError("weak labels: no drive to label")
    if gold is not None and len(gold) != len(drives):
        raise TrainingError(f"weak labels: gold for {len(gold)} drives, {len(drives)} given")
    classes = drives[0].observations.classes
    votes: list[npt.NDArray[np.int64]] = []
    for n, observed in enumerate(drives):
        obs = observed.observations
        if obs.classes != classes:
            raise TrainingError(
                f"weak labels: drive {n} has classes {obs.classes}, drive 0 {classes}"
            )
        if gold is not None and len(gold[n]) != len(obs):
            raise TrainingError(
                f"weak labels: drive {n} has {len(gold[n])} gold classes for {len(obs)} candidates"
            )
        votes.append(vote_matrix(obs, settings.votes))
    stacked = np.concatenate(votes)
    labels = combine(stacked, FUNCTION_NAMES, classes, min_posterior=settings.min_posterior)
    out = []
    start = 0
    for n, (observed, v) in enumerate(zip(drives, votes, strict=True)):
        stop = start + v.shape[0]
        out.append(
            WeakResult(
                observed,
                v,
                labels.part(start, stop),
                champion_only(v, FUNCTION_NAMES, classes),
                None if gold is None else tuple(gold[n]),
            )
        )
        start = stop
    return out
