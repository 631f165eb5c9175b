"""Longtail vehicle agent: the daemon and its offline tools.

::

    longtail-agent run --config agent.toml            # the daemon (SIGTERM: clean stop,
                                                      #  SIGUSR1: manual trigger)
    longtail-agent score DIR --out FILE.jsonl [--config agent.toml]
    longtail-agent check-config --config agent.toml   # validate config and rules, then exit

Exit codes: 0 success, 1 runtime failure, 2 bad usage or configuration (the message names the
option; no traceback for user errors).
"""

from __future__ import annotations

import argparse
import logging
import random
import signal
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from types import FrameType

from agent.config import AgentConfig, load_config
from agent.errors import AgentError
from core.errors import ConfigError, CoreError

log = logging.getLogger(__name__)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="longtail-agent", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="run the vehicle daemon")
    run.add_argument("--config", type=Path, required=True, help="agent TOML file")
    score = sub.add_parser("score", help="score a recorded drive offline into JSON lines")
    score.add_argument("drive", type=Path, help="dataset directory (velodyne/, labels/)")
    score.add_argument("--out", type=Path, required=True, help="output .jsonl file")
    score.add_argument("--config", type=Path, default=None, help="agent TOML file (rules, model)")
    score.add_argument("--no-progress", action="store_true", help="no progress bar")
    check = sub.add_parser("check-config", help="validate a config (options and rules) and exit")
    check.add_argument("--config", type=Path, required=True)
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


def _check(config: AgentConfig) -> int:
    from agent.daemon.app import build_analyzer, build_selector, build_source
    from agent.daemon.pipeline import schema_for
    from agent.selection.manual import ManualTrigger

    analyzer = build_analyzer(config)
    source = build_source(config, lambda _s: False)
    build_selector(
        config.selection,
        schema_for(analyzer, source.vehicle_signal_names),
        time.monotonic,
        random.Random(0),
        ManualTrigger(None),
    )
    source.close()
    print(f"config OK: {len(config.selection.rules)} rule(s)")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; returns the exit code (see the module docstring)."""
    args = _parser().parse_args(argv)
    try:
        if args.command == "run":
            return _run(load_config(args.config))
        if args.command == "check-config":
            return _check(load_config(args.config))
        from agent.daemon.offline import score_drive

        logging.basicConfig(level=logging.WARNING)
        config = load_config(args.config, require_token=False, require_source=False)
        count = score_drive(config, args.drive, args.out, progress=not args.no_progress)
        print(f"scored {count} frame(s) into {args.out}", file=sys.stderr)
        return 0
    except ConfigError as exc:
        print(f"longtail-agent: configuration error: {exc}", file=sys.stderr)
        return 2
    except (AgentError, CoreError) as exc:
        print(f"longtail-agent: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
