"""The supervised probe of ``bench_selection_probe``: candidates, the probe network, its metrics.

Pure helpers (no environment set-up, no report writing), so tests import them without the
benchmark's one-core settings. ``DriveCandidates`` holds every candidate of a drive as the
runtime's pre-processing makes it; ``PointProbe`` is the rare-vs-ordinary PointNet;
``candidate_level`` measures how its rare candidates rank among the ordinary ones.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any, Final

import numpy as np
import numpy.typing as npt
import torch
from torch import nn
from tqdm import tqdm

from agent.perception.preprocess import Preprocessor
from backend.evaluation import selection_metrics as sm
from benchmarks.selection_drives import rare_overlap, rare_points_of, save_fields
from core.formats.dataset import Dataset

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
        save_fields(self, path)

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
        rare.append(rare_overlap(cand.boxes, labels)[0] != "")
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
