"""Annotators on the task API over real HTTP, against ``longtail backend serve`` as a process.

Shared by ``benchmarks.bench_task_api`` (throughput and latency under 1, 10, 50 clients) and the
server-kill test (``tests/backend/test_server_kill.py``)::

    work = prepare(tmp, metadata_url, frames=40, annotators=4)   # config, frames, tasks, people
    with BackendProcess(work) as server:                         # started through the CLI
        log = run_clients(server.api, work.tokens, cycles=10)    # threads, one httpx client each
    report = verify(work.metadata_url, log)                      # read back from the database

Each client loops: ``POST /work/next`` (lease), ``PUT /work/{id}/labels`` one or more times
(versioned: each save starts from the version the last one returned), ``POST .../submit``. Every
save is logged before it is sent and again with its answer, so after a run (or a server kill)
:func:`verify` can tell which acknowledged saves are stored with their version and content
digest, and whether a save in flight when the server died is stored whole or not at all.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import TracebackType
from typing import Any

import httpx
import numpy as np

from backend.annotation.labels import content_from_json, digest
from backend.config import MetadataConfig, load_config
from backend.ingest.service import blob_key_for
from backend.metadata.records import DetectionRecord, FrameRecord
from backend.wiring import build_backend, open_database
from core.formats.codec import encode_frame

ROOT = Path(__file__).resolve().parents[1]
#: a car 10 m ahead: the frame's one detection, and the box every client saves (moved a little)
CAR = (10.0, 2.0, -0.9, 4.2, 1.8, 1.6, 0.3)


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# -- the backend: config, frames, tasks, people --------------------------------------------------


@dataclass(frozen=True)
class Workspace:
    """A prepared backend: its config file, database URL, API port and annotators' tokens."""

    config: Path
    metadata_url: str
    api_port: int
    tokens: dict[str, str]
    log: Path

    @property
    def api(self) -> str:
        return f"http://127.0.0.1:{self.api_port}"


def frame_points(seed: int, per_box: int = 200) -> np.ndarray[Any, np.dtype[np.float32]]:
    """A small cloud: 1000 road points and ``per_box`` points inside :data:`CAR` (sensor frame)."""
    rng = np.random.default_rng(seed)
    ground = np.column_stack(
        [
            rng.uniform(-30, 30, 1000),
            rng.uniform(-30, 30, 1000),
            rng.normal(-1.73, 0.01, 1000),
            rng.uniform(0, 1, 1000),
        ]
    )
    x, y, z, length, width, height, yaw = CAR
    local = rng.uniform(-0.45, 0.45, (per_box, 3)) * [length, width, height]
    c, s = math.cos(yaw), math.sin(yaw)
    car = np.column_stack(
        [
            x + c * local[:, 0] - s * local[:, 1],
            y + s * local[:, 0] + c * local[:, 1],
            z + local[:, 2],
            rng.uniform(0, 1, per_box),
        ]
    )
    return np.ascontiguousarray(np.concatenate([ground, car]), dtype=np.float32)


def write_config(work: Path, metadata_url: str, api_port: int, ingest_port: int) -> Path:
    """``backend.toml`` for the load: no gold, spot checks or calibration (every lease is a plain
    annotation task), frames become tasks at once, one frame per task."""
    config = work / "backend.toml"
    config.write_text(
        f"""[ingest]
port = {ingest_port}
[api]
port = {api_port}
[storage]
path = "{(work / "blobs").as_posix()}"
staging_path = "{(work / "staging").as_posix()}"
[metadata]
url = "{metadata_url}"
[annotation]
settle_s = 0.0
context_window_s = 0.0
gold_share = 0.0
spot_check_share = 0.0
calibration_tasks = 0
seed = 1
"""
    )
    return config


def prepare(work: Path, metadata_url: str, *, frames: int, annotators: int) -> Workspace:
    """A backend under ``work`` on ``metadata_url`` (migrated, empty) holding ``frames`` stored
    frames, each already a task, and ``annotators`` people (tokens returned)."""
    work.mkdir(parents=True, exist_ok=True)
    api_port = free_port()
    config = write_config(work, metadata_url, api_port, free_port())
    backend = build_backend(load_config(config))
    try:
        received = datetime.now(UTC) - timedelta(minutes=5)
        for n in range(frames):
            points = frame_points(n)
            payload = encode_frame(points)
            frame_id = hashlib.sha256(payload).hexdigest()
            vehicle = f"car-{n % 4}"
            if n < 4:
                backend.add_vehicle(vehicle)
            backend.blobs.put(blob_key_for(frame_id), payload)
            record = FrameRecord(
                id=frame_id,
                vehicle=vehicle,
                captured_at_ns=1_764_576_000_000_000_000 + n * 10_000_000_000,
                received_at=received,
                pose={"x": 0.0, "y": 0.0, "z": 0.0, "roll": 0.0, "pitch": 0.0, "yaw": 0.0},
                sensor_name="hdl64",
                sensor_beams=64,
                sensor_max_range_m=120.0,
                model_version="load",
                frame_scores={"score": 0.5, "surprise": 0.5},
                rules_fired=["unusual_frame"],  # tier 2 by the shipped routing: one annotator
                priority=1.0,
                blob_key=blob_key_for(frame_id),
                payload_size=len(payload),
                num_points=int(points.shape[0]),
                encoding="ENCODING_LOSSLESS",
                quantization_step_m=0.0,
                detections=[DetectionRecord("car", 0.6, CAR, 200, {"knn_tail": 0.5})],
            )
            with backend.db.transaction("store a load frame") as uow:
                uow.frames.add(record)
        report = backend.annotation.builder.sync(settle=False)
        if len(report.created) != frames:
            raise RuntimeError(f"{frames} frames became {len(report.created)} tasks")
        tokens = {
            f"ann-{i:03d}": backend.people.create(f"ann-{i:03d}", "annotator")
            for i in range(annotators)
        }
    finally:
        backend.close()
    return Workspace(config, metadata_url, api_port, tokens, work / "backend.log")


class BackendProcess:
    """``longtail backend serve`` as a subprocess (appending to the workspace's log)."""

    def __init__(self, work: Workspace, *, start_timeout_s: float = 120.0) -> None:
        self.work = work
        self.start_timeout_s = start_timeout_s
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def api(self) -> str:
        return self.work.api

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def start(self) -> None:
        """Start the server and wait until ``GET /health`` answers ok."""
        config = str(self.work.config)
        with self.work.log.open("ab") as out:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "backend.cli", "backend", "serve", "--config", config],
                cwd=ROOT,
                env={**os.environ, "PYTHONUNBUFFERED": "1"},
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + self.start_timeout_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                tail = self.work.log.read_text(errors="replace")[-3000:]
                raise RuntimeError(f"the backend exited with {self.process.returncode}:\n{tail}")
            try:
                with urllib.request.urlopen(f"{self.api}/health", timeout=2) as response:
                    if json.loads(response.read()).get("status") == "ok":
                        return
            except OSError:
                pass
            time.sleep(0.1)
        self.kill()
        raise RuntimeError(f"the backend did not answer {self.api}/health in time")

    def kill(self) -> None:
        """SIGKILL: no shutdown code runs (a power cut, an OOM kill)."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(timeout=30)

    def stop(self) -> None:
        """SIGTERM and wait (SIGKILL after 30 s)."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.kill()

    def __enter__(self) -> BackendProcess:
        self.start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()


# -- the clients ----------------------------------------------------------------------------


@dataclass
class Save:
    """One save as its client saw it: logged when sent, completed with the answer."""

    client: str
    assignment_id: int
    task_id: int
    base_version: int
    digest: str
    status: int | None = None  # None: no answer (the server died with it in flight)
    label_set_id: int | None = None
    version: int | None = None
    seconds: float | None = None


@dataclass
class ClientLog:
    """What one client did: its leases (assignment -> task), saves, and per-call latencies (s)."""

    name: str
    leases: dict[int, int] = field(default_factory=dict)
    saves: list[Save] = field(default_factory=list)
    latency: dict[str, list[float]] = field(
        default_factory=lambda: {"lease": [], "save": [], "submit": []}
    )
    cycles: int = 0
    #: assignments whose submit was acknowledged, and the one whose submit got no answer
    submitted: set[int] = field(default_factory=set)
    submit_in_flight: int | None = None
    statuses: dict[str, int] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)

    def count(self, what: str, status: int | str) -> None:
        key = f"{what} {status}"
        self.statuses[key] = self.statuses.get(key, 0) + 1


def labels_for(
    frame_id: str, client: str, seq: int, ontology: dict[str, Any] | None = None
) -> dict[str, Any]:
    """The labels a client saves: the car box, nudged by ``seq`` cm so every save differs, with
    every attribute of ``ontology`` (a lease's document) given, so that what is stored is what
    was sent (the backend completes missing attributes with defaults)."""
    attributes = {
        name: values[0] for name, values in (ontology or {}).get("attributes", {}).items()
    }
    x, y, z, length, width, height, yaw = CAR
    return {
        "boxes": [
            {
                "id": f"{client}-car",
                "frame_id": frame_id,
                "track_id": 1,
                "class_name": "car",
                "box": [x + 0.01 * (seq % 50), y, z, length, width, height, yaw],
                "attributes": attributes,
            }
        ],
        "points": {},
    }


def label_digest(labels: dict[str, Any]) -> str:
    """The content digest the backend stores for ``labels`` (``backend.annotation.labels``)."""
    return digest(content_from_json(labels))


class Annotator:
    """One client: lease, ``saves`` versioned saves, submit; ``cycles`` times or until stopped."""

    def __init__(self, api: str, name: str, token: str, *, saves: int = 1) -> None:
        self.api = api
        self.log = ClientLog(name)
        self.token = token
        self.saves = saves

    def _timed(
        self, what: str, call: Callable[..., httpx.Response], url: str, **kwargs: Any
    ) -> httpx.Response:
        start = time.perf_counter()
        response = call(url, **kwargs)
        self.log.latency[what].append(time.perf_counter() - start)
        self.log.count(what, response.status_code)
        return response

    def run(self, cycles: int, stop: threading.Event, go: threading.Barrier | None = None) -> None:
        """Work until ``cycles`` are done, ``stop`` is set, the queue is empty or the server is
        gone (a transport error ends the client; the save it was sending stays unanswered)."""
        headers = {"Authorization": f"Bearer {self.token}"}
        with httpx.Client(base_url=self.api, headers=headers, timeout=60.0) as http:
            if go is not None:
                go.wait()
            try:
                while self.log.cycles < cycles and not stop.is_set():
                    if not self._cycle(http, stop):
                        return
            except httpx.TransportError as exc:
                self.log.errors.append(f"{type(exc).__name__}: {exc}")

    def _cycle(self, http: httpx.Client, stop: threading.Event) -> bool:
        lease = self._timed("lease", http.post, "/work/next")
        if lease.status_code == 204:
            return False
        if lease.status_code != 200:
            self.log.errors.append(f"lease: {lease.status_code} {lease.text[:200]}")
            return False
        work = lease.json()
        assignment, task = int(work["assignment_id"]), int(work["task_id"])
        self.log.leases[assignment] = task
        version = 0 if work["working"] is None else int(work["working"]["version"])
        frame = work["frames"][0]["id"]
        for n in range(self.saves):
            labels = labels_for(frame, self.log.name, len(self.log.saves), work["ontology"])
            save = Save(self.log.name, assignment, task, version, label_digest(labels))
            self.log.saves.append(save)  # logged before it is sent
            response = self._timed(
                "save",
                http.put,
                f"/work/{assignment}/labels",
                json={"base_version": version, "labels": labels, "draft": n < self.saves - 1},
            )
            save.seconds = self.log.latency["save"][-1]
            save.status = response.status_code
            if response.status_code != 200:
                self.log.errors.append(f"save: {response.status_code} {response.text[:200]}")
                return False
            body = response.json()
            save.label_set_id, save.version = int(body["label_set_id"]), int(body["version"])
            version = save.version
            if stop.is_set():
                return False
        self.log.submit_in_flight = assignment
        submit = self._timed(
            "submit", http.post, f"/work/{assignment}/submit", json={"base_version": version}
        )
        self.log.submit_in_flight = None
        if submit.status_code != 200:
            self.log.errors.append(f"submit: {submit.status_code} {submit.text[:200]}")
            return False
        self.log.submitted.add(assignment)
        self.log.cycles += 1
        return True


def run_clients(
    api: str,
    tokens: dict[str, str],
    *,
    cycles: int,
    saves: int = 1,
    stop: threading.Event | None = None,
) -> tuple[list[ClientLog], float]:
    """One thread per token, released together; returns their logs and the wall time (s) from
    the release to the last client's end."""
    stop = stop or threading.Event()
    clients = [Annotator(api, name, token, saves=saves) for name, token in tokens.items()]
    go = threading.Barrier(len(clients) + 1)
    threads = [
        threading.Thread(target=c.run, args=(cycles, stop, go), name=c.log.name, daemon=True)
        for c in clients
    ]
    for t in threads:
        t.start()
    go.wait()
    start = time.perf_counter()
    for t in threads:
        t.join()
    return [c.log for c in clients], time.perf_counter() - start


# -- reading back --------------------------------------------------------------------------


@dataclass(frozen=True)
class Verdict:
    """What the database holds against what the clients were told.

    ``lost``: acknowledged saves missing, or stored with another version or content;
    ``double_leased``: tasks with more live annotation leases than slots (``overlap``: 1 for
    the tier-2 tasks :func:`prepare` makes), or handed to more clients than slots; ``torn``: unanswered saves stored in part (a revision without its label set's
    version, its audit event, or with other content); ``in_flight_stored`` /
    ``in_flight_absent``: unanswered saves stored whole / not at all.
    """

    acknowledged: int
    lost: list[str]
    double_leased: list[str]
    torn: list[str]
    in_flight_stored: int
    in_flight_absent: int

    @property
    def ok(self) -> bool:
        return not (self.lost or self.double_leased or self.torn)


def verify(metadata_url: str, logs: Sequence[ClientLog]) -> Verdict:
    """Check every client's saves and leases against the database at ``metadata_url``."""
    db = open_database(MetadataConfig(url=metadata_url))
    lost: list[str] = []
    torn: list[str] = []
    double: list[str] = []
    stored = absent = acknowledged = 0
    try:
        with db.transaction("verify the load") as uow:
            holders: dict[int, set[str]] = {}
            for log in logs:
                for leased in log.leases.values():
                    holders.setdefault(leased, set()).add(log.name)
            for task_id, clients in holders.items():
                task = uow.tasks.require(task_id)
                if len(clients) > task.overlap:
                    double.append(f"task {task_id} ({task.overlap} slots) leased to {clients}")
                live = [
                    a
                    for a in uow.assignments.of_task(task_id)
                    if a.stage == "annotate" and a.state in ("active", "submitted")
                ]
                per_round: dict[int, int] = {}
                for a in live:
                    per_round[a.round] = per_round.get(a.round, 0) + 1
                double += [
                    f"task {task_id} round {r}: {n} live annotate assignments > {task.overlap}"
                    for r, n in per_round.items()
                    if n > task.overlap
                ]
            label_sets = {
                a.id: a.label_set_id for a in uow.assignments.all() if a.label_set_id is not None
            }
            saved_events = {
                (e.label_set_id, e.version)
                for e in uow.audit.list(limit=10**9)
                if e.action.startswith("labels.saved")
            }
            for log in logs:
                for save in log.saves:
                    if save.status == 200:
                        acknowledged += 1
                        assert save.label_set_id is not None and save.version is not None
                        revision = uow.label_sets.revision(save.label_set_id, save.version)
                        if revision is None or revision.digest != save.digest:
                            lost.append(
                                f"{save.client}: label set {save.label_set_id} v{save.version} "
                                f"{'missing' if revision is None else 'has other content'}"
                            )
                    elif save.status is None:
                        label_set = label_sets.get(save.assignment_id)
                        if label_set is None:
                            torn.append(f"{save.client}: assignment {save.assignment_id} gone")
                            continue
                        now = uow.label_sets.require(label_set).version
                        new = save.base_version + 1
                        revision = uow.label_sets.revision(label_set, new)
                        audited = (label_set, new) in saved_events
                        if now == save.base_version and revision is None and not audited:
                            absent += 1
                        elif (
                            now == new
                            and revision is not None
                            and revision.digest == save.digest
                            and audited
                        ):
                            stored += 1
                        else:
                            torn.append(
                                f"{save.client}: in-flight save on label set {label_set} from "
                                f"v{save.base_version}: set at v{now}, revision "
                                f"{'absent' if revision is None else revision.digest[:12]}, "
                                f"audited={audited}"
                            )
    finally:
        db.close()
    return Verdict(acknowledged, lost, double, torn, stored, absent)
