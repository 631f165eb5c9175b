"""The people's half of ``make demo``: the stored frames become tasks, a simulated crowd labels,
reviews and adjudicates them through the HTTP API, QA measures the labels in 3D, and the accepted
labels freeze into a dataset version exported as KITTI.

Everything goes through the running server's API, as a labelling team's clients would: the
crowd (``simulators.crowd``) creates its people, seeds gold from the simulator's ground truth
and works concurrently; this module then asks ``/qa/report`` and ``/datasets`` what came of it.
"""

from __future__ import annotations

import json
import math
import urllib.request
from pathlib import Path
from typing import Any

from simulators.crowd import CrowdRun, run_crowd, truth_from_drive
from simulators.crowd.client import ApiClient
from simulators.crowd.consensus_check import ConsensusAccuracy, consensus_accuracy

#: the demo server's annotation settings (``[annotation]`` of backend.toml): a seeded run, gold
#: interleaved with real work, calibration first, and tasks made as soon as frames arrive
ANNOTATION_TOML = """
[annotation]
settle_s = 0
seed = 7
gold_share = 0.2
calibration_tasks = 3
spot_check_share = 0.2
"""
CALIBRATION_TASKS = 3


def _request(
    url: str, token: str, body: dict[str, Any] | None = None, timeout_s: float = 60.0
) -> bytes:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method="GET" if body is None else "POST")
    request.add_header("Authorization", f"Bearer {token}")
    if data is not None:
        request.add_header("Content-Type", "application/json")
    with urllib.request.urlopen(request, timeout=timeout_s) as response:
        return bytes(response.read())


def freeze_dataset(api: str, token: str, out: Path) -> dict[str, Any]:
    """Freeze every accepted label into a dataset version and export it as KITTI into ``out``."""
    version: dict[str, Any] = json.loads(_request(f"{api}/datasets", token, {"name": "demo"}))
    archive = out / f"dataset-{version['digest'][:12]}-kitti.zip"
    archive.write_bytes(
        _request(f"{api}/datasets/{version['digest']}/export?format=kitti", token, None)
    )
    return {
        "digest": version["digest"],
        "frames": version["frame_count"],
        "tasks": version["task_count"],
        "ontology_version": version["ontology_version"],
        "kitti_export": archive.name,
        "kitti_export_bytes": archive.stat().st_size,
    }


def label_stored_frames(
    api: str, admin_token: str, drive: Path, seed: int
) -> tuple[CrowdRun, ConsensusAccuracy]:
    """Run the default crowd against the server at ``api`` on the frames of ``drive``; score the
    server's Dawid-Skene and majority class choices on the overlap tasks against the truth."""
    truth = truth_from_drive(drive)
    run = run_crowd(
        api,
        admin_token,
        truth,
        seed=seed,
        progress=True,
        calibration_frames=CALIBRATION_TASKS,
    )
    with ApiClient(api, admin_token) as admin:
        return run, consensus_accuracy(admin, truth)


def summarize_labelling(
    run: CrowdRun, consensus: ConsensusAccuracy, dataset: dict[str, Any]
) -> dict[str, Any]:
    """The labelling figures the demo prints and writes to ``summary.json``."""
    qa = run.qa
    people = {p["name"]: p for p in qa.get("people", [])}
    boxes = sum(p.boxes for p in run.people if p.role == "annotator")
    hours = sum(p.simulated_hours for p in run.people if p.role == "annotator")
    return {
        "crowd_wall_s": run.wall_s,
        "gold_tasks": run.gold_tasks,
        "calibration_tasks": run.calibration_tasks,
        "tasks_left_waiting": run.pending_tasks,
        "routing": qa.get("routing", {}),
        "stages": qa.get("stages", {}),
        "tiers": qa.get("tiers", []),
        "batch": qa.get("batch", {}),
        "consensus_objects": consensus.objects,
        "dawid_skene_class_accuracy": consensus.dawid_skene if consensus.objects else None,
        "majority_vote_class_accuracy": consensus.majority if consensus.objects else None,
        "people": [
            {
                **{k: v for k, v in vars(p).items() if k != "decisions"},
                "decisions": p.decisions,
                "boxes_per_simulated_hour": None
                if math.isnan(p.boxes_per_hour)
                else p.boxes_per_hour,
                "gold_accuracy": people.get(p.name, {}).get("gold_accuracy"),
                "consensus_agreement": people.get(p.name, {}).get("consensus_agreement"),
                "rejection_rate": people.get(p.name, {}).get("rejection_rate"),
                "reviewer_accuracy": people.get(p.name, {}).get("reviewer_accuracy"),
                "calibration": people.get(p.name, {}).get("calibration"),
            }
            for p in run.people
        ],
        "flagged": sorted(
            p.name
            for p in run.people
            if p.flagged or people.get(p.name, {}).get("calibration") == "flagged"
        ),
        "annotator_boxes": boxes,
        "annotator_boxes_per_simulated_hour": boxes / hours if hours > 0 else None,
        "dataset": dataset,
    }


def _figure(value: Any, spec: str = ".2f") -> str:
    return "n/a" if value is None else format(value, spec)


def print_labelling_summary(summary: dict[str, Any], crowd_table: list[str]) -> None:
    """Tiers, agreement, accuracy per person (the flagged marked), throughput, time-to-decision."""
    batch = summary["batch"]
    lines = [
        "",
        "labelling (simulated crowd through the HTTP API)",
        f"  gold tasks seeded from the simulator's truth  {summary['gold_tasks']} "
        f"({summary['calibration_tasks']} of them the calibration set)",
        "  tasks routed by rule                         "
        + ", ".join(f"{rule}: {n}" for rule, n in sorted(summary["routing"].items())),
        "  per tier: tasks, accepted, time-to-decision p50 / p90 (s)",
    ]
    for tier in summary["tiers"]:
        lines.append(
            f"    tier {tier['tier']}   {tier['tasks']:4d} tasks  {tier['accepted']:4d} accepted  "
            f"{_figure(tier['time_to_decision_p50_s'], '.1f')} / "
            f"{_figure(tier['time_to_decision_p90_s'], '.1f')}"
        )
    lines += [
        f"  agreement on {batch.get('items', 0)} overlap objects: Fleiss' kappa "
        f"{_figure(batch.get('fleiss_kappa'))}, Krippendorff's alpha (classes) "
        f"{_figure(batch.get('krippendorff_alpha_class'))}",
        f"  classes of {summary['consensus_objects']} overlap objects right (truth): "
        f"Dawid-Skene {_figure(summary['dawid_skene_class_accuracy'])}, majority vote "
        f"{_figure(summary['majority_vote_class_accuracy'])}",
        f"  annotator throughput  {_figure(summary['annotator_boxes_per_simulated_hour'], '.0f')} "
        "boxes per simulated hour",
        "  flagged by gold       " + (", ".join(summary["flagged"]) or "nobody"),
        "",
        *("  " + line for line in crowd_table),
        "",
        f"dataset version {summary['dataset']['digest'][:12]}: {summary['dataset']['frames']} "
        f"frames, {summary['dataset']['tasks']} tasks -> {summary['dataset']['kitti_export']}",
        "",
    ]
    print("\n".join(lines))
