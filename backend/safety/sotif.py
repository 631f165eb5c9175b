"""The SOTIF view (ISO 21448) of a model version: the triggering conditions the edge-case suite
knows, with their status, and the field discoveries it does not cover yet.

- **Known area**: every suite slice that names a triggering condition (``class:<c>``,
  ``distance:<band>``, ``occlusion``, ``weather:<kind>``, ``sparse``; not ``all`` and not the data
  checks) found in the version's gate evidence or named by an SPI of the case. Its status is the
  worst status of the case's SPIs on that slice; ``argued`` is false for a slice the gate
  measured but no SPI of the case argues over (status None); ``in_suite`` is false for a slice
  the case argues over that the current suite does not hold (its SPIs are challenged: missing).
  ``gate_passed`` says whether every gated check of the version's verdict on that slice passed.
- **Unknown area**: classes of the fleet's captured, accepted (non-gold) labels that are not a
  common class (``core.classes.COMMON_CLASSES``: what the baseline model was trained on) and that
  the current suite has no ``class:<c>`` slice for (no verdict on the current suite has a row on
  it: the suite holds no such object). ``unknown_obstacle`` (what annotators give an object no
  class fits) is always a discovery. These wait to be added to the suite.

Pure: ``backend.safety.service`` reads the evidence and the accepted labels.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from backend.metadata.repositories.evidence import EvidenceRecord
from backend.safety.spi import Assessment, worst
from core.classes import BACKGROUND, COMMON_CLASSES, UNKNOWN_OBSTACLE

#: slice name prefixes (or names) of triggering conditions -> their kind
CONDITION_KINDS = (
    ("class:", "class"),
    ("distance:", "distance"),
    ("occlusion", "occlusion"),
    ("weather:", "weather"),
    ("sparse", "sparsity"),
)


@dataclass(frozen=True)
class ClassTally:
    """Accepted labelled objects of one class: boxes, the frames and tasks holding them, the
    vehicles that captured them and when the first and last of those tasks were accepted."""

    name: str
    objects: int
    frames: int
    tasks: int
    vehicles: tuple[str, ...]
    first_accepted: datetime | None
    last_accepted: datetime | None

    def to_json(self) -> dict[str, Any]:
        return {
            "class_name": self.name,
            "objects": self.objects,
            "frames": self.frames,
            "tasks": self.tasks,
            "vehicles": list(self.vehicles),
            "first_accepted": self.first_accepted,
            "last_accepted": self.last_accepted,
        }


def condition_kind(slice_name: str) -> str | None:
    """The kind of triggering condition a slice names (None: not one, e.g. ``all``)."""
    for prefix, kind in CONDITION_KINDS:
        if slice_name.startswith(prefix):
            return kind
    return None


def sotif_view(
    assessment: Assessment,
    rows: Sequence[EvidenceRecord],
    covered_slices: Iterable[str],
    tallies: Mapping[str, ClassTally],
) -> dict[str, Any]:
    """The known and unknown areas for ``assessment``'s version (module docstring); ``rows``
    are its verdict's evidence, ``covered_slices`` the slices the current suite holds,
    ``tallies`` the accepted labels by class. JSON-safe except datetimes."""
    slices = [r.slice for r in rows if r.kind != "missing" and condition_kind(r.slice)]
    slices += [s.spi.slice for s in assessment.spis.values() if condition_kind(s.spi.slice)]
    covered = set(covered_slices)
    known = []
    for name in dict.fromkeys(slices):
        spis = [s for s in assessment.spis.values() if s.spi.slice == name]
        gated = [r for r in rows if r.slice == name and r.gated and r.kind != "missing"]
        kind = condition_kind(name)
        tally = tallies.get(name.removeprefix("class:")) if kind == "class" else None
        known.append(
            {
                "slice": name,
                "kind": kind,
                "status": worst([s.status for s in spis]).value if spis else None,
                "argued": bool(spis),
                "in_suite": name in covered,
                "spis": [s.spi.node for s in spis],
                "gate_passed": all(bool(r.passed) for r in gated) if gated else None,
                "checks": [
                    {
                        "evidence_id": r.id,
                        "kind": r.kind,
                        "metric": r.metric,
                        "value": r.value,
                        "lo": r.lo,
                        "hi": r.hi,
                        "threshold": r.threshold,
                        "passed": r.passed,
                    }
                    for r in rows
                    if r.slice == name
                ],
                "accepted_objects": None if tally is None else tally.objects,
            }
        )
    unknown = [
        t.to_json()
        for t in sorted(tallies.values(), key=lambda t: (-t.objects, t.name))
        if t.name not in COMMON_CLASSES
        and t.name != BACKGROUND
        and (t.name == UNKNOWN_OBSTACLE or f"class:{t.name}" not in covered)
    ]
    verdict = assessment.verdict
    return {
        "model_version": assessment.model_version,
        "verdict_id": None if verdict is None else verdict.id,
        "suite_version": None if verdict is None else verdict.suite_version,
        "current_suite": assessment.current_suite,
        "known": known,
        "unknown": unknown,
    }
