"""``longtail backend …``: serve ingest + HTTP API, sweep orphans, manage vehicles, migrate.

::

    longtail backend serve --config backend.toml      # gRPC ingest and HTTP API, one process
    longtail backend vehicles add car-7                # prints the token once
    longtail backend vehicles revoke car-7
    longtail backend vehicles list
    longtail backend sweep [--grace-s 900]             # remove orphan blobs
    longtail backend migrate                           # bring the schema to the newest revision
    longtail backend check-config --config backend.toml   # every problem of the file, then exit
    longtail backend example-config > backend.toml     # the shipped, annotated example

Quiet by default: ``longtail -v backend …`` adds debug logging, Alembic's steps included.
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
from pathlib import Path
from types import FrameType
from typing import Any

from backend.config import BackendConfig, load_config
from backend.wiring import (
    Backend,
    background_jobs,
    build_api,
    build_backend,
    open_database,
    start_ingest,
)

log = logging.getLogger(__name__)


def register(subparsers: Any) -> None:
    """Add the ``backend`` command group to the ``longtail`` CLI."""
    parser = subparsers.add_parser("backend", help="run and manage the cloud backend")
    parser.add_argument("--config", type=Path, default=None, help="backend TOML file")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    serve = sub.add_parser("serve", help="run gRPC ingest and the HTTP API until SIGTERM/SIGINT")
    _config_option(serve)
    serve.set_defaults(handler=_serve)

    sweep = sub.add_parser("sweep", help="remove orphan blobs and abandoned staging files")
    _config_option(sweep)
    sweep.add_argument("--grace-s", type=float, default=None, help="spare blobs younger than this")
    sweep.set_defaults(handler=_sweep)

    migrate = sub.add_parser("migrate", help="upgrade the metadata schema to the newest revision")
    _config_option(migrate)
    migrate.set_defaults(handler=_migrate)

    check = sub.add_parser(
        "check-config", help="report every problem of a config file (with its location) and exit"
    )
    _config_option(check)
    check.set_defaults(handler=_check_config)

    example = sub.add_parser(
        "example-config", help="print the shipped example config (it passes check-config)"
    )
    example.set_defaults(handler=_example_config)

    vehicles = sub.add_parser("vehicles", help="register, revoke and list vehicles")
    vehicles.add_argument(
        "--config", type=Path, default=argparse.SUPPRESS, help="backend TOML file"
    )
    vsub = vehicles.add_subparsers(dest="action", required=True, metavar="ACTION")
    add = vsub.add_parser("add", help="register a vehicle and print its token (shown once)")
    _config_option(add)
    add.add_argument("name")
    add.set_defaults(handler=_vehicles_add)
    revoke = vsub.add_parser("revoke", help="revoke a vehicle's token")
    _config_option(revoke)
    revoke.add_argument("name")
    revoke.set_defaults(handler=_vehicles_revoke)
    listing = vsub.add_parser("list", help="list vehicles")
    _config_option(listing)
    listing.set_defaults(handler=_vehicles_list)
    _register_people(sub)


def _register_people(sub: Any) -> None:
    people = sub.add_parser("people", help="accounts of annotators, reviewers, admins...")
    people.add_argument("--config", type=Path, default=argparse.SUPPRESS, help="backend TOML file")
    psub = people.add_subparsers(dest="action", required=True, metavar="ACTION")
    add = psub.add_parser("add", help="create an account and print its first token (shown once)")
    _config_option(add)
    add.add_argument("name")
    add.add_argument(
        "--role",
        required=True,
        help="annotator, reviewer, senior, admin or safety_engineer",
    )
    add.add_argument(
        "--password-stdin",
        action="store_true",
        help="read a login password (>= 10 characters) from standard input",
    )
    add.set_defaults(handler=_people_add)
    listing = psub.add_parser("list", help="list accounts")
    _config_option(listing)
    listing.set_defaults(handler=_people_list)
    tasks = sub.add_parser("tasks", help="annotation tasks")
    tasks.add_argument("--config", type=Path, default=argparse.SUPPRESS, help="backend TOML file")
    tsub = tasks.add_subparsers(dest="action", required=True, metavar="ACTION")
    sync = tsub.add_parser("sync", help="turn every stored frame without a task into one now")
    _config_option(sync)
    sync.set_defaults(handler=_tasks_sync)


def _people_add(args: argparse.Namespace) -> int:
    import sys

    from backend.auth.people import People

    password = sys.stdin.readline().rstrip("\n") if args.password_stdin else None
    db = open_database(_config(args).metadata)
    try:
        token = People(db).create(args.name, args.role, password)
    finally:
        db.close()
    print(token)
    return 0


def _people_list(args: argparse.Namespace) -> int:
    db = open_database(_config(args).metadata)
    try:
        with db.transaction("list people") as uow:
            people = uow.people.list()
    finally:
        db.close()
    for u in people:
        state = "disabled" if u.disabled_at else u.calibration
        print(f"{u.name}\t{u.role}\t{state}")
    return 0


def _tasks_sync(args: argparse.Namespace) -> int:
    backend = build_backend(_config(args))
    try:
        report = backend.annotation.builder.sync(settle=False)
    finally:
        backend.close()
    print(
        f"created {len(report.created)} tasks ({len(report.auto_accepted)} auto-accepted), "
        f"skipped {report.skipped} frames"
    )
    return 0


def _config_option(parser: argparse.ArgumentParser) -> None:
    # accepted before or after the sub-command; SUPPRESS keeps an earlier value
    parser.add_argument("--config", type=Path, default=argparse.SUPPRESS, help="backend TOML file")


def _config(args: argparse.Namespace) -> BackendConfig:
    return load_config(args.config)


def _vehicles_add(args: argparse.Namespace) -> int:
    from backend.ingest.auth import register_vehicle

    db = open_database(_config(args).metadata)
    try:
        token = register_vehicle(db, args.name)
    finally:
        db.close()
    print(token)
    return 0


def _vehicles_revoke(args: argparse.Namespace) -> int:
    db = open_database(_config(args).metadata)
    try:
        with db.transaction(f"revoke vehicle {args.name!r}") as uow:
            record = uow.vehicles.revoke(args.name)
    finally:
        db.close()
    print(f"revoked {record.name} at {record.revoked_at}")
    return 0


def _vehicles_list(args: argparse.Namespace) -> int:
    db = open_database(_config(args).metadata)
    try:
        with db.transaction("list vehicles") as uow:
            vehicles = uow.vehicles.list()
    finally:
        db.close()
    for v in vehicles:
        state = f"revoked {v.revoked_at:%Y-%m-%dT%H:%M:%SZ}" if v.revoked_at else "active"
        print(f"{v.name}\t{v.created_at:%Y-%m-%dT%H:%M:%SZ}\t{state}")
    return 0


def _migrate(args: argparse.Namespace) -> int:
    from backend.metadata.migrate import current_revision

    db = open_database(_config(args).metadata)
    try:
        print(f"metadata schema at revision {current_revision(db.engine)}: {db.url}")
    finally:
        db.close()
    return 0


#: the annotated example beside this module (``longtail backend example-config``)
EXAMPLE_CONFIG = Path(__file__).resolve().parent / "backend.example.toml"


def _check_config(args: argparse.Namespace) -> int:
    from backend.config import check_config

    path = getattr(args, "config", None)
    if path is None:
        print("longtail: error: check-config needs --config FILE", file=sys.stderr)
        return 2
    problems = check_config(path)
    if problems:
        count = len(problems)
        print(
            f"longtail: configuration error: {count} problem{'s' * (count > 1)}:",
            *problems,
            sep="\n  ",
            file=sys.stderr,
        )
        return 2
    print(f"config OK: {path}")
    return 0


def _example_config(_args: argparse.Namespace) -> int:
    sys.stdout.write(EXAMPLE_CONFIG.read_text())
    return 0


def _sweep(args: argparse.Namespace) -> int:
    config = _config(args)
    backend = build_backend(config)
    try:
        grace = config.storage.orphan_grace_s if args.grace_s is None else args.grace_s
        report = backend.sweep(grace_s=grace)
    finally:
        backend.close()
    print(f"checked {report.checked} blobs, removed {len(report.removed)} orphans")
    return 0


def _startup_sweep(backend: Backend) -> None:
    # A local blob directory belongs to this one process, so every orphan is from a crash;
    # a shared bucket may have uploads of other replicas in flight: spare the young ones.
    storage = backend.config.storage
    backend.sweep(grace_s=0.0 if storage.kind == "local" else storage.orphan_grace_s)


def _serve(args: argparse.Namespace) -> int:
    return serve(_config(args))


def serve(config: BackendConfig) -> int:
    """Run ingest and (if enabled) the HTTP API until SIGTERM or SIGINT; 0 on a clean stop."""
    import uvicorn

    stop = threading.Event()

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        log.info("received %s: shutting down", signal.Signals(signum).name)
        stop.set()

    backend = build_backend(config)
    previous = {s: signal.signal(s, on_signal) for s in (signal.SIGTERM, signal.SIGINT)}
    api: uvicorn.Server | None = None
    api_thread: threading.Thread | None = None
    ingest = None
    jobs = background_jobs(backend)
    try:
        _startup_sweep(backend)
        ingest = start_ingest(backend)
        for job in jobs:
            job.start()
        if config.api.enabled:
            api = uvicorn.Server(
                uvicorn.Config(
                    build_api(backend),
                    host=config.api.host,
                    port=config.api.port,
                    log_config=None,  # keep the process's logging setup
                    lifespan="off",
                    access_log=False,
                )
            )
            # uvicorn off the main thread installs no signal handlers; ours stop both servers.
            api_thread = threading.Thread(target=api.run, name="api", daemon=True)
            api_thread.start()
            while not api.started and api_thread.is_alive() and not stop.is_set():
                stop.wait(0.05)
            if not api.started and not stop.is_set():
                log.error("HTTP API failed to start on %s:%d", config.api.host, config.api.port)
                return 1
        print(
            f"longtail backend ready: ingest {ingest.target}"
            + (f", api http://{config.api.host}:{config.api.port}" if api else ""),
            flush=True,
        )
        while not stop.wait(0.5):
            if api_thread is not None and not api_thread.is_alive():
                log.error("HTTP API stopped unexpectedly; shutting down")
                return 1
        return 0
    finally:
        if api is not None and api_thread is not None:
            api.should_exit = True
            api_thread.join(timeout=10)
        for job in jobs:
            job.stop()
        if ingest is not None:
            ingest.stop(grace_s=5.0)
        backend.close()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        log.info("backend stopped")
