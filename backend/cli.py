"""Longtail operator CLI: simulate drives, train and evaluate models, run the backend.

Each command group lives in its own module and is imported only when used, so ``longtail sim …``
never loads the web stack and ``longtail backend …`` never loads Open3D.

A command group module exposes ``register(subparsers)``, which adds its parser and sets
``handler`` (a callable taking the parsed ``argparse.Namespace`` and returning an exit code).
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from collections.abc import Callable, Sequence

from agent.errors import AgentError
from backend.errors import BackendError
from core.errors import CoreError
from simulators.errors import SimulatorError  # a leaf module: loads no simulator code

log = logging.getLogger(__name__)

#: command group -> module that registers it
COMMAND_GROUPS: dict[str, str] = {
    "sim": "simulators.cli",
    "model": "backend.training.cli",
    "backend": "backend.server_cli",
    "release": "backend.release.cli",
    "suite": "backend.evaluation.suite_cli",
    "weak": "backend.training.weak.cli",
    "safety": "backend.safety.cli",
}


def build_parser(groups: Sequence[str] | None = None) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="longtail", description=__doc__.splitlines()[0])
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="group", required=True, metavar="COMMAND")
    for name in groups if groups is not None else COMMAND_GROUPS:
        module = importlib.import_module(COMMAND_GROUPS[name])
        module.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    # Import only the group that is asked for; `longtail --help` shows them all.
    wanted = [a for a in argv if not a.startswith("-")][:1]
    groups = wanted if wanted and wanted[0] in COMMAND_GROUPS else None
    args = build_parser(groups).parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    handler: Callable[[argparse.Namespace], int] = args.handler
    try:
        return handler(args)
    except (CoreError, AgentError, BackendError, SimulatorError) as exc:
        print(f"longtail: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
