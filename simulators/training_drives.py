"""Simulated drives for training a model: which scenario, seeds and lengths make each split.

``longtail sim training-drives --plan baseline --out DIR`` writes the drives under ``DIR`` and
``DIR/splits.json``, which ``longtail model build-baseline --drives DIR`` trains on. Training never
imports the simulator: the split file is the whole contract between them.

``splits.json``::

    {"plan": "baseline", "scenario": "urban",
     "splits": {"train": ["train-101", ...], "val": ["val-201"], "test": ["test-301", ...]}}

Directory names are relative to the file's folder.

A plan with ``randomise`` (the ``randomised`` plan) gives every drive its own sensor, drawn from
its seed by ``randomised_sensor``: domain randomisation over the presets (32 to 128 beams, so
density), the strength of each real-sensor artefact, the beams' intensity calibration, the
mounting height and tilt, so that one model learns to work across sensors. Intensity is
written in [0, 1] whatever the sensor, since the readers normalise it to that range.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from core.formats.atomic import atomic_write_bytes
from simulators.effects import SensorEffects
from simulators.errors import ScenarioError
from simulators.sensors import PRESETS

log = logging.getLogger(__name__)

SPLITS_FILE = "splits.json"


@dataclass(frozen=True)
class DrivePlan:
    """Per split, the (seed, frames) of each drive of ``scenario``."""

    name: str
    scenario: str
    splits: dict[str, tuple[tuple[int, int], ...]] = field(default_factory=dict)
    randomise: bool = False  #: each drive its own sensor (``randomised_sensor``)


def randomised_sensor(seed: int) -> tuple[str, SensorEffects, float]:
    """The preset, artefacts and mounting height (metres) of the drive with ``seed``: presets in
    turn by seed, every artefact's strength drawn between off and about twice its published
    default (``simulators.sensors``), a wet road up to half soaked, a tilt of up to 1.5
    degrees, a height of 1.6 to 2.1 m."""
    names = sorted(PRESETS)
    preset = names[seed % len(names)]
    rng = np.random.default_rng([seed, 0x5E5])
    u = rng.uniform
    effects = replace(
        PRESETS[preset].realistic,
        multipath_rate=float(u(0.0, 0.01)),
        air_rate=float(u(0.0, 0.001)),
        noise_per_m=float(u(0.0, 0.0006)),
        divergence_rad=float(u(0.0, 0.005)),
        beam_gain_sigma=float(u(0.0, 0.3)),
        intensity_scale=1.0,
        wet_road=float(u(0.0, 0.5)),
        grazing_dropout=float(u(0.0, 0.6)),
        motion_distortion=True,
        pitch_deg=float(u(-1.5, 1.5)),
        roll_deg=float(u(-0.5, 0.5)),
    )
    return preset, effects, float(u(1.6, 2.1))


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

#: Domain-randomised drives over every preset and artefact: twice the baseline's frames (each
#: preset gets 140 training frames; with 70 per preset, as many frames as the baseline in all,
#: pedestrians and cyclists lost AP on every preset); seeds differ from the baseline's, so
#: neither plan's test drives were trained on by the other.
RANDOMISED = DrivePlan(
    name="randomised",
    scenario="urban",
    splits={
        "train": tuple((seed, 35) for seed in range(111, 151)),
        "val": ((211, 25), (212, 25), (213, 25), (214, 25)),
        "test": tuple((seed, 20) for seed in range(311, 316)),
    },
    randomise=True,
)

PLANS: dict[str, DrivePlan] = {BASELINE.name: BASELINE, RANDOMISED.name: RANDOMISED}


def simulate_plan(plan: DrivePlan, out: Path, *, progress: bool = False) -> Path:
    """Simulate every drive of ``plan`` under ``out`` (a drive already there is reused) and
    write ``out/splits.json``; returns the split file."""
    from simulators.drive import write_drive
    from simulators.scenario import Scenario, builtin_scenario

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
            elif plan.randomise:
                preset, effects, height = randomised_sensor(seed)
                drive_scenario: Scenario = replace(scenario, sensor=preset)
                write_drive(
                    drive_scenario,
                    frames,
                    seed,
                    target,
                    overwrite=True,
                    progress=progress,
                    effects=effects,
                    mount_height=height,
                )
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
