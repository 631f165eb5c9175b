"""Longtail vehicle agent: the daemon and its offline tools.

::

    longtail-agent run --config agent.toml            # the daemon (SIGTERM: clean stop,
                                                      #  SIGUSR1: manual trigger)
    longtail-agent score DIR --out FILE.jsonl [--config agent.toml]
    longtail-agent check-config --config agent.toml   # every problem of options, model,
                                                      #  source and rules, then exit
    longtail-agent example-config dev|vehicle         # print a shipped example config

``run`` on a recorded drive exits once the drive is processed and its selected frames are
uploaded; on a live (factory) source it runs until stopped (``[daemon] exit_when_done``).

Exit codes: 0 success, 1 runtime failure, 2 bad usage or configuration (the message names the
option; no traceback for user errors), 3 a recorded drive (``score``, or ``run`` on a replay
source) had unreadable frames that were skipped (the others were processed; the count and the
first reasons are printed), 4 a recorded drive from which no frame could be read.
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
from collections.abc import Sequence
from pathlib import Path
from types import FrameType

from agent.config import AgentConfig, load_config
from agent.errors import AgentError
from core.errors import ConfigError, CoreError

log = logging.getLogger(__name__)

#: ``longtail-agent example-config KIND`` -> the file beside ``agent.daemon``
EXAMPLES = {"dev": "agent.dev.toml", "vehicle": "agent.example.toml"}


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="longtail-agent", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="run the vehicle daemon")
    run.add_argument("--config", type=Path, required=True, help="agent TOML file")
    score = sub.add_parser(
        "score",
        help="score a recorded drive offline into JSON lines",
        description="Score a recorded drive offline into JSON lines. Exit codes: 0 every frame "
        "scored, 1 failure, 2 bad configuration, 3 some frames unreadable and skipped (the "
        "output holds the others), 4 no frame could be read.",
    )
    score.add_argument(
        "drive",
        type=Path,
        help="dataset directory (velodyne/, labels/) or a folder of point files (.pcd, .ply, "
        ".las, .laz, KITTI .bin, nuScenes .pcd.bin; the format comes from each file)",
    )
    score.add_argument("--out", type=Path, required=True, help="output .jsonl file")
    score.add_argument("--config", type=Path, default=None, help="agent TOML file (rules, model)")
    score.add_argument("--no-progress", action="store_true", help="no progress bar")
    check = sub.add_parser(
        "check-config",
        help="report every problem of a config (options, model, source, rules) and exit",
    )
    check.add_argument("--config", type=Path, required=True, help="agent TOML file")
    example = sub.add_parser(
        "example-config", help="print a shipped example config (each passes check-config)"
    )
    example.add_argument(
        "kind",
        choices=sorted(EXAMPLES),
        help="dev: a development checkout (replays the drive next to it, uploads to a local "
        "backend); vehicle: an annotated vehicle install",
    )
    return parser


def _run(config: AgentConfig) -> int:
    from agent.daemon.app import Daemon
    from agent.daemon.logs import configure_logging

    configure_logging(config.daemon.log_format, config.daemon.log_level)
    daemon = Daemon(config)

    def stop(signum: int, _frame: FrameType | None) -> None:
        log.info(
            "signal %s: finishing the current frame, then stopping", signal.Signals(signum).name
        )
        daemon.request_stop()

    def manual(_signum: int, _frame: FrameType | None) -> None:
        daemon.manual.request()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGUSR1, manual)
    return daemon.run()


def _check(path: Path) -> int:
    from agent.daemon.check import check_config

    logging.basicConfig(level=logging.WARNING)
    report = check_config(path)
    for note in report.notes:
        print(f"longtail-agent: note: {note}", file=sys.stderr)
    if not report.ok:
        count = len(report.problems)
        print(
            f"longtail-agent: configuration error: {count} problem{'s' * (count > 1)}:",
            *report.problems,
            sep="\n  ",
            file=sys.stderr,
        )
        return 2
    print(f"config OK: {path}: {report.rules} rule(s)")
    return 0


def example_path(kind: str) -> Path:
    """The shipped example config of ``kind`` (see ``EXAMPLES``)."""
    import agent.daemon

    return Path(agent.daemon.__file__).parent / EXAMPLES[kind]


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; returns the exit code (see the module docstring)."""
    args = _parser().parse_args(argv)
    try:
        if args.command == "run":
            return _run(load_config(args.config))
        if args.command == "check-config":
            return _check(args.config)
        if args.command == "example-config":
            sys.stdout.write(example_path(args.kind).read_text())
            return 0
        from agent.daemon.offline import score_drive

        logging.basicConfig(level=logging.WARNING)
        config = load_config(args.config, require_token=False, require_source=False)
        report = score_drive(config, args.drive, args.out, progress=not args.no_progress)
        print(f"scored {report.read} frame(s) into {args.out}", file=sys.stderr)
        code = report.exit_code()
        if code:
            print(f"longtail-agent: {args.drive}: {report.summary()}", file=sys.stderr)
        return code
    except ConfigError as exc:
        print(f"longtail-agent: configuration error: {exc}", file=sys.stderr)
        return 2
    except (AgentError, CoreError) as exc:
        print(f"longtail-agent: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
