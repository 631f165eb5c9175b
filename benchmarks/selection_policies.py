"""The selection benchmark's policies and metrics, from cached drive records (pure numpy).

``policy_scores`` turns a drive's per-detection scores (``selection_drives.DriveScores``) into
one frame score per policy; ``evaluate_seed`` computes AUROC, recall and lift of every policy for
the natural and the enriched (stratified) estimate of one seed, ``summarise`` their spread over
seeds; ``detection_level`` and ``candidate_coverage`` are the per-detection diagnostics. The
definitions are in ``bench_selection``'s docstring.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any, Final

import numpy as np
import numpy.typing as npt

from agent.scoring import SCORE_NAMES, DetectionScores, Scorer
from backend.evaluation import selection_metrics as sm
from benchmarks.selection_drives import DriveScores, frame_max

#: the upload budget of the headline numbers: the top 1 % of frames
BUDGET: Final = 0.01
#: quantiles of ordinary detections' scores at which the rare detections' share above is reported
DETECTION_QUANTILES: Final = (0.99, 0.999, 0.9999)
F64 = npt.NDArray[np.float64]

# ---- policies: one frame score per policy, from the cache (pure numpy) --------------------


def _frame_count(mask: npt.NDArray[np.bool_], offsets: npt.NDArray[np.int64]) -> F64:
    """Per frame, how many of its detections ``mask`` marks."""
    cum = np.concatenate([[0], np.cumsum(mask, dtype=np.int64)])
    out: F64 = (cum[offsets[1:]] - cum[offsets[:-1]]).astype(np.float64)
    return out


def policy_scores(
    drive: DriveScores, scorer: Scorer, rng: np.random.Generator, random_draws: int
) -> tuple[dict[str, F64], F64]:
    """Frame scores ``[F]`` by policy name, and ``[random_draws, F]`` uniform random scores."""
    out: dict[str, F64] = {}
    foreground = drive.class_ids != 0
    for i, name in enumerate(SCORE_NAMES):
        out[name] = frame_max(drive.raw[:, i], drive.offsets)
    for i, name in enumerate(SCORE_NAMES):
        fg_only = np.where(foreground, drive.raw[:, i], -np.inf)
        out[f"{name}_fg"] = frame_max(fg_only, drive.offsets)
    out["num_detections"] = np.diff(drive.offsets).astype(np.float64)
    out["num_background"] = _frame_count(drive.class_ids == 0, drive.offsets)
    for policy, key in (("minp", "combined"), ("fisher", "combined_fisher")):
        surprise = np.empty(drive.frames)
        for f in range(drive.frames):
            lo, hi = int(drive.offsets[f]), int(drive.offsets[f + 1])
            det = DetectionScores(
                raw={n: drive.raw[lo:hi, i] for i, n in enumerate(SCORE_NAMES)},
                tail={n: drive.tail[lo:hi, i] for i, n in enumerate(SCORE_NAMES)},
            )
            surprise[f] = scorer.frame_score(det, policy=policy).surprise  # type: ignore[arg-type]
        out[key] = surprise
    return out, rng.random((random_draws, drive.frames))


def detection_level(
    natural: DriveScores,
    natural_labels: npt.NDArray[np.int8],
    enriched: DriveScores,
    enriched_labels: npt.NDArray[np.int8],
) -> dict[str, Any]:
    """Per score, AUROC of detections on rare objects (in rare-object frames of both drives)
    against every detection of the natural drive's negative frames; plus counts."""

    def per_detection(drive: DriveScores, labels: npt.NDArray[np.int8]) -> npt.NDArray[np.int8]:
        return np.repeat(labels, np.diff(drive.offsets))

    det_n, det_e = per_detection(natural, natural_labels), per_detection(enriched, enriched_labels)
    pos_n = natural.on_rare & (det_n == 1)
    pos_e = enriched.on_rare & (det_e == 1)
    neg = det_n == 0
    out: dict[str, Any] = {
        "rare_detections": int(pos_n.sum() + pos_e.sum()),
        "negative_detections": int(neg.sum()),
        "rare_detections_called_background": float(
            np.mean(np.concatenate([natural.class_ids[pos_n], enriched.class_ids[pos_e]]) == 0)
        )
        if pos_n.any() or pos_e.any()
        else math.nan,
        "auroc": {},
    }
    out["rare_share_above_negative_quantile"] = {}
    for i, name in enumerate(SCORE_NAMES):
        positives = np.concatenate([natural.raw[pos_n, i], enriched.raw[pos_e, i]])
        negatives = natural.raw[neg, i]
        out["auroc"][name] = sm.auroc_two_sample(positives, negatives)
        # a frame holds ~100 detections: to top 1 % of frames, a rare detection must beat
        # roughly the 1 - 1e-4 quantile of ordinary detections
        out["rare_share_above_negative_quantile"][name] = {
            str(q): float(np.mean(positives > np.quantile(negatives, q)))
            if positives.size and negatives.size
            else math.nan
            for q in DETECTION_QUANTILES
        }
    return out


def candidate_coverage(drive: DriveScores, labels: npt.NDArray[np.int8]) -> float:
    """Share of the rare-object frames in which some detection overlaps a rare object."""
    covered = _frame_count(drive.on_rare, drive.offsets) > 0
    positives = labels == 1
    return float(covered[positives].mean()) if positives.any() else math.nan


# ---- evaluation of one seed (pure) --------------------------------------------------------


def evaluate_seed(
    natural: Mapping[str, F64],
    natural_labels: npt.NDArray[np.int8],
    enriched: Mapping[str, F64],
    enriched_labels: npt.NDArray[np.int8],
    budgets: Sequence[float],
) -> dict[str, dict[str, Any]]:
    """Metrics of every policy for one seed: the natural and the enriched (stratified) estimate.

    ``natural[p]`` / ``enriched[p]`` are frame scores of policy ``p`` (a 2-D array = several
    random draws, averaged); labels as ``frame_labels``. Budgets include ``BUDGET``.
    """
    keep_n = natural_labels >= 0
    y_n = natural_labels[keep_n] == 1
    pos_e = enriched_labels == 1
    out: dict[str, dict[str, Any]] = {}
    for name, scores_n in natural.items():
        draws_n = np.atleast_2d(scores_n)[:, keep_n]
        draws_e = np.atleast_2d(enriched[name])
        nat_auc, nat_curve, enr_auc, enr_curve = [], [], [], []
        for s_n, s_e in zip(draws_n, draws_e, strict=True):
            nat_auc.append(sm.auroc(s_n, y_n))
            nat_curve.append(sm.recall_curve(s_n, y_n, budgets))
            positives = np.concatenate([s_n[y_n], s_e[pos_e]])
            enr_auc.append(sm.auroc_two_sample(positives, s_n[~y_n]))
            rules = [sm.threshold_rule(s_n, b) for b in budgets]
            enr_curve.append(np.array([sm.recall_at_threshold(positives, r) for r in rules]))
        out[name] = {
            "natural": _seed_row(nat_auc, nat_curve, budgets),
            "enriched": _seed_row(enr_auc, enr_curve, budgets),
        }
    return out


def _seed_row(aucs: list[float], curves: list[F64], budgets: Sequence[float]) -> dict[str, Any]:
    curve = np.mean(np.stack(curves), axis=0)
    i = list(budgets).index(BUDGET)
    row: dict[str, Any] = {
        "auroc": float(np.mean(aucs)),
        "recall_at_1pct": float(curve[i]),
        "lift_at_1pct": sm.lift(float(curve[i]), BUDGET),
        "curve": [float(v) for v in curve],
    }
    if len(curves) > 1:  # random draws: their spread within the seed
        at = np.array([c[i] for c in curves])
        row["recall_at_1pct_draw_std"] = float(at.std(ddof=1))
        row["draws"] = len(curves)
    return row


def summarise(per_seed: Sequence[Mapping[str, Mapping[str, Any]]]) -> dict[str, Any]:
    """Spread over seeds of AUROC, recall and lift at 1 %, and the mean recall curve."""
    summary: dict[str, Any] = {}
    for name in per_seed[0]:
        summary[name] = {}
        for est in ("natural", "enriched"):
            rows = [seed[name][est] for seed in per_seed]
            curves = np.array([r["curve"] for r in rows], dtype=np.float64)
            seeds_with_value = (~np.isnan(curves)).sum(axis=0)
            totals = np.where(np.isnan(curves), 0.0, curves).sum(axis=0)
            mean_curve = [
                float(t / c) if c else math.nan
                for t, c in zip(totals, seeds_with_value, strict=True)
            ]
            summary[name][est] = {
                key: sm.spread([r[key] for r in rows]).as_dict()
                for key in ("auroc", "recall_at_1pct", "lift_at_1pct")
            } | {"mean_curve": mean_curve}
    return summary
