"""``longtail sim``: simulate drives into datasets and draw their frames (see ``HELP``)."""

from __future__ import annotations

import argparse
from typing import Any

#: What ``longtail sim --help`` shows above the sub-commands (plain text, kept as written).
HELP = """\
Simulate LiDAR drives into datasets and draw their frames.

examples:
  longtail sim drive --scenario urban --frames 200 --seed 0 --out data/urban
  longtail sim render data/urban --index 12 --out frame12.png
  longtail sim crowd --api http://127.0.0.1:8080 --admin-token-file token --drive data/urban
  longtail sim training-drives --plan baseline --out build/baseline/drives
  longtail sim suite-drives --out build/suite

built-in scenarios: {scenarios}
"""


def register(subparsers: Any) -> None:
    """Add the ``sim`` command group to the ``longtail`` parser."""
    from simulators.scenario import builtin_names

    scenarios = ", ".join(builtin_names())
    sim = subparsers.add_parser(
        "sim",
        help="LiDAR scene simulator",
        description=HELP.format(scenarios=scenarios),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = sim.add_subparsers(dest="sim_command", required=True, metavar="SUBCOMMAND")

    drive = sub.add_parser("drive", help="simulate a drive into a dataset directory")
    drive.add_argument(
        "--scenario",
        required=True,
        help=f"a scenario .toml file or a built-in name ({scenarios})",
    )
    drive.add_argument("--frames", type=int, required=True, help="number of frames (10 Hz)")
    drive.add_argument("--seed", type=int, default=0, help="random seed (same seed, same points)")
    drive.add_argument("--out", required=True, help="dataset directory to write")
    drive.add_argument("--no-progress", action="store_true", help="no progress bar")
    drive.add_argument(
        "--overwrite",
        action="store_true",
        help="replace the frames of an existing dataset in --out",
    )
    drive.set_defaults(handler=_drive)

    plans = sub.add_parser(
        "training-drives", help="simulate the drives of a training plan and write splits.json"
    )
    plans.add_argument(
        "--plan", default="baseline", help="built-in plan (baseline | randomised: every sensor)"
    )
    plans.add_argument("--out", required=True, help="directory for the drives and splits.json")
    plans.set_defaults(handler=_training_drives)

    suite = sub.add_parser(
        "suite-drives", help="simulate the drives of the default edge-case suite"
    )
    suite.add_argument("--out", required=True, help="directory for the drives")
    suite.set_defaults(handler=_suite_drives)

    crowd = sub.add_parser(
        "crowd",
        help="a simulated annotator crowd labels a running server's tasks through its API",
    )
    crowd.add_argument(
        "--api", required=True, help="the backend's HTTP API, e.g. http://127.0.0.1:8080"
    )
    crowd.add_argument("--admin-token-file", required=True, help="file holding an admin's token")
    crowd.add_argument("--drive", required=True, help="the simulated drive the frames came from")
    crowd.add_argument("--seed", type=int, default=0, help="random seed of the crowd")
    crowd.add_argument(
        "--max-tasks", type=int, default=None, help="stop after this many annotations"
    )
    crowd.add_argument("--gold-share", type=float, default=0.2, help="share of frames made gold")
    crowd.add_argument(
        "--calibration",
        type=int,
        default=3,
        help="calibration gold tasks (server's calibration_tasks)",
    )
    crowd.set_defaults(handler=_crowd)

    render = sub.add_parser("render", help="draw one frame of a dataset from above as a PNG")
    render.add_argument("dataset", help="dataset directory")
    render.add_argument("--index", type=int, default=0, help="frame index")
    render.add_argument("--out", required=True, help="PNG file to write")
    render.add_argument("--color-by", choices=("height", "intensity"), default="height")
    render.add_argument("--extent", type=float, default=60.0, help="half width of the view (m)")
    render.set_defaults(handler=_render)


def _drive(args: argparse.Namespace) -> int:
    from simulators.drive import write_drive
    from simulators.errors import SimulatorError
    from simulators.scenario import resolve_scenario

    scenario = resolve_scenario(args.scenario)
    try:
        meta = write_drive(
            scenario,
            args.frames,
            args.seed,
            args.out,
            progress=not args.no_progress and args.frames > 1,
            overwrite=args.overwrite,
        )
    except SimulatorError as exc:
        # the library's refusal says "pass overwrite": on the command line that is --overwrite
        raise SimulatorError(str(exc).replace("pass overwrite", "pass --overwrite")) from exc
    print(f"wrote {meta['frames']} frames to {args.out}: {meta['class_counts']}")
    return 0


def _training_drives(args: argparse.Namespace) -> int:
    from pathlib import Path

    from simulators.training_drives import plan_by_name, simulate_plan

    path = simulate_plan(plan_by_name(args.plan), Path(args.out), progress=True)
    print(f"wrote {path}")
    return 0


def _suite_drives(args: argparse.Namespace) -> int:
    from pathlib import Path

    from simulators.suite_drives import SUITE_STRIDE, write_suite_drives

    paths = write_suite_drives(Path(args.out), progress=True)
    print(f"wrote {len(paths)} drives to {args.out}; build the suite with")
    print(
        f"  longtail suite build --stride {SUITE_STRIDE} --data {' '.join(map(str, paths))} "
        f"--out {Path(args.out) / 'suite.json'}"
    )
    return 0


def _crowd(args: argparse.Namespace) -> int:
    from pathlib import Path

    from simulators.crowd import run_crowd, truth_from_drive

    token = Path(args.admin_token_file).read_text().strip()
    run = run_crowd(
        args.api,
        token,
        truth_from_drive(args.drive),
        seed=args.seed,
        max_tasks=args.max_tasks,
        progress=True,
        gold_share=args.gold_share,
        calibration_frames=args.calibration,
    )
    print("\n".join(run.table()))
    batch = run.qa["batch"]
    print(
        f"wall {run.wall_s:.1f} s; tasks still waiting {run.pending_tasks}; "
        f"Fleiss kappa {batch['fleiss_kappa']}, Krippendorff alpha {batch['krippendorff_alpha_class']}"
    )
    return 0


def _render(args: argparse.Namespace) -> int:
    from simulators.render import render_dataset_frame

    render_dataset_frame(
        args.dataset, args.index, args.out, color_by=args.color_by, extent=args.extent
    )
    print(f"wrote {args.out}")
    return 0
