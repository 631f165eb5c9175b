"""``longtail suite …``: build the edge-case suite, compare champion and candidate on it, gate.

::

    longtail sim suite-drives --out build/suite            # simulator drives made for the suite
    longtail suite build --data build/suite/*/ --out build/suite/suite.json \\
        --refuse-weak data/training/weak                    # never a weakly-labelled frame
    longtail suite compare --suite build/suite/suite.json --champion PKG --candidate PKG \\
        --out build/compare.json --gate backend/release/gate.toml --label-agreement 0.8
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any


def register(subparsers: Any) -> None:
    """Add the ``suite`` command group to the ``longtail`` parser."""
    parser = subparsers.add_parser("suite", help="the edge-case suite and the release gate")
    sub = parser.add_subparsers(dest="suite_command", required=True, metavar="SUBCOMMAND")

    p = sub.add_parser("build", help="build a suite manifest from labelled dataset dirs")
    p.add_argument("--data", nargs="+", required=True, type=Path, help="labelled dataset dirs")
    p.add_argument("--out", required=True, type=Path, help="manifest file to write")
    p.add_argument("--name", default="edge-cases", help="the suite's name")
    p.add_argument("--stride", type=int, default=1, help="keep every n-th labelled frame")
    p.add_argument(
        "--refuse-weak",
        nargs="*",
        default=[],
        type=Path,
        help="weak-label outputs (`longtail weak label --out`, [training] dir/weak): their "
        "frames are refused by points digest",
    )
    p.set_defaults(handler=_build)

    p = sub.add_parser("compare", help="champion vs candidate on every slice, with intervals")
    p.add_argument("--suite", required=True, type=Path, help="suite manifest")
    p.add_argument("--champion", required=True, type=Path, help="champion model package")
    p.add_argument("--candidate", required=True, type=Path, help="candidate model package")
    p.add_argument("--out", required=True, type=Path, help="comparison JSON to write")
    p.add_argument("--seed", type=int, default=0, help="bootstrap seed")
    p.add_argument("--replicates", type=int, default=1000, help="bootstrap replicates")
    p.add_argument("--gate", type=Path, default=None, help="apply this gate file")
    p.add_argument("--dataset-digest", default="", help="the candidate's training data version")
    p.add_argument(
        "--label-agreement", type=float, default=None, help="the training data's agreement"
    )
    p.add_argument("--cpu", action="store_true", help="force the CPU execution provider")
    p.set_defaults(handler=_compare)


def _build(args: argparse.Namespace) -> int:
    from backend.evaluation.suite import build_suite, write_suite
    from backend.training.weak.store import weak_digests_under

    refused: dict[str, str] = {}
    for folder in args.refuse_weak:
        refused.update(weak_digests_under(folder))
    suite = build_suite(
        args.data, args.out.resolve().parent, name=args.name, stride=args.stride, refused=refused
    )
    path = write_suite(suite, args.out)
    counts = ", ".join(f"{k}={v}" for k, v in suite.slice_counts().items())
    print(f"wrote {path}: {len(suite.frames)} frames, version {suite.version}\n  {counts}")
    return 0


def _compare(args: argparse.Namespace) -> int:
    from backend.evaluation.compare import compare_packages
    from backend.evaluation.suite import load_suite
    from backend.release.gate import evaluate_gate, load_gate

    suite = load_suite(args.suite)
    comparison = compare_packages(
        args.champion,
        args.candidate,
        suite,
        n_boot=args.replicates,
        seed=args.seed,
        providers=["CPUExecutionProvider"] if args.cpu else None,
    )
    comparison.write(args.out)
    print(f"wrote {args.out}: {len(comparison.rows)} figures on {comparison.frames} frames")
    if args.gate is None:
        return 0
    verdict = evaluate_gate(
        load_gate(args.gate),
        comparison,
        dataset_digest=args.dataset_digest,
        label_agreement=args.label_agreement,
    )
    print(verdict.summary())
    return 0 if verdict.passed else 1
