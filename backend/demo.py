"""``make demo``: the vehicle-to-cloud loop on the embedded default, with real processes.

1. simulate a drive in which rare objects (never in the model's training classes) appear now and then;
2. start the backend (`longtail backend serve`: gRPC ingest + HTTP API, SQLite + local blobs);
3. register a vehicle and run the vehicle daemon (`longtail-agent run`) on the drive: perception
   (ONNX Runtime) -> uncertainty/OOD scoring (numba) -> trigger rules and budget -> durable
   spool -> resumable gRPC upload;
4. ask the backend's HTTP API what it stored and compare with the simulator's ground truth:
   how many of the frames that show a rare object did the vehicle send, at what upload rate;
5. label them (``backend.demo_labelling``): the stored frames become tasks, a simulated crowd
   labels, reviews and adjudicates them through the HTTP API (gold from the simulator's truth),
   QA measures the labels, and the accepted labels become a dataset version exported as KITTI;
6-9. close the loop (``backend.demo_loop``): an edge-case suite, retraining from the champion,
   the release gate with its evidence, and a signed canary rollout that the vehicle daemon
   downloads, verifies and swaps in while it drives again, then promotion or rollback;
then it leaves an annotator account with a task waiting, and prints the labelling tool's URL.

Everything lands under ``--out`` (default ``out/demo``): the drive, both configs, the logs, the
backend's database and blobs, ``summary.json`` and a top view of the most urgent frame sent.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
import socket
import subprocess
import sys
import time
import tomllib
import urllib.request
from pathlib import Path
from typing import Any

from tqdm import tqdm

from backend.demo_capture import (
    print_summary,
    rare_frames,
    rare_observations,
    summarize,
    summarize_events,
)
from backend.demo_dashboards import add_safety_engineer, print_dashboards
from backend.demo_labelling import (
    ANNOTATION_TOML,
    CALIBRATION_TASKS,
    freeze_dataset,
    print_labelling_summary,
    print_tool,
    ready_task,
    summarize_labelling,
)
from backend.demo_loop import print_loop_summary, run_loop
from core.formats.dataset import Dataset

log = logging.getLogger(__name__)

#: The vehicle's trigger rules for the demo: the shipped example's rules over the model's scores.
DEMO_RULES = """
[[selection.rules]]
name = "novel_object"          # an object unlike anything in the training set
when = "min.knn_tail < 0.002 or min.mahalanobis_tail < 0.002"
min_interval_s = 0.5
priority = 3

[[selection.rules]]
name = "vru_unsure"            # a vulnerable road user the model is unsure about
when = "count.vru > 0 and min_confidence.vru < 0.5"
mode = "edge"
min_interval_s = 2
priority = 2

[[selection.rules]]
name = "unusual_frame"         # the frame as a whole is surprising (multiple-testing corrected)
when = "frame.surprise > 3"
min_interval_s = 1
priority = 1
"""


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def http_json(url: str, timeout_s: float = 5.0, token: str | None = None) -> Any:
    request = urllib.request.Request(url)
    if token is not None:
        request.add_header("Authorization", f"Bearer {token}")
    with urllib.request.urlopen(request, timeout=timeout_s) as response:
        return json.loads(response.read())


def wait_for_health(api: str, server: subprocess.Popen[bytes], timeout_s: float = 60.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise SystemExit(f"the backend exited with code {server.returncode}; see its log")
        try:
            if http_json(f"{api}/health", timeout_s=1.0).get("status") == "ok":
                return
        except OSError:
            pass
        time.sleep(0.2)
    raise SystemExit(f"the backend did not become healthy at {api} within {timeout_s:.0f} s")


def frames_processed(metrics_url: str) -> int | None:
    """The agent's ``longtail_agent_frames_total`` counter, or None while it is not up yet."""
    try:
        with urllib.request.urlopen(metrics_url, timeout=1.0) as response:
            text = response.read().decode()
    except OSError:
        return None
    for line in text.splitlines():
        if line.startswith("longtail_agent_frames_total "):
            return int(float(line.split()[1]))
    return None


def stored_frames(api: str, token: str) -> list[dict[str, Any]]:
    """Every frame the backend stored, through its paged HTTP API."""
    frames: list[dict[str, Any]] = []
    while True:
        page = http_json(f"{api}/frames?limit=200&offset={len(frames)}", token=token)
        frames.extend(page["items"])
        if not page["items"] or len(frames) >= page["total"]:
            return frames


def write_backend_config(out: Path, ingest_port: int, api_port: int) -> Path:
    backend_toml = out / "backend.toml"
    backend_toml.write_text(
        f"""[ingest]
port = {ingest_port}
[api]
port = {api_port}
[storage]
path = "data/blobs"
staging_path = "data/staging"
[metadata]
url = "sqlite:///{(out / "data" / "longtail.db").resolve()}"
[release]
signing_key_path = "data/release/signing.key"
{ANNOTATION_TOML}"""
    )
    return backend_toml


def write_agent_config(
    out: Path, drive: Path, ingest_port: int, metrics_port: int, public_key: str
) -> Path:
    agent_toml = out / "agent.toml"
    agent_toml.write_text(
        f"""[vehicle]
id = "demo-car"
token_file = "token"

[source]
kind = "replay"
path = "{drive.resolve()}"
rate = "max"

[selection]
frames_per_hour = 100000      # the replay runs far faster than real time
pre_frames = 1
post_frames = 1
sample_rate = 0.03              # the random monitoring sample: ordinary frames for the crowd too
seed = 1
{DEMO_RULES}
[spool]
dir = "spool"

[upload]
endpoint = "127.0.0.1:{ingest_port}"

[metrics]
port = {metrics_port}

[updates]                       # signed model packages from the backend's rollouts
public_key = "{public_key}"
poll_interval_s = 1
models_dir = "models"

[daemon]
exit_when_done = true
log_format = "kv"
"""
    )
    return agent_toml


def run_agent(out: Path, agent_toml: Path, label: str, frames: int, metrics_port: int) -> int:
    """Run the vehicle daemon over the drive once (log ``out/<label>.log``); its exit code."""
    with (out / f"{label}.log").open("wb") as agent_log:
        agent = subprocess.Popen(
            [sys.executable, "-m", "agent.cli", "run", "--config", str(agent_toml)],
            stdout=agent_log,
            stderr=subprocess.STDOUT,
            cwd=out,
        )
        with tqdm(total=frames, unit="frame", desc=label) as bar:
            while agent.poll() is None:
                done = frames_processed(f"http://127.0.0.1:{metrics_port}/metrics")
                if done is not None:
                    bar.update(min(done, frames) - bar.n)
                time.sleep(0.25)
            bar.update(frames - bar.n)
    return agent.returncode


def run(args: argparse.Namespace) -> int:
    from simulators.crowd import run_crowd, truth_from_drive
    from simulators.crowd.client import ApiClient
    from simulators.crowd.consensus_check import consensus_accuracy
    from simulators.drive import write_drive
    from simulators.render import load_frame
    from simulators.scenario import resolve_scenario
    from simulators.urgent_frame import explain_frame, render_urgent_frame

    out: Path = args.out.resolve()
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    drive = out / "drive"
    python = sys.executable

    print(f"[1/9] simulating {args.frames} frames of '{args.scenario}' (seed {args.seed})")
    write_drive(resolve_scenario(args.scenario), args.frames, args.seed, drive, progress=True)
    dataset = Dataset(drive)
    rare = rare_frames(dataset)
    seen = rare_observations(dataset)
    timestamps = {dataset.labels(i).timestamp_ns: i for i in dataset.indices}

    ingest_port, api_port, metrics_port = free_port(), free_port(), free_port()
    backend_toml = write_backend_config(out, ingest_port, api_port)
    api = f"http://127.0.0.1:{api_port}"
    cli = [python, "-m", "backend.cli"]
    config = ["--config", str(backend_toml)]
    # the release signing key (outside the repository: under the demo's data) and the shipped
    # baseline registered as the first champion; vehicles trust only this public key
    for command in (["keygen"], ["seed-baseline"]):
        subprocess.run([*cli, "release", *command, *config], check=True, capture_output=True)
    public_key = subprocess.run(
        [*cli, "release", "pubkey", *config], check=True, capture_output=True, text=True
    ).stdout.strip()
    agent_toml = write_agent_config(out, drive, ingest_port, metrics_port, public_key)
    print(f"[2/9] starting the backend: gRPC ingest on :{ingest_port}, HTTP API on {api}")
    token = (
        subprocess.run(
            [*cli, "backend", "vehicles", "add", "demo-car", "--config", str(backend_toml)],
            check=True,
            capture_output=True,
            text=True,
        )
        .stdout.strip()
        .split()[-1]
    )
    (out / "token").write_text(token + "\n")
    admin = (
        subprocess.run(
            [
                *cli,
                "backend",
                "people",
                "add",
                "demo-admin",
                "--role",
                "admin",
                "--config",
                str(backend_toml),
            ],
            check=True,
            capture_output=True,
            text=True,
        )
        .stdout.strip()
        .split()[-1]
    )
    safety_login = add_safety_engineer(cli, backend_toml, out)
    with (out / "backend.log").open("wb") as backend_log:
        server = subprocess.Popen(
            [*cli, "backend", "serve", "--config", str(backend_toml)],
            stdout=backend_log,
            stderr=subprocess.STDOUT,
        )
    try:
        wait_for_health(api, server)
        print(
            "[3/9] running the vehicle daemon on the drive (perception, scoring, selection, spool, upload)"
        )
        started = time.monotonic()

        def drive_agent(label: str) -> int:
            return run_agent(out, agent_toml, label, len(dataset), metrics_port)

        code = drive_agent("agent")
        if code != 0:
            print(f"the agent exited with code {code}; see {out / 'agent.log'}")
            return 1
        elapsed = time.monotonic() - started
        print("[4/9] asking the backend what it stored")
        stored = stored_frames(api, admin)
        top = max(stored, key=lambda f: (f["priority"], f["captured_at_ns"])) if stored else None
        top_detail = http_json(f"{api}/frames/{top['id']}", token=admin) if top else None
        events = summarize_events(seen, {f["captured_at_ns"] for f in stored})
        best = events["best_view"]
        best_id = next(
            (f["id"] for f in stored if best and f["captured_at_ns"] == best["timestamp_ns"]), None
        )
        rare_detail = http_json(f"{api}/frames/{best_id}", token=admin) if best_id else None
        print("[5/9] labelling: tasks, a simulated crowd through the API, QA, a dataset version")
        truth = truth_from_drive(drive)
        crowd = run_crowd(
            api, admin, truth, seed=args.seed, progress=True, calibration_frames=CALIBRATION_TASKS
        )
        with ApiClient(api, admin) as client:
            check = consensus_accuracy(client, truth)
        consensus = {
            "objects": check.objects,
            "dawid_skene_right": check.dawid_skene_right,
            "majority_right": check.majority_right,
        }
        frozen = freeze_dataset(api, admin, out)
        labelling = summarize_labelling(crowd.as_dict(), consensus, frozen)
        loop = run_loop(
            out=out,
            backend_toml=backend_toml,
            dataset_digest=frozen["digest"],
            label_agreement=labelling["batch"].get("krippendorff_alpha_class"),
            drive_agent=drive_agent,
            small=args.small,
        )
        tool = ready_task(api, admin, out)
    finally:
        server.terminate()
        server.wait(timeout=30)
    summary = summarize(stored, rare, timestamps, len(dataset), elapsed)
    summary["rare_events"] = events
    summary["labelling"] = labelling
    summary["loop"] = loop
    summary["tool"] = tool
    (out / "summary.json").write_text(json.dumps(summary, indent=2))
    print_summary(summary)
    print_labelling_summary(labelling, crowd.table())
    print_loop_summary(loop)
    rules = {r["name"]: r["when"] for r in tomllib.loads(DEMO_RULES)["selection"]["rules"]}
    for detail, picture, what in (
        (top_detail, out / "most_urgent_frame.png", "the most urgent frame sent"),
        (rare_detail, out / "captured_rare_object.png", "a captured rare object"),
    ):
        index = timestamps.get(detail["captured_at_ns"]) if detail else None
        if detail is None or index is None:
            continue
        points, labels = load_frame(drive, index)
        explanation = explain_frame(detail, rules)
        render_urgent_frame(
            points, labels, detail, explanation, picture, frame_name=f"frame #{index}"
        )
        print(f"top view of {what} (#{index}, rules {detail['rules_fired']}): {picture}")
    print(
        f"everything is under {out}/ (drive, configs, logs, database, blobs, summary.json, "
        "the dataset's KITTI export)"
    )
    print_tool(tool, backend_toml)
    print_dashboards(api, backend_toml, loop, safety_login)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m backend.demo", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--frames", type=int, default=800, help="frames to simulate (10 Hz)")
    parser.add_argument("--scenario", default="demo", help="built-in scenario or TOML file")
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--out", type=Path, default=Path("out/demo"))
    parser.add_argument(
        "--small",
        action="store_true",
        help="a fifth of the suite's frames and one training epoch (the tests' setting)",
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    return run(args)


if __name__ == "__main__":
    raise SystemExit(main())
