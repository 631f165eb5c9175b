"""The loop benchmark end to end in its smoke configuration: a 40-frame pool, 12 labelled frames,
one epoch, a 4-frame suite; capture, active and random runs. The figures are checked against each other and against the pool,
so that none of them can be a constant."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from benchmarks.bench_loop import (
    GOAL_RATIO,
    GOAL_RECALL,
    MIN_RARE_POINTS,
    active_refs,
    build_pool,
    main,
    parse,
)
from benchmarks.loop_turn import capture_select, rare_in_selection
from benchmarks.selection_events import PlaceDedup


@pytest.fixture(scope="module")
def smoke(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, Any], Path, list[str]]:
    tmp = tmp_path_factory.mktemp("loop")
    argv = ["--smoke", "--cache", str(tmp / "cache"), "--out", str(tmp / "loop.json")]
    assert main(argv) == 0
    return json.loads((tmp / "loop.json").read_text()), tmp, argv


def test_the_result_carries_the_conventions_fields(
    smoke: tuple[dict[str, Any], Path, list[str]],
) -> None:
    result, tmp, _ = smoke
    for key in ("benchmark", "machine", "settings", "goals", "wall_seconds", "provenance"):
        assert key in result
    assert result["provenance"]["entries"] == ["benchmarks.bench_loop"]
    assert "cache" not in result["provenance"]["parameters"]
    assert "offline" in result["settings"]["labels"]
    assert result["wall_seconds"] > 0
    assert (tmp / "loop_recall.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_each_run_labels_the_budget_and_reports_paired_figures(
    smoke: tuple[dict[str, Any], Path, list[str]],
) -> None:
    result, _, argv = smoke
    args = parse(argv)
    runs = result["runs"]
    assert sorted(r["policy"] for r in runs) == ["active", "capture", "random"]
    suite = result["suite"]
    assert suite["new_classes_present"] and all(n > 0 for n in suite["new_class_objects"].values())
    for r in runs:
        assert r["labelled_frames"] == args.budget
        assert set(r["promoted"]) <= set(r["labelled_rare_objects"]) & set(r["classes"])
        for name, n in r["labelled_rare_objects"].items():
            if name in r["promoted"]:
                assert n >= args.min_labels
        for row in r["figures"].values():
            c, b, d = (
                row["champion"]["value"],
                row["candidate"]["value"],
                row["difference"]["value"],
            )
            if None not in (c, b, d):
                assert math.isclose(d, b - c, abs_tol=1e-9)
        pooled = r["figures"]["recall:rare"]
        assert pooled["support"] == sum(suite["new_class_objects"].values())
        assert 0.0 <= pooled["candidate"]["value"] <= 1.0
    # the baseline is the same model on the same suite in every comparison
    assert len({json.dumps(r["figures"]["recall:rare"]["champion"]) for r in runs}) == 1


def test_the_capture_run_labels_what_the_policy_picks_from_the_pool(
    smoke: tuple[dict[str, Any], Path, list[str]],
) -> None:
    result, _, argv = smoke
    args = parse(argv)
    pool, _ = build_pool(args, args.cache)  # cached: no perception again
    refs = capture_select(pool, args.budget, PlaceDedup(radius_m=args.place_radius))
    capture = next(r for r in result["runs"] if r["policy"] == "capture")
    assert capture["truth_rare_objects_in_frames"] == rare_in_selection(pool, refs, MIN_RARE_POINTS)
    held = sum(int(pool[d].scores.rare_points[f] >= MIN_RARE_POINTS) for d, f in refs)
    assert capture["frames_with_a_well_observed_rare_object"] == held
    assert result["pool"]["frames"] == args.frames * args.drives


def test_the_active_run_labels_the_first_frames_of_the_active_order(
    smoke: tuple[dict[str, Any], Path, list[str]],
) -> None:
    result, _, argv = smoke
    args = parse(argv)
    pool, facts = build_pool(args, args.cache)  # cached: records and embeddings
    assert all(d.embeddings is not None for d in pool)
    assert all(d.embeddings.shape[0] == d.scores.class_ids.size for d in pool)  # type: ignore[union-attr]
    refs = active_refs(pool, facts["classes"], args)
    assert len(refs) == args.budget == len(set(refs))
    active = next(r for r in result["runs"] if r["policy"] == "active")
    assert active["truth_rare_objects_in_frames"] == rare_in_selection(pool, refs, MIN_RARE_POINTS)
    held = sum(int(pool[d].scores.rare_points[f] >= MIN_RARE_POINTS) for d, f in refs)
    assert active["frames_with_a_well_observed_rare_object"] == held
    capture = capture_select(pool, args.budget, PlaceDedup(radius_m=args.place_radius))
    assert refs != capture  # a policy of its own, not the capture order again
    vs = result["summary"]["active_vs_random"]
    gain = result["summary"]["active"]["gain_mean"]
    rnd = result["summary"]["random"]["gain_mean"]
    assert vs["margin_active_minus_3x_random"] == pytest.approx(gain - GOAL_RATIO * rnd)


def test_summary_and_goals_follow_from_the_runs(
    smoke: tuple[dict[str, Any], Path, list[str]],
) -> None:
    result, _, _ = smoke
    summary, goals = result["summary"], result["goals"]
    for policy in ("capture", "random"):
        diffs = [
            r["figures"]["recall:rare"]["difference"]["value"]
            for r in result["runs"]
            if r["policy"] == policy
        ]
        assert summary[policy]["gain_mean"] == pytest.approx(float(np.mean(diffs)))
        mine = [r for r in result["runs"] if r["policy"] == policy]
        truth = [sum(r["truth_rare_objects_in_frames"].values()) for r in mine]
        diagnosis = summary[policy]["diagnosis"]
        assert diagnosis["truth_rare_objects_in_frames"] == pytest.approx(float(np.mean(truth)))
        background = [r["candidates_per_class"]["background"] for r in mine]
        assert diagnosis["training_candidates_background"] == pytest.approx(np.mean(background))
    cap, rnd = summary["capture"]["gain_mean"], summary["random"]["gain_mean"]
    vs = summary["capture_vs_random"]
    assert vs["margin_capture_minus_3x_random"] == pytest.approx(cap - GOAL_RATIO * rnd)
    assert goals["meets_recall"] == (summary["capture"]["recall_new_after_mean"] >= GOAL_RECALL)
    assert goals["meets_ratio"] == (cap > 0 and cap - GOAL_RATIO * rnd >= 0)
