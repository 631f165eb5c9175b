"""The IoU benchmark's helpers: its shapely baselines compute what core.geometry and the matcher
compute, on the benchmark's own frames."""

from __future__ import annotations

import numpy as np

from backend.annotation.qa import MatchSettings, match_frame
from benchmarks.bench_iou import make_frame, shapely_iou_matrix, shapely_match
from core.geometry import bev_iou_matrix, iou3d_matrix


def test_frames_look_like_annotation_frames() -> None:
    f = make_frame(np.random.default_rng(0), 50)
    assert f.candidate.shape == f.reference.shape == (50, 7)
    assert len(f.candidate_classes) == len(f.reference_classes) == 50
    iou = iou3d_matrix(f.candidate, f.reference)
    # most objects are found again by the simulated annotator, few pairs overlap at all
    assert (iou.max(axis=0) > 0.5).mean() > 0.8
    assert (iou > 0).mean() < 0.1


def test_shapely_baselines_agree_with_core_geometry() -> None:
    f = make_frame(np.random.default_rng(1), 40, extent_m=30.0)
    for three_d, ours in ((False, bev_iou_matrix), (True, iou3d_matrix)):
        want = ours(f.candidate, f.reference)
        for prune in (False, True):
            got = shapely_iou_matrix(f.candidate, f.reference, three_d, prune)
            np.testing.assert_allclose(got, want, rtol=0, atol=1e-9)
    assert shapely_iou_matrix(f.candidate[:0], f.reference, True, True).shape == (0, 40)


def test_shapely_matcher_matches_like_match_frame() -> None:
    settings = MatchSettings()
    for seed in range(3):
        f = make_frame(np.random.default_rng(seed), 50, extent_m=40.0)
        m = match_frame(f.candidate, f.candidate_classes, f.reference, f.reference_classes)
        matched, mismatched, iou_3d, iou_bev = shapely_match(f, settings)
        assert matched == list(
            zip(m.matched.candidate.tolist(), m.matched.reference.tolist(), strict=True)
        )
        assert mismatched == list(
            zip(m.mismatched.candidate.tolist(), m.mismatched.reference.tolist(), strict=True)
        )
        k = len(matched)
        np.testing.assert_allclose(iou_3d[:k], m.matched.iou_3d, atol=1e-9)
        np.testing.assert_allclose(iou_bev[k:], m.mismatched.iou_bev, atol=1e-9)
