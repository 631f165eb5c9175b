"""Simulated drives made for the edge-case suite (``backend.evaluation.suite``).

``longtail sim suite-drives --out DIR`` writes each drive of ``DEFAULT_SUITE`` under ``DIR``;
``longtail suite build --data DIR/*/ --out DIR/suite.json`` makes the suite of them. The seeds are
disjoint from every training plan (``simulators.training_drives.PLANS``; a test checks it), and
every suite frame is refused by the training-set build by its digest anyway.

Sizes (frames simulated; the build keeps every ``SUITE_STRIDE``-th, so neighbours are 0.2 s
apart): rare actors 50 + 40 (two seeds, hdl64), rain 30, fog 30, sparse 32-beam with rare actors
40; 190 frames simulated, 95 in the suite.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from pathlib import Path

from simulators.training_drives import PLANS

log = logging.getLogger(__name__)

#: the stride ``longtail suite build`` is meant to use on these drives
SUITE_STRIDE = 2


@dataclass(frozen=True)
class SuiteDrive:
    """One drive: scenario, seed, frames and, if given, a sensor preset overriding the
    scenario's (a sparse one for night-equivalent sparsity)."""

    name: str
    scenario: str
    seed: int
    frames: int
    sensor: str | None = None


DEFAULT_SUITE: tuple[SuiteDrive, ...] = (
    SuiteDrive("rare-901", "rare_heavy", 901, 50),
    SuiteDrive("rare-902", "rare_heavy", 902, 40),
    SuiteDrive("rain-911", "rain", 911, 30),
    SuiteDrive("fog-921", "fog", 921, 30),
    SuiteDrive("sparse-931", "rare_heavy", 931, 40, sensor="vlp32"),
)


def training_seeds() -> set[int]:
    """Every seed a training plan simulates (the suite must use none of them)."""
    return {
        seed for plan in PLANS.values() for drives in plan.splits.values() for seed, _ in drives
    }


def write_suite_drives(
    out: Path, drives: tuple[SuiteDrive, ...] = DEFAULT_SUITE, *, progress: bool = False
) -> list[Path]:
    """Simulate ``drives`` under ``out`` (a drive already there is reused); their folders."""
    from simulators.drive import write_drive
    from simulators.errors import ScenarioError
    from simulators.scenario import builtin_scenario

    clash = {d.seed for d in drives} & training_seeds()
    if clash:
        raise ScenarioError(f"suite drive seeds {sorted(clash)} are training seeds")
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    for d in drives:
        target = out / d.name
        if (target / "meta.json").exists():
            log.info("reusing suite drive %s", target)
        else:
            scenario = builtin_scenario(d.scenario)
            if d.sensor is not None:
                scenario = replace(scenario, sensor=d.sensor)
            write_drive(scenario, d.frames, d.seed, target, overwrite=True, progress=progress)
        paths.append(target)
    return paths
