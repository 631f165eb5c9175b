"""``make demo`` measured: the whole vehicle-to-cloud loop on the embedded default, as the README
describes it, with the offline analysis of the same drive as the same-run baseline.

Run: ``.venv/bin/python -m benchmarks.bench_demo``. Writes ``benchmarks/results/demo.json`` (the
demo's ``summary.json`` as measured, the machine, and the baseline) and copies the demo's
``most_urgent_frame.png`` and ``captured_rare_object.png`` to ``docs/images/`` so that the
README's figures and pictures come from one run.

Baseline: ``longtail-agent score`` on the demo's own drive, which runs the same perception and
scoring per frame but neither selects, spools nor uploads: the demo's agent throughput over this
rate is what the rest of the path costs.
"""

from __future__ import annotations

import argparse
import json
import logging
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks.machine import describe_machine
from benchmarks.provenance import provenance

log = logging.getLogger(__name__)

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results" / "demo.json"
PICTURE = ROOT / "docs" / "images" / "most_urgent_frame.png"
CAPTURED = ROOT / "docs" / "images" / "captured_rare_object.png"


def run_demo(out: Path, frames: int) -> tuple[dict[str, Any], float]:
    """``python -m backend.demo`` into ``out``: its summary and its wall time (s)."""
    started = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "backend.demo", "--out", str(out), "--frames", str(frames)],
        check=True,
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
    )
    wall = time.perf_counter() - started
    return json.loads((out / "summary.json").read_text()), wall


def offline_rate(drive: Path, config: Path, scores: Path) -> dict[str, float]:
    """Frames per second of ``longtail-agent score`` on ``drive`` (analysis only)."""
    started = time.perf_counter()
    subprocess.run(
        [
            sys.executable,
            "-m",
            "agent.cli",
            "score",
            str(drive),
            "--out",
            str(scores),
            "--config",
            str(config),
            "--no-progress",
        ],
        check=True,
        cwd=ROOT,
        stderr=subprocess.DEVNULL,
    )
    wall = time.perf_counter() - started
    frames = len(scores.read_text().splitlines())
    return {"frames": frames, "wall_s": wall, "frames_per_s": frames / wall}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=800, help="the demo's default")
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument("--picture", type=Path, default=PICTURE)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    machine = describe_machine()
    with tempfile.TemporaryDirectory(prefix="longtail-bench-demo-") as tmp:
        out = Path(tmp) / "demo"
        summary, wall = run_demo(out, args.frames)
        baseline = offline_rate(out / "drive", out / "agent.toml", Path(tmp) / "scores.jsonl")
        picture = out / "most_urgent_frame.png"
        if picture.exists():  # a drive in which nothing was sent has no urgent frame
            shutil.copyfile(picture, args.picture)
        captured = out / CAPTURED.name
        if captured.exists():  # nor one that captured no rare object a captured-object view
            shutil.copyfile(captured, args.picture.parent / CAPTURED.name)
    result = {
        "benchmark": "make demo, end to end (benchmarks.bench_demo)",
        "machine": machine,
        "command": f"python -m backend.demo --frames {args.frames}",
        "demo_wall_s": wall,
        "summary": summary,
        "baseline_offline_score": baseline,
        "agent_vs_offline_analysis": summary["agent_frames_per_s"] / baseline["frames_per_s"],
        # the demo and the offline scorer run as subprocesses: their code is what was measured
        "provenance": provenance(
            ["benchmarks.bench_demo", "backend.demo", "agent.cli"],
            vars(args),
            skip=("out", "picture"),
        ),
    }
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    log.info(
        "demo: %.1f frames/s end to end, offline analysis %.1f frames/s; wrote %s and %s",
        summary["agent_frames_per_s"],
        baseline["frames_per_s"],
        args.out,
        args.picture,
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
