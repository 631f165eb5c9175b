"""Champion vs candidate: the recall rules on crafted detections, and one end-to-end run of the
shipped baseline against itself on a suite built from a short simulator drive."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest

from agent.perception.package import default_package_path
from backend.evaluation.algo import FrameEval
from backend.evaluation.compare import compare_frames, compare_packages
from backend.evaluation.suite import build_suite, load_suite, read_frames, write_suite
from backend.release.gate import evaluate_gate, parse_gate
from simulators.drive import write_drive
from simulators.scenario import builtin_scenario
from tests.backend.evaluation.test_suite import obj, write_dataset

#: the boxes ``obj`` writes for a car at (10, 0) and a deer at (20, 3)
CAR = (10.0, 0.0, -0.9, 1.0, 1.0, 1.0, 0.0)
DEER = (20.0, 3.0, -0.9, 1.0, 1.0, 1.0, 0.0)
FRAMES = 20


def det(
    boxes: Sequence[Sequence[float]], names: list[str]
) -> tuple[npt.NDArray[np.float64], tuple[str, ...]]:
    return np.array(boxes, dtype=np.float64).reshape(-1, 7), tuple(names)


def test_recall_rules_and_paired_differences(tmp_path: Path) -> None:
    labels = [[obj("car", 10.0, 0.0, 300), obj("deer", 20.0, 3.0, 30)] for _ in range(FRAMES)]
    data = write_dataset(tmp_path / "drive", labels, weather="clear", beams=64, seed=9)
    suite = build_suite([data], tmp_path)
    facts, champion, candidate = [], [], []
    spurious = (40.0, -20.0, -0.9, 4.0, 2.0, 1.5, 0.0)
    for i, (frame, _, lab) in enumerate(read_frames(suite)):
        facts.append(suite.facts(frame, lab))
        gt = (lab.boxes(), tuple(lab.class_names()))
        assert np.allclose(gt[0], [CAR, DEER])
        # champion: knows no deer, sees it as a pedestrian (counts: any foreground detection);
        # finds the car in half the frames, and one false positive per frame
        boxes, names = det(
            ([CAR] if i < FRAMES // 2 else []) + [DEER, spurious],
            (["car"] if i < FRAMES // 2 else []) + ["pedestrian", "car"],
        )
        champion.append(FrameEval(boxes, names, np.full(len(names), 0.8), *gt))
        # candidate: knows deer, so it must name it; names it in half the frames
        boxes, names = det([CAR, DEER], ["car", "deer" if i < FRAMES // 2 else "pedestrian"])
        candidate.append(FrameEval(boxes, names, np.full(len(names), 0.9), *gt))
    rows = compare_frames(
        suite,
        facts,
        champion,
        candidate,
        ("car", "pedestrian"),
        ("car", "pedestrian", "deer"),
        n_boot=500,
    )
    by = {(r.slice, r.metric): r for r in rows}
    car = by[("all", "recall:car")]
    assert (car.champion.value, car.candidate.value) == (0.5, 1.0)
    assert car.difference.value == 0.5 and car.difference.lo > 0
    deer = by[("class:deer", "recall")]
    assert (deer.champion.value, deer.candidate.value) == (1.0, 0.5)
    assert deer.difference.hi < 0
    fp = by[("all", "fp_per_frame")]
    assert (fp.champion.value, fp.candidate.value) == (1.0, 0.0)
    assert by[("all", "ap:deer")].champion.value == 0.0  # the champion names no deer
    assert by[("all", "ap:deer")].candidate.value == pytest.approx(0.5, abs=0.03)
    for r in rows:  # every figure has its interval, and the value lies inside it
        for e in (r.champion, r.candidate, r.difference):
            assert e.lo <= e.value + 1e-12 and e.value <= e.hi + 1e-12, r


def test_the_baseline_against_itself_end_to_end(tmp_path: Path) -> None:
    """A tiny suite (12 frames of a rare-actor drive, seed 941: no training plan's), the shipped
    package compared with itself through the vehicle runtime: every difference is 0 with a
    zero-width interval, and a gate with delta > 0 passes."""
    write_drive(builtin_scenario("rare_heavy"), 12, 941, tmp_path / "rare-941", progress=False)
    write_suite(build_suite([tmp_path / "rare-941"], tmp_path, name="tiny"), tmp_path)
    suite = load_suite(tmp_path)
    package = default_package_path()
    comparison = compare_packages(
        package, package, suite, n_boot=300, providers=["CPUExecutionProvider"]
    )
    assert comparison.frames == 12 and comparison.suite_version == suite.version
    assert {"all", "distance:0-20m", "occlusion"} <= set(comparison.slices())
    for r in comparison.rows:
        assert r.difference.value == 0.0 and r.difference.lo == 0.0 == r.difference.hi, r
        assert r.champion == r.candidate
    assert 0.0 < comparison.row("all", "recall").candidate.value < 1.0
    gate = parse_gate(
        {
            "data": {"min_label_agreement": 0.6},
            "rule": [{"slice": "*", "metric": "*", "delta": 0.01}],
        },
        "e2e",
    )
    verdict = evaluate_gate(gate, comparison, dataset_digest="d" * 64, label_agreement=0.8)
    assert verdict.passed, verdict.summary()
    assert len(verdict.checks) == len(comparison.rows) + 1
    comparison.write(tmp_path / "compare.json")
