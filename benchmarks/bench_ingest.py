"""Ingest load benchmark: N vehicle processes uploading to ``longtail backend serve`` on loopback.

Run: ``.venv/bin/python -m benchmarks.bench_ingest [--vehicles 1 10 100] [--points 30000]``.
Writes ``benchmarks/results/ingest.json``.

Every case is one fresh backend process (started through the CLI, as in production) with one
metadata store (SQLite file | PostgreSQL on 127.0.0.1:5432, a fresh database) and one blob store
(local directory | S3 on a moto server over HTTP), and N vehicle processes from
``simulators/fleet.py`` uploading distinct codec-encoded frames at the same time, each with the
agent's own ``IngestClient`` (the uploader the vehicle daemon runs). Reported per
case: frames/s and MB/s (payload bytes, from the first request to the last ack), p50/p99 time to
ack per frame, the server's CPU seconds and utilisation and peak RSS, and the check that every
frame is stored exactly once with a blob whose SHA-256 is its id (lost = 0, duplicated = 0).
Baseline measured in the same run on the same filesystem: raw disk-write bytes/s of frame-sized
files written with the same durability (temp + fsync + rename) and of one big fsynced write.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from pathlib import Path
from typing import Any

import grpc

from agent.spool.record import decode_record
from backend.config import MetadataConfig
from backend.ingest.auth import register_vehicle
from backend.metadata.records import FrameFilter
from backend.metadata.unit_of_work import Database
from backend.storage.base import BlobStore
from backend.storage.local import LocalBlobStore
from backend.storage.s3 import S3BlobStore, make_s3_client
from backend.wiring import open_database
from benchmarks.machine import describe_machine
from benchmarks.provenance import provenance
from core.formats.atomic import atomic_write_bytes
from simulators.fleet import RECORD_SUFFIX, FrameResult, prepare_fleet, run_fleet

log = logging.getLogger(__name__)

RESULTS = Path(__file__).resolve().parent / "results" / "ingest.json"
ROOT = Path(__file__).resolve().parents[1]
PG_ADMIN = "host=127.0.0.1 port=5432 user=postgres dbname=postgres connect_timeout=3"
FAKE_AWS = {
    "AWS_ACCESS_KEY_ID": "bench",
    "AWS_SECRET_ACCESS_KEY": "bench",
    "AWS_DEFAULT_REGION": "us-east-1",
}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))
    return ordered[index]


# -- services ----------------------------------------------------------------------------------


@contextmanager
def moto_server(log_dir: Path) -> Iterator[str]:
    """moto's S3 server as a subprocess; yields its endpoint URL."""
    port = free_port()
    with (log_dir / "moto.log").open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    endpoint = f"http://127.0.0.1:{port}"
    try:
        for _ in range(150):
            try:
                urllib.request.urlopen(endpoint + "/moto-api/", timeout=1).close()
                break
            except OSError:
                time.sleep(0.2)
        else:
            raise RuntimeError(f"moto server did not start on {endpoint}")
        yield endpoint
    finally:
        proc.terminate()
        proc.wait(timeout=10)


@contextmanager
def postgres_database() -> Iterator[str]:
    """A fresh PostgreSQL database, dropped afterwards; yields its SQLAlchemy URL."""
    import psycopg

    name = f"longtail_bench_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}"
    finally:
        with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


# -- the server process ------------------------------------------------------------------------


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a process (from /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def peak_rss_mb(pid: int) -> float:
    """Peak resident set size (VmHWM) of a process, MB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


@contextmanager
def backend_server(config: Path, target: str, env: dict[str, str], log_path: Path) -> Iterator[int]:
    """``longtail backend serve`` as a subprocess, ready for gRPC; yields its pid."""
    with log_path.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "backend.cli", "backend", "serve", "--config", str(config)],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        with grpc.insecure_channel(target) as channel:
            ready = grpc.channel_ready_future(channel)
            deadline = time.monotonic() + 60
            while not ready.done():
                if proc.poll() is not None or time.monotonic() > deadline:
                    ready.cancel()
                    tail = log_path.read_text()[-3000:]
                    raise RuntimeError(
                        f"backend on {target} did not start (exit {proc.returncode}):\n{tail}"
                    )
                time.sleep(0.1)
        yield proc.pid
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


# -- one case ----------------------------------------------------------------------------------


def verify(db: Database, blobs: BlobStore, expected: dict[str, str]) -> dict[str, int]:
    """Lost, duplicated and corrupt frames, checked by content hash."""
    with db.transaction("list frames") as uow:
        rows, total = uow.frames.list(FrameFilter(), limit=100_000)
    stored_ids = [r.id for r in rows]
    corrupt = sum(1 for r in rows if hashlib.sha256(blobs.get(r.blob_key)).hexdigest() != r.id)
    blob_keys = [b.key for b in blobs.list("frames/")]
    return {
        "expected": len(expected),
        "stored_rows": total,
        "lost": len(set(expected) - set(stored_ids)),
        "unexpected": len(set(stored_ids) - set(expected)),
        "duplicated_rows": len(stored_ids) - len(set(stored_ids)),
        "orphan_or_duplicate_blobs": len(blob_keys) - len(set(stored_ids)),
        "corrupt": corrupt,
    }


def run_case(
    *,
    work: Path,
    fleet_dir: Path,
    expected: dict[str, str],
    vehicles: list[str],
    metadata: str,
    store: str,
    moto_endpoint: str | None,
    pg_url: str | None,
) -> dict[str, Any]:
    """One backend process, one fleet run, one result row."""
    work.mkdir(parents=True)
    ingest_port, api_port = free_port(), free_port()
    url = pg_url if metadata == "postgresql" else f"sqlite:///{work / 'meta.db'}"
    assert url is not None
    storage = f'path = "{work / "blobs"}"\nstaging_path = "{work / "staging"}"\n'
    env = {**os.environ, **FAKE_AWS, "LONGTAIL_METADATA__URL": url}
    db = open_database(MetadataConfig(url=url))
    blobs: BlobStore
    if store == "s3":
        assert moto_endpoint is not None
        bucket = f"bench-{uuid.uuid4().hex[:10]}"
        client = make_s3_client(endpoint_url=moto_endpoint, region="us-east-1")
        client.create_bucket(Bucket=bucket)
        storage += f'kind = "s3"\nbucket = "{bucket}"\nendpoint_url = "{moto_endpoint}"\n'
        blobs = S3BlobStore(client, bucket)
    else:
        blobs = LocalBlobStore(work / "blobs")
    config = work / "backend.toml"
    config.write_text(
        f"[ingest]\nport = {ingest_port}\nworkers = 32\n[api]\nport = {api_port}\n[storage]\n{storage}"
    )
    tokens = {v: register_vehicle(db, v) for v in vehicles}
    target = f"127.0.0.1:{ingest_port}"
    with backend_server(config, target, env, work / "backend.log") as pid:
        marks: dict[str, float] = {}

        def on_start() -> None:  # all vehicle interpreters are up: measure from here
            marks["cpu"], marks["wall"] = cpu_seconds(pid), time.monotonic()

        results = run_fleet(target, tokens, fleet_dir, on_start=on_start)
        wall = time.monotonic() - marks["wall"]
        cpu = cpu_seconds(pid) - marks["cpu"]
        rss = peak_rss_mb(pid)
    check = verify(db, blobs, expected)
    db.close()
    return summarize(
        results,
        check,
        metadata=metadata,
        store=store,
        vehicles=len(vehicles),
        wall=wall,
        cpu=cpu,
        rss=rss,
    )


def summarize(
    results: list[FrameResult],
    check: dict[str, int],
    *,
    metadata: str,
    store: str,
    vehicles: int,
    wall: float,
    cpu: float,
    rss: float,
) -> dict[str, Any]:
    window = max(r.acked_at for r in results) - min(r.started_at for r in results)
    latencies = [r.seconds_to_ack for r in results]
    payload = sum(r.bytes for r in results)
    statuses: dict[str, int] = {}
    for r in results:
        statuses[r.status] = statuses.get(r.status, 0) + 1
    return {
        "metadata": metadata,
        "blob_store": store,
        "vehicles": vehicles,
        "frames": len(results),
        "payload_mb": payload / 1e6,
        "upload_window_s": window,
        "frames_per_s": len(results) / window,
        "mb_per_s": payload / 1e6 / window,
        "ack_p50_s": percentile(latencies, 0.50),
        "ack_p99_s": percentile(latencies, 0.99),
        "ack_mean_s": statistics.fmean(latencies),
        "server_cpu_s": cpu,
        "server_cpu_utilisation": cpu / wall,
        "server_peak_rss_mb": rss,
        "wall_from_go_s": wall,  # all vehicles released -> all reports in
        "statuses": statuses,
        "retries": sum(r.attempts - 1 for r in results),
        **check,
        "ok": check["lost"] == 0
        and check["duplicated_rows"] == 0
        and check["corrupt"] == 0
        and check["orphan_or_duplicate_blobs"] == 0
        and statuses == {"stored": len(results)},
    }


# -- raw disk baseline -------------------------------------------------------------------------


def disk_baseline(directory: Path, frame_bytes: int, count: int) -> dict[str, float]:
    """Bytes/s of frame-sized atomic durable writes, and of one large fsynced write."""
    directory.mkdir(parents=True, exist_ok=True)
    data = os.urandom(frame_bytes)
    start = time.perf_counter()
    for i in range(count):
        atomic_write_bytes(directory / f"{i:05d}.bin", data, durable=True)
    atomic = frame_bytes * count / (time.perf_counter() - start)
    big = os.urandom(min(256 * 1024 * 1024, frame_bytes * count * 4))
    start = time.perf_counter()
    with (directory / "big.bin").open("wb") as handle:
        handle.write(big)
        handle.flush()
        os.fsync(handle.fileno())
    sequential = len(big) / (time.perf_counter() - start)
    return {
        "atomic_frame_writes_mb_per_s": atomic / 1e6,
        "sequential_fsynced_write_mb_per_s": sequential / 1e6,
        "frame_bytes": frame_bytes,
        "frames": count,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--vehicles", type=int, nargs="+", default=[1, 10, 100])
    parser.add_argument(
        "--frames", type=int, default=60, help="frames per case (split over vehicles, >= 1 each)"
    )
    parser.add_argument("--points", type=int, default=30_000, help="points per frame")
    parser.add_argument("--metadata", nargs="+", default=["sqlite", "postgresql"])
    parser.add_argument("--stores", nargs="+", default=["local", "s3"])
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    # SIGTERM unwinds like Ctrl-C, so the moto and backend subprocesses are stopped
    signal.signal(signal.SIGTERM, lambda _s, _f: sys.exit(143))
    for key, value in FAKE_AWS.items():  # moto accepts any credentials; never touch real ones
        os.environ.setdefault(key, value)

    cases: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="bench-ingest-") as tmp:
        work = Path(tmp)
        moto = moto_server(work) if "s3" in args.stores else None
        endpoint = moto.__enter__() if moto else None
        try:
            fleets: dict[int, tuple[Path, dict[str, str], list[str]]] = {}
            for n in args.vehicles:
                names = [f"car-{i:03d}" for i in range(n)]
                per_vehicle = max(1, args.frames // n)
                fleet_dir = work / f"fleet-{n}"
                expected = prepare_fleet(fleet_dir, names, per_vehicle, args.points, seed=n)
                fleets[n] = (fleet_dir, expected, names)
            sizes = [
                len(decode_record(p.read_bytes(), str(p)).payload)
                for f in fleets.values()
                for p in f[0].rglob(f"*{RECORD_SUFFIX}")
            ]
            frame_bytes = int(statistics.median(sizes))
            baseline = disk_baseline(work / "disk", frame_bytes, count=60)
            log.info("disk baseline: %s", baseline)
            for metadata in args.metadata:
                for store in args.stores:
                    for n, (fleet_dir, expected, names) in fleets.items():
                        name = f"{metadata}-{store}-{n}"
                        log.info("case %s: %d frames from %d vehicles", name, len(expected), n)
                        database: AbstractContextManager[str | None] = (
                            postgres_database() if metadata == "postgresql" else nullcontext()
                        )
                        with database as pg_url:
                            row = run_case(
                                work=work / name,
                                fleet_dir=fleet_dir,
                                expected=expected,
                                vehicles=names,
                                metadata=metadata,
                                store=store,
                                moto_endpoint=endpoint,
                                pg_url=pg_url,
                            )
                        log.info(
                            "case %s: %.1f frames/s, %.1f MB/s, p50 %.3f s, p99 %.3f s, ok=%s",
                            name,
                            row["frames_per_s"],
                            row["mb_per_s"],
                            row["ack_p50_s"],
                            row["ack_p99_s"],
                            row["ok"],
                        )
                        cases.append(row)
        finally:
            if moto is not None:
                moto.__exit__(None, None, None)

    result = {
        "benchmark": "ingest",
        "machine": describe_machine(),
        "parameters": {
            "points_per_frame": args.points,
            "frames_per_case": args.frames,
            "median_frame_bytes": frame_bytes,
        },
        "disk_baseline": baseline,
        "cases": cases,
        "all_ok": all(c["ok"] for c in cases),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    result["provenance"] = provenance(["benchmarks.bench_ingest"], vars(args))
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps({k: result[k] for k in ("disk_baseline", "all_ok")}, indent=2))
    return 0 if result["all_ok"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
