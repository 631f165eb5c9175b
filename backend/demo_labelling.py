"""The people's half of ``make demo``: the stored frames become tasks, a simulated crowd labels,
reviews and adjudicates them through the HTTP API, QA measures the labels in 3D, and the accepted
labels freeze into a dataset version exported as KITTI.

Everything goes through the running server's API, as a labelling team's clients would: the
crowd (``simulators.crowd``, started by ``backend.demo``, the one backend module that may drive
simulators) creates its people, seeds gold from the simulator's ground truth and works
concurrently; this module freezes the result through ``/datasets`` and sums up the crowd's run
and the server's ``/qa/report``, passed in as plain data. At the end it leaves an annotator
account with a task waiting for it, for a person to open in the labelling tool.
"""

from __future__ import annotations

import json
import secrets
import urllib.request
from pathlib import Path
from typing import Any

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
#: the account the demo leaves for a person to try the labelling tool with
DEMO_ANNOTATOR = "demo-annotator"
#: where its password is written, under the demo's output folder (readable by its owner only)
PASSWORD_FILE = "demo-annotator.password"


#: where ``make demo`` writes, which ``make serve`` serves
DEFAULT_DEMO_CONFIG = Path("out/demo/backend.toml")


def serve_command(backend_toml: Path) -> str:
    """The command that serves a finished demo's backend again (same database, same port)."""
    if backend_toml == DEFAULT_DEMO_CONFIG:
        return "make serve"
    return f"longtail backend serve --config {backend_toml}"


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


def ready_task(api: str, token: str, out: Path) -> dict[str, object]:
    """Create :data:`DEMO_ANNOTATOR` (a random password, written to ``out/PASSWORD_FILE``) and
    make sure a task waits for it in the labelling tool: lease its next task, then give the lease
    back, which keeps the task for them (the queue resumes a given-back task for its holder
    while nobody else takes it). A new annotator's first tasks are the calibration gold tasks,
    which every annotator does once, so one always waits. Returns the tool's URL, the login,
    the password file and the task id (None if nothing waited)."""
    password = secrets.token_urlsafe(15)
    created = json.loads(
        _request(
            f"{api}/people",
            token,
            {"name": DEMO_ANNOTATOR, "role": "annotator", "password": password},
        )
    )
    secret = out / PASSWORD_FILE
    secret.touch(mode=0o600)
    secret.write_text(password + "\n")
    annotator = str(created["token"])
    answer = _request(f"{api}/work/next", annotator, {})
    task_id = None
    if answer:  # 204 (nothing waiting) has no body
        lease = json.loads(answer)
        task_id = int(lease["task_id"])
        _request(f"{api}/work/{lease['assignment_id']}/release", annotator, {})
    return {
        "url": f"{api}/app/",
        "login": DEMO_ANNOTATOR,
        "password_file": PASSWORD_FILE,
        "task_id": task_id,
    }


def print_tool(tool: dict[str, object], backend_toml: Path) -> None:
    """How to open the labelling tool on the demo's data with the task that waits."""
    waiting = (
        f"task {tool['task_id']} waits for them"
        if tool["task_id"] is not None
        else "no task waits for them"
    )
    print(
        f"labelling tool: run `{serve_command(backend_toml)}`, then open "
        f"{tool['url']} and log in as {tool['login']} (password in "
        f"{backend_toml.parent / str(tool['password_file'])}): {waiting}"
    )


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


def summarize_labelling(
    crowd: dict[str, Any], consensus: dict[str, int], dataset: dict[str, Any]
) -> dict[str, Any]:
    """The labelling figures the demo prints and writes to ``summary.json``, from the crowd's
    run (``CrowdRun.as_dict()``, with the server's QA report under ``qa``), the consensus check
    (objects, dawid_skene_right, majority_right) and the dataset version."""
    qa = crowd["qa"]
    people = {p["name"]: p for p in qa.get("people", [])}
    annotators = [p for p in crowd["people"] if p["role"] == "annotator"]
    boxes = sum(p["boxes"] for p in annotators)
    hours = sum(p["simulated_hours"] for p in annotators)
    objects = consensus["objects"]
    return {
        "crowd_wall_s": crowd["wall_s"],
        "gold_tasks": crowd["gold_tasks"],
        "calibration_tasks": crowd["calibration_tasks"],
        "tasks_left_waiting": crowd["pending_tasks"],
        "routing": qa.get("routing", {}),
        "stages": qa.get("stages", {}),
        "tiers": qa.get("tiers", []),
        "batch": qa.get("batch", {}),
        "consensus_objects": objects,
        "dawid_skene_class_accuracy": consensus["dawid_skene_right"] / objects if objects else None,
        "majority_vote_class_accuracy": consensus["majority_right"] / objects if objects else None,
        "people": [
            {
                **p,
                "boxes_per_simulated_hour": p["boxes"] / p["simulated_hours"]
                if p["simulated_hours"] > 0
                else None,
                **{
                    figure: people.get(p["name"], {}).get(figure)
                    for figure in (
                        "gold_accuracy",
                        "consensus_agreement",
                        "rejection_rate",
                        "reviewer_accuracy",
                        "calibration",
                    )
                },
            }
            for p in crowd["people"]
        ],
        "flagged": sorted(
            p["name"]
            for p in crowd["people"]
            if p["flagged"] or people.get(p["name"], {}).get("calibration") == "flagged"
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
