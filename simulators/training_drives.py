"""Simulated drives for training a model: which scenario, seeds and lengths make each split.

``longtail sim training-drives --plan baseline --out DIR`` writes the drives under ``DIR`` and
``DIR/splits.json``, which ``longtail model build-baseline --drives DIR`` trains on. Training never
imports the simulator: the split file is the whole contract between them.

``splits.json``::

    {"plan": "baseline", "scenario": "urban",
     "splits": {"train": ["train-101", ...], "val": ["val-201"], "test": ["test-301", ...]}}

Directory names are relative to the file's folder.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from pathlib import Path

from core.formats.atomic import atomic_write_bytes
from simulators.errors import ScenarioError

log = logging.getLogger(__name__)

SPLITS_FILE = "splits.json"


@dataclass(frozen=True)
class DrivePlan:
    """Per split, the (seed, frames) of each drive of ``scenario``."""

    name: str
    scenario: str
    splits: dict[str, tuple[tuple[int, int], ...]] = field(default_factory=dict)


#: The shipped baseline's drives (seeds fixed: the build is reproducible).
BASELINE = DrivePlan(
    name="baseline",
    scenario="urban",
    splits={
        "train": ((101, 70), (102, 70), (103, 70), (104, 70), (105, 70)),
        "val": ((201, 50),),
        "test": ((301, 50), (302, 50)),
    },
)

PLANS: dict[str, DrivePlan] = {BASELINE.name: BASELINE}


def simulate_plan(plan: DrivePlan, out: Path, *, progress: bool = False) -> Path:
    """Simulate every drive of ``plan`` under ``out`` (a drive already there is reused) and
    write ``out/splits.json``; returns the split file."""
    from simulators.drive import write_drive
    from simulators.scenario import builtin_scenario

    scenario = builtin_scenario(plan.scenario)
    out.mkdir(parents=True, exist_ok=True)
    names: dict[str, list[str]] = {}
    for split, drives in plan.splits.items():
        names[split] = []
        for seed, frames in drives:
            name = f"{split}-{seed}"
            target = out / name
            if (target / "meta.json").exists():
                log.info("reusing simulated drive %s", target)
            else:
                write_drive(scenario, frames, seed, target, overwrite=True, progress=progress)
            names[split].append(name)
    document = {"plan": plan.name, "scenario": plan.scenario, "splits": names}
    path = out / SPLITS_FILE
    atomic_write_bytes(path, (json.dumps(document, indent=2) + "\n").encode())
    return path


def plan_by_name(name: str) -> DrivePlan:
    """The built-in plan called ``name``; ScenarioError lists the known ones."""
    try:
        return PLANS[name]
    except KeyError:
        raise ScenarioError(f"no drive plan {name!r} (known: {', '.join(sorted(PLANS))})") from None
