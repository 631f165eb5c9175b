"""``make demo``, steps 6 to 9: the labels come back as a model on the vehicle.

6. the edge-case suite: held-out simulator drives (seeds no training plan uses) of rare actors,
   rain, fog and a sparse sensor, frozen into a versioned suite (``backend.evaluation.suite``);
7. retraining from the registry's champion on the demo's dataset version plus a replay of the
   baseline's own first training drive (``backend.release.turn``), logged to MLflow;
8. champion and candidate on every suite slice in the same run, the release gate, the verdict
   and its evidence in the metadata database;
9. if the gate lets it through: a canary rollout; the vehicle daemon drives again, polls for its
   assignment, downloads the signed package, verifies and swaps it in between two frames and
   reports its health; the rollout service judges the canary and promotes or rolls back.

The demo process opens the same configuration as the running server (SQLite in WAL mode, the
same blob directory and signing key); the stages are the product's own, wired here.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

from backend.config import load_config
from backend.evaluation.suite import Suite, build_suite, write_suite
from backend.metadata.repositories.rollouts import CANARY
from backend.release.gate import load_gate
from backend.release.rollout import RolloutService
from backend.release.turn import TurnResult, run_turn
from backend.wiring import build_backend

log = logging.getLogger(__name__)

#: the baseline's first training drive (``simulators.training_drives.BASELINE``): replayed so the
#: candidate keeps what the champion learnt
REPLAY_SEED, REPLAY_FRAMES = 101, 70
#: drives of the canary before the demo gives up waiting for the campaign's decision
MAX_CANARY_DRIVES = 4
#: the demo's vehicle is the whole fleet, so the canary is that one vehicle
CANARY_SHARE = 1.0


def build_demo_suite(out: Path, *, small: bool) -> Suite:
    """Simulate the suite's drives (fewer frames with ``small``) and freeze the suite."""
    from simulators.suite_drives import DEFAULT_SUITE, SUITE_STRIDE, write_suite_drives

    drives = DEFAULT_SUITE
    if small:
        drives = tuple(replace(d, frames=max(6, d.frames // 5)) for d in DEFAULT_SUITE)
    paths = write_suite_drives(out / "drives", drives, progress=True)
    suite = build_suite(paths, out, stride=SUITE_STRIDE)
    write_suite(suite, out)
    return suite


def replay_drive(out: Path) -> Path:
    """The baseline's first training drive, simulated again (the simulator is deterministic)."""
    from simulators.drive import write_drive
    from simulators.scenario import builtin_scenario

    target = out / f"urban-{REPLAY_SEED}"
    if not (target / "meta.json").exists():
        write_drive(builtin_scenario("urban"), REPLAY_FRAMES, REPLAY_SEED, target, progress=True)
    return target


def run_loop(
    *,
    out: Path,
    backend_toml: Path,
    dataset_digest: str,
    label_agreement: float | None,
    drive_agent: Callable[[str], int],
    small: bool,
) -> dict[str, Any]:
    """Steps 6 to 9 (see the module docstring); the figures for ``summary.json``.
    ``drive_agent(label)`` runs the vehicle daemon over the drive once and returns its exit
    code."""
    config = load_config(backend_toml)
    if small:
        # the tests' setting: the turn's mechanics on a tiny drive, not learning (one epoch at
        # the smallest learning rate leaves the candidate next to the champion)
        config = replace(config, training=replace(config.training, epochs=1, learning_rate=1e-7))
    backend = build_backend(config)
    try:
        started = time.perf_counter()
        print(
            "[6/9] the edge-case suite: held-out drives of rare actors, rain, fog, a sparse sensor"
        )
        suite = build_demo_suite(out / "suite", small=small)
        suite_s = time.perf_counter() - started
        replay = replay_drive(out / "replay")
        print(
            f"[7/9] retraining from the champion on dataset {dataset_digest[:12]} + replay "
            f"({config.training.epochs} epochs; MLflow under {config.training.dir})"
        )
        # the one-turn lease, as every turn takes it: a retraining the server's trigger started
        # meanwhile makes this one fail with a ConflictError naming it, instead of racing it
        with backend.training.lease(
            "cli", "make demo", [f"dataset version {dataset_digest}"]
        ) as held:
            result = run_turn(
                backend,
                dataset_digest=dataset_digest,
                replay=[replay],
                suite=suite,
                gate=load_gate(),
                label_agreement=label_agreement,
                canary_share=CANARY_SHARE,
            )
            held.summary = result.summary()
        print(f"[8/9] {result.verdict.summary().splitlines()[0]}")
        summary = result.summary()
        summary["seconds"]["suite"] = round(suite_s, 2)
        summary["suite"] = {"version": suite.version, "frames": len(suite.frames)}
        if result.campaign is None:
            print("      release blocked; an admin may bypass the verdict with a reason")
            return summary
        summary["rollout"] = _roll_out(result, backend.release.rollout, drive_agent)
        summary["seconds"]["rollout"] = summary["rollout"]["seconds"]
        return summary
    finally:
        backend.close()


def _roll_out(
    result: TurnResult, rollout: RolloutService, drive_agent: Callable[[str], int]
) -> dict[str, Any]:
    campaign = result.campaign
    assert campaign is not None
    print(
        f"[9/9] canary rollout {campaign.id} of {result.run.version} to "
        f"{', '.join(campaign.canary_vehicles)}: the vehicle drives again and updates itself"
    )
    started = time.perf_counter()
    # a short drive can end before the candidate has run long enough for the reports the
    # campaign needs (on a busy machine the download takes most of it): drive on, as a car would
    for drive in range(1, MAX_CANARY_DRIVES + 1):
        code = drive_agent("agent-canary" if drive == 1 else f"agent-canary-{drive}")
        if code != 0:
            raise RuntimeError(f"the canary drive's agent exited with code {code}")
        evaluation = rollout.evaluate(campaign.id)
        decided = rollout.get(campaign.id)
        if decided.state != CANARY:
            break
        print(f"      still undecided after drive {drive}: {evaluation.reason}")
    seconds = time.perf_counter() - started
    print(f"      rollout {decided.state}: {decided.decision_reason or evaluation.reason}")
    return {
        "campaign": campaign.id,
        "state": decided.state,
        "reason": decided.decision_reason or evaluation.reason,
        "figures": evaluation.figures(),
        "seconds": round(seconds, 2),
    }


def print_loop_summary(loop: dict[str, Any]) -> None:
    """The loop's figures as the demo prints them: the candidate, the gate, the rollout and the
    feedback-loop latency by stage."""
    seconds = loop["seconds"]
    stages = [
        ("suite", "suite"),
        ("training set", "retrain.dataset"),
        ("training", "retrain"),
        ("evaluation", "evaluation"),
        ("gate", "gate"),
        ("rollout", "rollout"),
    ]
    lines = [
        "",
        "the loop, one turn",
        f"  candidate {loop['candidate']} from champion {loop['champion']}; "
        f"classes promoted from the labels: {', '.join(loop['promoted_classes']) or 'none'}",
        f"  gate: {'PASSED' if loop['gate_passed'] else 'FAILED'} ({loop['checks']} checks"
        + (f"; failed: {', '.join(loop['failed_slices'])}" if loop["failed_slices"] else "")
        + f"), verdict {loop['verdict_id']} with its evidence in the database",
    ]
    rollout = loop.get("rollout")
    if rollout is not None:
        lines.append(f"  rollout {rollout['campaign']}: {rollout['state']} ({rollout['reason']})")
    total = sum(seconds.get(key, 0.0) for _, key in stages if key != "retrain.dataset")
    end = "the fleet's decision" if rollout is not None else "the verdict"
    lines.append(
        "  latency by stage (s): "
        + ", ".join(f"{name} {seconds[key]:.1f}" for name, key in stages if key in seconds)
        + f"; last label to {end}: {total:.0f} s"
    )
    print("\n".join(lines))
