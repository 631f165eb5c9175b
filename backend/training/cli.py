"""``longtail model …``: train, evaluate and build the baseline perception model."""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)


def register(subparsers: Any) -> None:
    """Add the ``model`` command group to the ``longtail`` parser."""
    parser = subparsers.add_parser("model", help="train / evaluate perception models")
    sub = parser.add_subparsers(dest="model_command", required=True, metavar="SUBCOMMAND")

    p = sub.add_parser("train", help="train a model package on labelled datasets")
    p.add_argument("--data", nargs="+", required=True, type=Path, help="training dataset dirs")
    p.add_argument("--val", nargs="*", default=[], type=Path, help="validation dataset dirs")
    p.add_argument("--out", required=True, type=Path, help="package directory to write")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--epochs", type=int, default=12)
    p.add_argument("--cache", type=Path, default=None, help="directory for candidate caches")
    p.set_defaults(handler=_train)

    p = sub.add_parser("eval", help="evaluate a package on labelled datasets")
    p.add_argument("--package", required=True, type=Path)
    p.add_argument("--data", nargs="+", required=True, type=Path)
    p.add_argument("--out", required=True, type=Path, help="JSON report to write")
    p.add_argument("--cpu", action="store_true", help="force the CPU execution provider")
    p.set_defaults(handler=_eval)

    p = sub.add_parser(
        "build-baseline", help="train, evaluate and package the baseline on simulated drives"
    )
    p.add_argument(
        "--drives",
        required=True,
        type=Path,
        help="directory with splits.json (from `longtail sim training-drives`)",
    )
    p.add_argument("--out", required=True, type=Path, help="package directory to write")
    p.add_argument("--report", required=True, type=Path, help="evaluation JSON to write")
    p.add_argument("--cache", type=Path, default=None, help="directory for candidate caches")
    p.add_argument("--seed", type=int, default=None, help="training seed (default: the plan's)")
    p.add_argument("--epochs", type=int, default=None, help="epochs (default: the plan's)")
    p.add_argument(
        "--threads",
        type=int,
        default=None,
        help="PyTorch threads (default 2; 1 on a machine busy with other work, where two "
        "spinning threads on two shared cores run many times slower than one)",
    )
    p.set_defaults(handler=_build_baseline)


def _print_table(report: dict[str, Any]) -> None:
    for row in report["table"]:
        cells = [f"{k}={v:.3f}" if isinstance(v, float) else f"{k}={v}" for k, v in row.items()]
        print("  ".join(cells))


def _train(args: argparse.Namespace) -> int:
    from backend.training.run import train_package
    from backend.training.train import TrainConfig

    package = train_package(
        args.data,
        args.out,
        val_dirs=args.val,
        config=TrainConfig(seed=args.seed, epochs=args.epochs),
        cache_dir=args.cache,
    )
    print(f"wrote {package.path} (version {package.version})")
    return 0


def _eval(args: argparse.Namespace) -> int:
    from backend.evaluation.run import evaluate_package

    report = evaluate_package(
        args.package, args.data, args.out, providers=["CPUExecutionProvider"] if args.cpu else None
    )
    _print_table(report)
    print(f"wrote {args.out}")
    return 0


def _build_baseline(args: argparse.Namespace) -> int:
    from backend.training import baseline

    report = baseline.build_baseline(
        args.drives / "splits.json",
        args.out,
        args.report,
        settings=baseline.BaselineSettings(
            **{
                k: v
                for k, v in (
                    ("seed", args.seed),
                    ("epochs", args.epochs),
                    ("threads", args.threads),
                )
                if v is not None
            }
        ),
        cache_dir=args.cache,
    )
    _print_table(report)
    print(json.dumps(report["build"]["seconds"]))
    return 0
