"""``longtail weak …``: weak labels for the frames people never see.

::

    longtail weak label --drive DRIVE [DRIVE ...] --package PKG --out OUT [--min-posterior 0.95]

writes ``OUT/<drive>/`` (the frames that got a kept weak label, marked weak: a training source
with ``backend.training.weak.source.WeakSource``, refused by the edge-case suite) and
``OUT/report.json``; drives with ground truth get the accuracy of the weak labels, of the
champion's detections alone and of each labelling function against it, per class with Wilson
intervals.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any


def register(subparsers: Any) -> None:
    """Add the ``weak`` command group to the ``longtail`` parser."""
    parser = subparsers.add_parser("weak", help="weak supervision: machine labels for training")
    sub = parser.add_subparsers(dest="weak_command", required=True, metavar="SUBCOMMAND")
    p = sub.add_parser("label", help="weak labels for drives with the champion's package")
    p.add_argument("--drive", nargs="+", required=True, type=Path, help="drive directories")
    p.add_argument("--package", required=True, type=Path, help="the champion's model package")
    p.add_argument("--out", required=True, type=Path, help="output directory")
    p.add_argument(
        "--min-posterior",
        type=float,
        default=0.95,
        help="posterior a weak label needs to be kept (default 0.95)",
    )
    p.add_argument(
        "--min-score",
        type=float,
        default=0.9,
        help="ensemble-mean probability of a confident champion vote (default 0.9)",
    )
    p.add_argument("--cpu", action="store_true", help="force the CPU execution provider")
    p.set_defaults(handler=_label)


def _label(args: argparse.Namespace) -> int:
    from backend.training.weak.drive import REPORT_FILE, label_drive_dirs
    from backend.training.weak.functions import VoteSettings
    from backend.training.weak.labeller import WeakSettings

    settings = WeakSettings(VoteSettings(champion_min_score=args.min_score), args.min_posterior)
    summary = label_drive_dirs(
        args.drive,
        args.package,
        args.out,
        settings,
        providers=["CPUExecutionProvider"] if args.cpu else None,
    )
    print(
        f"weak labels: {summary['weak_labels_kept']} of {summary['candidates']} candidates "
        f"kept, {summary['frames_written']} of {summary['frames']} frames written; "
        f"per class {summary['weak_objects']}"
    )
    accuracy = summary.get("accuracy")
    if accuracy is not None:
        for name in ("weak", "champion_only"):
            overall = accuracy[name]["overall"]
            print(
                f"  {name}: precision {overall['precision']['value']:.3f}, coverage "
                f"{overall['coverage']['value']:.3f} against ground truth"
            )
    print(f"wrote {args.out / REPORT_FILE}")
    return 0
