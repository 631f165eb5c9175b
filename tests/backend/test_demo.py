"""``make demo`` end to end on a short drive: real backend and agent processes, real model."""

from __future__ import annotations

import json
import re
import tomllib
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from backend import demo
from backend.config import load_config
from backend.demo_dashboards import SAFETY_ENGINEER, SAFETY_PASSWORD_FILE
from backend.wiring import build_backend
from core.formats.dataset import Dataset
from tests.annotator.server import serve_backend


def test_demo_uploads_what_the_agent_selected_and_reports_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "demo"
    code = demo.main(
        ["--frames", "24", "--scenario", "rare_heavy", "--seed", "3", "--out", str(out), "--small"]
    )
    assert code == 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["frames_driven"] == len(Dataset(out / "drive")) == 24
    assert 0 < summary["frames_uploaded"] <= 24
    assert summary["frames_uploaded"] == len(summary["uploaded_frame_indices"])
    assert summary["rare_object_frames"] > 0  # rare_heavy shows rare objects in most frames
    assert sum(summary["uploads_by_rule"].values()) >= summary["frames_uploaded"]
    blobs = [
        p for p in (out / "data" / "blobs").rglob("*") if p.is_file() and "frames%2F" in p.name
    ]
    assert len(blobs) == summary["frames_uploaded"]
    assert (out / "most_urgent_frame.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # events: rare tracks, counted against the frames the backend stored
    events = summary["rare_events"]
    assert events["events"] >= events["eligible"] >= events["captured"]
    assert sum(c["eligible"] for c in events["by_class"].values()) == events["eligible"] > 0
    assert sum(c["captured"] for c in events["by_class"].values()) == events["captured"]
    if events["captured"]:
        best = events["best_view"]
        drive = Dataset(out / "drive")
        stored_at = {drive.labels(i).timestamp_ns for i in summary["uploaded_frame_indices"]}
        assert best["timestamp_ns"] in stored_at and best["points"] >= events["rule"]["near_points"]
        assert (out / "captured_rare_object.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    labelling = summary["labelling"]
    assert labelling["flagged"] == ["ann-spammer"]  # caught by the calibration gold
    assert labelling["tasks_left_waiting"] == 0
    accepted = sum(tier["accepted"] for tier in labelling["tiers"])
    assert accepted == labelling["dataset"]["tasks"] > 0
    assert (out / labelling["dataset"]["kitti_export"]).read_bytes()[:2] == b"PK"

    # the loop closed: a candidate retrained from the champion on the version, gated on the
    # suite with its evidence stored, rolled out to the canary, which swapped it in and reported
    loop = summary["loop"]
    assert loop["candidate"].startswith("retrain-") and loop["champion"].startswith("baseline-")
    # verdict 1 is the champion judged alone on the same suite, just before the candidate's
    assert loop["gate_passed"] and loop["checks"] > 10 and loop["verdict_id"] == 2
    assert loop["canary"] == ["demo-car"]
    rollout = loop["rollout"]
    assert rollout["state"] in {"promoted", "rolled_back"}, rollout  # decided, with its numbers
    assert rollout["figures"]["canary"]["frames"] > 0 and rollout["reason"]
    swapped = "".join(p.read_text() for p in sorted(out.glob("agent-canary*.log")))
    assert f"-> {loop['candidate']} between frames" in swapped
    assert set(loop["seconds"]) >= {"suite", "retrain", "evaluation", "gate", "rollout"}

    # the labelling tool's URL with a task waiting for the demo's annotator account
    tool = summary["tool"]
    port = tomllib.loads((out / "backend.toml").read_text())["api"]["port"]
    assert tool["url"] == f"http://127.0.0.1:{port}/app/"
    printed = capsys.readouterr().out
    assert f"open {tool['url']} and log in as {tool['login']}" in printed
    assert f"task {tool['task_id']} waits for them" in printed
    secret = out / tool["password_file"]
    assert secret.stat().st_mode & 0o077 == 0  # the owner's only
    backend = build_backend(load_config(out / "backend.toml"))
    try:
        token, _ = backend.people.login(tool["login"], secret.read_text().strip())
        lease = backend.annotation.queue.next(backend.people.authenticate(token), "annotate")
        assert lease.task.id == tool["task_id"] and lease.assignment.state == "active"
    finally:
        backend.close()
    check_dashboards(out, printed, loop)


def check_dashboards(out: Path, printed: str, loop: dict[str, object]) -> None:
    """The printed dashboard URLs answer once the demo's backend is served again, with the
    login printed, and show the demo's own loop."""
    urls = dict(re.findall(r"^  (safety case|release|operations)\b.*?: (http\S+)$", printed, re.M))
    assert set(urls) == {"safety case", "release", "operations"}, printed[-2000:]
    name, secret = re.findall(r"log in as (\S+) \(safety engineer; password in (\S+)\)", printed)[0]
    assert name == SAFETY_ENGINEER and Path(secret) == out / SAFETY_PASSWORD_FILE
    assert Path(secret).stat().st_mode & 0o077 == 0  # the owner's only
    password = Path(secret).read_text().strip()
    config = out / "backend.toml"
    port = tomllib.loads(config.read_text())["api"]["port"]
    released = parse_qs(urlsplit(urls["safety case"]).fragment.split("?")[1])["version"][0]
    rollout = loop["rollout"]
    assert isinstance(rollout, dict)
    assert released == (loop["candidate"] if rollout["state"] == "promoted" else loop["champion"])
    with serve_backend(config, port, out / "backend-again.log") as url:
        for page in urls.values():
            assert page.startswith(f"{url}/app/dashboard.html#/")
            answer = httpx.get(page.split("#")[0], timeout=10)
            assert answer.status_code == 200 and "Longtail dashboards" in answer.text
        token = httpx.post(
            f"{url}/auth/login", json={"name": name, "password": password}, timeout=10
        ).json()["token"]
        with httpx.Client(
            base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=60
        ) as api:
            release = api.get(f"/safety/releases/{loop['candidate']}").json()
            assert release["verdict"]["id"] == loop["verdict_id"]
            assert release["verdict"]["passed"] == loop["gate_passed"]
            case = api.get("/safety/case", params={"model_version": released})
            assert case.status_code == 200 and case.json()["model_version"] == released
            # live evidence on the demo's suite whichever model the fleet runs: the candidate's
            # verdict, or the champion's, judged alone on the same suite in the same turn
            evidence = case.json()["verdict"]
            assert evidence is not None and not case.json()["stale"]
            assert evidence["model_version"] == released
            assert evidence["suite_version"] == release["verdict"]["suite_version"]
            ops = api.get("/ops/kpis").json()
            # the demo's turn held the one-turn lease like any other, and is on record
            [run] = api.get("/training/runs").json()
            assert (run["trigger"], run["actor"], run["state"]) == ("cli", "make demo", "finished")
            assert run["model_version"] == loop["candidate"]
    # the operations page's numbers are the demo's: its one loop, with the latency by stage
    # measured from the database's own timestamps, and the frames its vehicle captured
    [turn] = ops["loops"]
    assert (turn["verdict_id"], turn["model_version"]) == (loop["verdict_id"], loop["candidate"])
    [latency] = ops["latency"]
    assert latency["tasks"] > 0 and latency["stages"]["labelling"] > 0
    assert latency["stages"]["dataset_to_verdict"] > 0
    assert latency["decision"] == rollout["state"]
    stored = {c["trigger"] for c in ops["capture"]}
    assert stored and any(c["frames_analysed"] > 0 for c in ops["capture"])
    assert sum(p["objects"] for p in ops["agreement"]) > 0
