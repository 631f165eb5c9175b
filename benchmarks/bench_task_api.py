"""Task API under load: lease + save + submit cycles per second and p50/p99 latency with 1, 10
and 50 concurrent annotators, on SQLite and PostgreSQL.

Run: ``.venv/bin/python -m benchmarks.bench_task_api [--clients 1 10 50] [--cycles 120]``.
Writes ``benchmarks/results/task_api.json``.

Every case is a fresh backend process (``longtail backend serve``, started through the CLI as in
production) over a fresh database (a SQLite file | a new PostgreSQL database on 127.0.0.1:5432)
holding one stored frame per cycle, each already a tier-2 task. N threads, each with its own
httpx client over real HTTP and its own annotator token, are released together; each repeats
lease (``POST /work/next``), save (``PUT /work/{id}/labels`` from the leased version) and submit
(``POST /work/{id}/submit``) until it has done ``ceil(cycles / N)`` cycles. Reported per case:
cycles/s and requests/s (from the release to the last client's end), p50/p99 of each call and
of the whole cycle, the answers by status, the server's CPU seconds, and the check read back
from the database after the run: every acknowledged save stored with its version and content
digest (``lost`` = 0) and no task leased to more annotators than it has slots
(``double_leased`` = 0).

Baseline in the same run and server: ``GET /health`` (authentication-free, one trivial query)
from one client, the floor of an HTTP round trip through the same stack.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import os
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx

from backend.metadata.db import make_engine
from backend.metadata.migrate import upgrade
from benchmarks.machine import describe_machine
from benchmarks.provenance import provenance
from benchmarks.task_api_load import (
    BackendProcess,
    ClientLog,
    Verdict,
    prepare,
    run_clients,
    verify,
)

log = logging.getLogger(__name__)

RESULTS = Path(__file__).resolve().parent / "results" / "task_api.json"
PG_ADMIN = "host=127.0.0.1 port=5432 user=postgres dbname=postgres connect_timeout=3"


def percentile(values: list[float], q: float) -> float:
    """The ``q`` quantile by nearest rank (``q`` in [0, 1])."""
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, math.ceil(q * len(ordered)) - 1))
    return ordered[index]


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a process (from /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@contextmanager
def database(kind: str, work: Path) -> Iterator[str]:
    """A fresh, migrated database of ``kind``; yields its URL (a PostgreSQL one is dropped)."""
    if kind == "sqlite":
        url = f"sqlite:///{work / 'meta.db'}"
        engine = make_engine(url)
        upgrade(engine)
        engine.dispose()
        yield url
        return
    import psycopg

    name = f"longtail_bench_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        url = f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}"
        engine = make_engine(url)
        upgrade(engine)
        engine.dispose()
        yield url
    finally:
        with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def health_baseline(api: str, requests: int) -> dict[str, float]:
    """p50/p99 (ms) and requests/s of ``GET /health`` from one client."""
    latencies = []
    with httpx.Client(base_url=api, timeout=30) as http:
        http.get("/health")
        start = time.perf_counter()
        for _ in range(requests):
            t = time.perf_counter()
            http.get("/health").raise_for_status()
            latencies.append(time.perf_counter() - t)
        wall = time.perf_counter() - start
    return {
        "requests": requests,
        "requests_per_s": requests / wall,
        "p50_ms": 1e3 * percentile(latencies, 0.5),
        "p99_ms": 1e3 * percentile(latencies, 0.99),
    }


def summarize(
    logs: list[ClientLog], wall: float, verdict: Verdict, *, clients: int
) -> dict[str, Any]:
    """One case's figures from the clients' logs and the database check."""
    calls = {
        what: [x for lg in logs for x in lg.latency[what]] for what in ("lease", "save", "submit")
    }
    # a cycle's latency: its lease, save and submit one after another (the client's view)
    per_cycle = [
        lg.latency["lease"][i] + lg.latency["save"][i] + lg.latency["submit"][i]
        for lg in logs
        for i in range(lg.cycles)
    ]
    cycles = sum(lg.cycles for lg in logs)
    requests = sum(len(v) for v in calls.values())
    statuses: dict[str, int] = {}
    for lg in logs:
        for key, n in lg.statuses.items():
            statuses[key] = statuses.get(key, 0) + n
    errors = [e for lg in logs for e in lg.errors]
    return {
        "clients": clients,
        "cycles": cycles,
        "requests": requests,
        "wall_s": wall,
        "cycles_per_s": cycles / wall,
        "requests_per_s": requests / wall,
        "cycle_p50_ms": 1e3 * percentile(per_cycle, 0.5),
        "cycle_p99_ms": 1e3 * percentile(per_cycle, 0.99),
        **{
            f"{what}_{name}_ms": 1e3 * percentile(values, q)
            for what, values in calls.items()
            for name, q in (("p50", 0.5), ("p99", 0.99))
        },
        "statuses": statuses,
        "errors": errors[:10],
        "acknowledged_saves": verdict.acknowledged,
        "lost_saves": len(verdict.lost),
        "double_leased_tasks": len(verdict.double_leased),
        "problems": (verdict.lost + verdict.double_leased + verdict.torn)[:10],
        "ok": verdict.ok and not errors and verdict.acknowledged == cycles,
    }


def run_case(
    kind: str, clients: int, cycles: int, work: Path, baseline_requests: int
) -> dict[str, Any]:
    """One backend process, one database, ``clients`` annotators."""
    per_client = math.ceil(cycles / clients)
    with database(kind, work) as url:
        prepared = prepare(work, url, frames=clients * per_client, annotators=clients)
        with BackendProcess(prepared) as server:
            baseline = health_baseline(server.api, baseline_requests)
            cpu = cpu_seconds(server.pid)
            logs, wall = run_clients(server.api, prepared.tokens, cycles=per_client)
            cpu = cpu_seconds(server.pid) - cpu
        verdict = verify(url, logs)
    row = summarize(logs, wall, verdict, clients=clients)
    return {
        "metadata": kind,
        **row,
        "server_cpu_s": cpu,
        "server_cpu_utilisation": cpu / wall,
        "baseline_health": baseline,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, nargs="+", default=[1, 10, 50])
    parser.add_argument(
        "--cycles", type=int, default=120, help="cycles per case (split over the clients)"
    )
    parser.add_argument("--metadata", nargs="+", default=["sqlite", "postgresql"])
    parser.add_argument("--baseline-requests", type=int, default=200)
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    logging.getLogger("httpx").setLevel(logging.WARNING)  # one line per request otherwise
    cases: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="bench-task-api-") as tmp:
        for kind in args.metadata:
            for n in args.clients:
                name = f"{kind}-{n}"
                log.info("case %s: %d cycles over %d clients", name, args.cycles, n)
                row = run_case(kind, n, args.cycles, Path(tmp) / name, args.baseline_requests)
                log.info(
                    "case %s: %.1f cycles/s, %.1f req/s, cycle p50 %.1f ms p99 %.1f ms, "
                    "lost %d, double-leased %d, ok=%s",
                    name,
                    row["cycles_per_s"],
                    row["requests_per_s"],
                    row["cycle_p50_ms"],
                    row["cycle_p99_ms"],
                    row["lost_saves"],
                    row["double_leased_tasks"],
                    row["ok"],
                )
                cases.append(row)
    result = {
        "benchmark": "task_api",
        "machine": describe_machine(httpx=httpx.__version__),
        "parameters": {"cycles_per_case": args.cycles, "saves_per_cycle": 1},
        "cases": cases,
        "by_case": {f"{c['metadata']}-{c['clients']}": c for c in cases},
        "all_ok": all(c["ok"] for c in cases),
        "command": " ".join(
            [Path(sys.executable).name, "-m", "benchmarks.bench_task_api", *(argv or sys.argv[1:])]
        ),
        # the server runs as a subprocess: its code is what was measured
        "provenance": provenance(
            ["benchmarks.bench_task_api", "backend.cli"], vars(args), skip=("out",)
        ),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps({k: result[k] for k in ("all_ok",)}))
    return 0 if result["all_ok"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
