"""``longtail safety …``: check a safety case file, and read the case of the configured backend.

::

    longtail safety validate [FILE]            # GSN YAML checked (default: the shipped case)
    longtail safety status [VERSION]           # every node's status (the champion's by default)
    longtail safety snapshots                  # snapshots of released cases, newest first
    longtail safety diff BASE TARGET           # what changed between two releases' cases
    longtail safety report VERSION --out FILE  # the release report, one self-contained HTML file

Every command but ``validate`` takes ``--config backend.toml`` (``[safety] case_path`` names the
case; snapshots are taken by promotions, see ``backend.safety.service``).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from backend.config import load_config


def register(subparsers: Any) -> None:
    """Add the ``safety`` command group to the ``longtail`` CLI."""
    parser = subparsers.add_parser("safety", help="the safety case: validate, status, report")
    _config_option(parser)
    sub = parser.add_subparsers(dest="safety_command", required=True, metavar="COMMAND")

    validate = sub.add_parser("validate", help="check a safety case file (GSN YAML)")
    validate.add_argument("file", type=Path, nargs="?", default=None)
    validate.set_defaults(handler=_validate)

    status = sub.add_parser("status", help="every node's status for a model version")
    _config_option(status)
    status.add_argument("version", nargs="?", default=None, help="default: the champion")
    status.set_defaults(handler=_status)

    listing = sub.add_parser("snapshots", help="snapshots of released cases")
    _config_option(listing)
    listing.set_defaults(handler=_snapshots)

    diff = sub.add_parser("diff", help="what changed between two releases' cases (JSON)")
    _config_option(diff)
    diff.add_argument("base")
    diff.add_argument("target")
    diff.set_defaults(handler=_diff)

    report = sub.add_parser("report", help="write the release report of a version (HTML)")
    _config_option(report)
    report.add_argument("version")
    report.add_argument("--out", type=Path, required=True)
    report.set_defaults(handler=_report)


def _config_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", type=Path, default=argparse.SUPPRESS, help="backend TOML file")


def _validate(args: argparse.Namespace) -> int:
    from backend.safety.case import DEFAULT_CASE_FILE, load_case

    case = load_case(args.file or DEFAULT_CASE_FILE)
    kinds: dict[str, int] = {}
    for node in case:
        kinds[node.kind.value] = kinds.get(node.kind.value, 0) + 1
    counts = ", ".join(f"{n} {k}" for k, n in kinds.items())
    print(f"{case.source}: valid; {case.name}, sha256 {case.digest}")
    print(f"  {len(case.nodes)} nodes ({counts}); {len(case.spis())} SPIs; top goal {case.root}")
    print(f"  undeveloped: {', '.join(case.undeveloped) or 'none'}")
    return 0


def _run(args: argparse.Namespace, action: Any) -> int:
    """The configured backend's safety stage, ``action`` run on it, the database closed."""
    from backend.wiring import build_safety, open_database

    config = load_config(getattr(args, "config", None))
    db = open_database(config.metadata)
    try:
        result: int = action(build_safety(db, config.safety))
        return result
    finally:
        db.close()


def _status(args: argparse.Namespace) -> int:
    def action(safety: Any) -> int:
        a = safety.assessment(args.version)
        verdict = "none" if a.verdict is None else f"{a.verdict.id} ({a.verdict.summary[:60]})"
        print(f"model {a.model_version}: {a.top}; case {a.case.digest[:12]}; verdict {verdict}")
        for node in a.case:
            status = a.nodes[node.id]
            if status.status is not None:
                print(f"  {node.id:28s} {status.status:12s} {status.reason}")
        return 0

    return _run(args, action)


def _snapshots(args: argparse.Namespace) -> int:
    def action(safety: Any) -> int:
        items, _ = safety.snapshots(limit=1000)
        for s in items:
            print(
                f"{s.model_version}\t{s.top_status}\t{s.digest[:12]}\t{s.case_digest[:12]}\t"
                f"{s.created_at:%Y-%m-%dT%H:%M:%SZ}\t{s.created_by}"
            )
        return 0

    return _run(args, action)


def _diff(args: argparse.Namespace) -> int:
    def action(safety: Any) -> int:
        print(json.dumps(safety.diff(args.base, args.target), indent=2))
        return 0

    return _run(args, action)


def _report(args: argparse.Namespace) -> int:
    from core.formats.atomic import atomic_write_bytes

    def action(safety: Any) -> int:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_bytes(args.out, safety.report(args.version).encode("utf-8"), durable=False)
        print(f"wrote {args.out}")
        return 0

    return _run(args, action)
