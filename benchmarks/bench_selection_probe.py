"""How far could *any* per-candidate detector go? A supervised probe as the ceiling of selection.

``bench_selection`` shows that no score of the shipped model finds the rare-object frames at a 1 %
budget. Is that the scores' fault or the candidates'? This benchmark trains what no vehicle could
have, a detector that has *seen* the rare classes, and ranks frames with it exactly as the
selection benchmark ranks them with the scores. If even that misses the goal, better scoring of
the same candidates cannot reach it, and the next step is a different representation.

Method
------
* The drives are ``bench_selection``'s (same scenario, seeds, caches; simulated if missing).
  Every candidate of every frame is taken from the runtime's own pre-processing
  (``agent.perception.preprocess``): the ``P`` points in the candidate's box frame and the
  candidate features the network also sees. A candidate is *rare* when its fitted box overlaps a
  rare object's box in BEV (``selection_drives.rare_overlap``, as in ``bench_selection``).
* The probe is a PointNet of the baseline network's size (per-point MLP 4 -> 64 -> 128, max-pool,
  joined with the features, 128 -> 1), trained with binary cross-entropy to tell rare candidates
  from all others. Leave one seed out: the probe evaluated on seed ``s`` is trained on all rare
  candidates of the other seeds' natural *and* enriched drives plus ``--negatives`` ordinary
  candidates drawn from them at random.
* Frame score = the probe's largest logit over the frame's candidates; metrics, thresholds and the
  natural / enriched estimates are ``bench_selection``'s (``selection_policies.evaluate_seed``).
  Also reported per held-out seed: the candidate-level AUROC, and the share of rare candidates
  above the 0.99 / 0.999 / 0.9999 quantiles of the natural drive's ordinary candidates.

Writes ``benchmarks/results/selection_probe.json``. Run:
``.venv/bin/python -m benchmarks.bench_selection_probe [--seeds 3 --epochs 6]``.
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Sequence
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any, Final

import numpy as np
import numpy.typing as npt
import torch
from torch import nn
from tqdm import tqdm

from agent.formats.dataset import Dataset
from agent.perception.preprocess import Preprocessor
from backend.evaluation import selection_metrics as sm
from benchmarks.bench_selection import (
    NATURAL_SEED0,
    add_drive_arguments,
    ensure_drive,
    json_safe,
    machine,
    model_key,
)
from benchmarks.selection_drives import frame_labels, frame_max, rare_overlap, rare_points_of
from benchmarks.selection_policies import BUDGET, evaluate_seed, summarise

RESULTS: Final = Path(__file__).resolve().parent / "results" / "selection_probe.json"
#: quantiles of the ordinary candidates' probe logits that a rare candidate is compared with
TAIL_QUANTILES: Final = (0.99, 0.999, 0.9999)
F32 = npt.NDArray[np.float32]
F64 = npt.NDArray[np.float64]


@dataclass(frozen=True)
class DriveCandidates:
    """All C candidates of a drive of F frames: ``points`` float32 ``[C, P, 4]`` (box frame,
    metres, intensity), ``features`` float32 ``[C, F_in]`` (``sampling.FEATURE_NAMES``, scaled),
    ``rare`` bool ``[C]``, ``frame`` int64 ``[C]`` (index into the drive's frames), and
    ``rare_points`` int64 ``[F]`` (points on the frame's best-hit rare object, 0 without)."""

    points: F32
    features: F32
    rare: npt.NDArray[np.bool_]
    frame: npt.NDArray[np.int64]
    rare_points: npt.NDArray[np.int64]

    @property
    def offsets(self) -> npt.NDArray[np.int64]:
        """``[F + 1]`` start of each frame's candidates (they are stored in frame order)."""
        counts = np.bincount(self.frame, minlength=self.rare_points.size)
        return np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)

    def save(self, path: Path) -> None:
        """Write to ``path`` (npz) atomically."""
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".tmp.npz")
        np.savez(tmp, **{f.name: getattr(self, f.name) for f in fields(self)})
        tmp.replace(path)

    @classmethod
    def load(cls, path: Path) -> DriveCandidates:
        with np.load(path, allow_pickle=False) as data:
            return cls(**{f.name: data[f.name] for f in fields(cls)})


def extract_candidates(
    path: Path, frames: int, preprocess: Preprocessor, desc: str
) -> DriveCandidates:
    """The candidates of the first ``frames`` frames of the drive at ``path``, labelled."""
    data = Dataset(path)
    points, features, rare, frame, rare_points = [], [], [], [], []
    for i, index in enumerate(tqdm(data.indices[:frames], desc=desc, unit="frame")):
        labels = data.labels(index)
        cand = preprocess(data.points(index))
        points.append(cand.points)
        features.append(cand.features)
        rare.append(rare_overlap(cand.boxes, labels) != "")
        frame.append(np.full(len(cand), i, dtype=np.int64))
        rare_points.append(rare_points_of(labels))
    return DriveCandidates(
        points=np.concatenate(points),
        features=np.concatenate(features),
        rare=np.concatenate(rare),
        frame=np.concatenate(frame),
        rare_points=np.asarray(rare_points, dtype=np.int64),
    )


class PointProbe(nn.Module):
    """Binary rare-vs-ordinary PointNet: ``(points [N, P, 4], features [N, F]) -> logit [N]``."""

    def __init__(self, num_features: int, width: int = 128) -> None:
        super().__init__()
        self.point_mlp = nn.Sequential(
            nn.Linear(4, width // 2), nn.ReLU(), nn.Linear(width // 2, width), nn.ReLU()
        )
        self.head = nn.Sequential(
            nn.Linear(width + num_features, width), nn.ReLU(), nn.Linear(width, 1)
        )

    def forward(self, points: torch.Tensor, features: torch.Tensor) -> torch.Tensor:
        pooled = self.point_mlp(points).max(dim=1).values
        logit: torch.Tensor = self.head(torch.cat([pooled, features], dim=1)).squeeze(1)
        return logit


def training_rows(
    rare: npt.NDArray[np.bool_], negatives: int, rng: np.random.Generator
) -> npt.NDArray[np.int64]:
    """Every rare row and ``negatives`` ordinary rows drawn without replacement (all of them
    when there are fewer), sorted."""
    pos, neg = np.flatnonzero(rare), np.flatnonzero(~rare)
    drawn = rng.choice(neg, size=min(negatives, neg.size), replace=False)
    return np.sort(np.concatenate([pos, drawn]))


def train_probe(
    points: F32,
    features: F32,
    labels: npt.NDArray[np.bool_],
    *,
    epochs: int,
    seed: int,
    batch: int = 512,
    lr: float = 1e-3,
) -> PointProbe:
    """A ``PointProbe`` fitted to ``labels`` (True = rare) with Adam, deterministic per ``seed``."""
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    probe = PointProbe(features.shape[1])
    opt = torch.optim.Adam(probe.parameters(), lr=lr)
    p, f = torch.from_numpy(points), torch.from_numpy(features)
    y = torch.from_numpy(labels.astype(np.float32))
    probe.train()
    for _ in range(epochs):
        order = torch.randperm(y.shape[0], generator=gen)
        for start in range(0, y.shape[0], batch):
            rows = order[start : start + batch]
            loss = nn.functional.binary_cross_entropy_with_logits(probe(p[rows], f[rows]), y[rows])
            opt.zero_grad()
            loss.backward()  # type: ignore[no-untyped-call]
            opt.step()
    probe.eval()
    return probe


def probe_logits(probe: PointProbe, points: F32, features: F32, batch: int = 8192) -> F64:
    """The probe's logit for each candidate (higher = more likely rare)."""
    out = []
    with torch.no_grad():
        for start in range(0, points.shape[0], batch):
            stop = start + batch
            p, f = torch.from_numpy(points[start:stop]), torch.from_numpy(features[start:stop])
            out.append(probe(p, f).numpy().astype(np.float64))
    return np.concatenate(out) if out else np.zeros(0)


def candidate_level(logits: F64, rare: npt.NDArray[np.bool_], ordinary: F64) -> dict[str, Any]:
    """AUROC of the rare candidates' ``logits`` against ``ordinary`` candidates' logits, and the
    share of rare candidates above each of ``TAIL_QUANTILES`` of ``ordinary``."""
    pos = logits[rare]
    return {
        "rare_candidates": int(pos.size),
        "auroc": sm.auroc_two_sample(pos, ordinary),
        "share_above_ordinary_quantile": {
            str(q): float(np.mean(pos > np.quantile(ordinary, q))) if pos.size else None
            for q in TAIL_QUANTILES
        },
    }


def load_drives(args: argparse.Namespace) -> list[tuple[DriveCandidates, DriveCandidates]]:
    """Per seed, the (natural, enriched) candidates, extracted once per drive and model."""
    from agent.perception.package import ModelPackage, default_package_path

    package_dir = default_package_path()
    package = ModelPackage.load(package_dir)
    preprocess = Preprocessor(package.params)
    cache = Path(args.cache)
    key = model_key(package_dir, package.version)
    drives = []
    for i in range(args.seeds):
        pair = []
        for rate, frames in ((None, args.frames), (args.enriched_rate, args.enriched_frames)):
            path, _ = ensure_drive(cache, rate, NATURAL_SEED0 + i, frames)
            name = f"{path.name.rsplit('-frames', 1)[0]}-frames{frames}"
            stored = cache / "candidates" / key / f"{name}.npz"
            if stored.exists():
                pair.append(DriveCandidates.load(stored))
            else:
                found = extract_candidates(path, frames, preprocess, f"candidates {name}")
                found.save(stored)
                pair.append(found)
        drives.append((pair[0], pair[1]))
    return drives


def run(args: argparse.Namespace) -> dict[str, Any]:
    """Leave-one-seed-out: train on the other seeds, evaluate on the held-out one."""
    drives = load_drives(args)
    budgets = [BUDGET]
    per_seed, folds = [], []
    for held_out, (natural, enriched) in enumerate(drives):
        train = [d for i, pair in enumerate(drives) if i != held_out for d in pair]
        rare = np.concatenate([d.rare for d in train])
        rows = training_rows(rare, args.negatives, np.random.default_rng(args.seed + held_out))
        started = time.process_time()
        probe = train_probe(
            np.concatenate([d.points for d in train])[rows],
            np.concatenate([d.features for d in train])[rows],
            rare[rows],
            epochs=args.epochs,
            seed=args.seed + held_out,
        )
        train_cpu = time.process_time() - started
        nat = probe_logits(probe, natural.points, natural.features)
        enr = probe_logits(probe, enriched.points, enriched.features)
        y_nat = frame_labels(natural.rare_points, args.min_rare_points)
        y_enr = frame_labels(enriched.rare_points, args.min_rare_points)
        scores_n = {"supervised_probe": frame_max(nat, natural.offsets)}
        scores_e = {"supervised_probe": frame_max(enr, enriched.offsets)}
        per_seed.append(evaluate_seed(scores_n, y_nat, scores_e, y_enr, budgets))
        ordinary = nat[~natural.rare & (y_nat[natural.frame] == 0)]
        folds.append(
            {
                "held_out_seed": NATURAL_SEED0 + held_out,
                "training_rare_candidates": int(rare[rows].sum()),
                "training_ordinary_candidates": int((~rare[rows]).sum()),
                "training_cpu_seconds": train_cpu,
                "natural_rare_frames": int((y_nat == 1).sum()),
                "enriched_rare_frames": int((y_enr == 1).sum()),
                "candidate_level": {
                    "natural": candidate_level(nat, natural.rare, ordinary),
                    "enriched": candidate_level(enr, enriched.rare, ordinary),
                },
                "recall_at_1pct": {
                    est: per_seed[-1]["supervised_probe"][est]["recall_at_1pct"]
                    for est in ("natural", "enriched")
                },
            }
        )
    summary = summarise(per_seed)["supervised_probe"]
    for est in summary.values():
        est.pop("mean_curve")
    return {"summary": summary, "folds": folds}


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    add_drive_arguments(parser)
    parser.add_argument("--epochs", type=int, default=6)
    parser.add_argument("--negatives", type=int, default=40_000, help="ordinary rows per fold")
    parser.add_argument("--seed", type=int, default=0, help="training seed of the first fold")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    if args.seeds < 2 or args.epochs < 1 or args.negatives < 1:
        parser.error("--seeds must be >= 2 (leave one out), --epochs and --negatives >= 1")
    started = time.perf_counter()
    result = run(args)
    report = {
        "benchmark": "supervised per-candidate probe: the ceiling of selection "
        "(benchmarks.bench_selection_probe)",
        "machine": machine(),
        "settings": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
        "method": (__doc__ or "").split("Method")[1].split("Writes")[0].strip("-\n "),
        **result,
        "wall_seconds": time.perf_counter() - started,
    }
    report["settings"].pop("cache")
    report["settings"].pop("out")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(json_safe(report), indent=2, allow_nan=False) + "\n")
    for fold in report["folds"]:
        print(json.dumps(json_safe(fold)))
    print(json.dumps(json_safe(report["summary"]), indent=1))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
