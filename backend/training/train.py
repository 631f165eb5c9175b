"""The training loop: M bootstrap-weighted classifier heads and a box head on one trunk.

Losses: per head, cross-entropy weighted by the head's Poisson(1) bootstrap weight of each
sample (so heads see different resamples and disagree away from the data); on foreground
candidates, smooth-L1 on the centre offsets and log size ratios plus ``1 - cos(2 dyaw)`` on the
yaw residual (periodic in pi: the half-turned box is the same box). Class-balanced sample weights
keep rare-ish classes (bus, cyclist) from being drowned by background.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn
from tqdm import tqdm

from backend.errors import TrainingError
from backend.training.candidates import CandidateSet
from backend.training.model import CandidateNet

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TrainConfig:
    """Hyper-parameters of one training run."""

    seed: int = 0
    epochs: int = 12
    batch_size: int = 256
    learning_rate: float = 2e-3
    weight_decay: float = 1e-4
    ensemble_size: int = 5
    embedding_dim: int = 32
    width: int = 128
    head_dropout: float = 0.2
    box_loss_weight: float = 1.0
    jitter: float = 0.03  #: metres of Gaussian noise added to training points
    threads: int = 2


@dataclass
class TrainResult:
    model: CandidateNet
    history: list[dict[str, float]] = field(default_factory=list)


def _class_weights(labels: np.ndarray, k: int) -> np.ndarray:
    counts = np.bincount(labels, minlength=k).astype(np.float64)
    # inverse square-root frequency: balances without letting a handful of buses dominate
    w = np.where(counts > 0, 1.0 / np.sqrt(np.maximum(counts, 1.0)), 0.0)
    return w / (w[labels].mean() if labels.size else 1.0)


def train(
    data: CandidateSet,
    num_classes: int,
    config: TrainConfig,
    *,
    val: CandidateSet | None = None,
    progress: bool = True,
    init: CandidateNet | None = None,
    on_epoch: Callable[[dict[str, float]], None] | None = None,
) -> TrainResult:
    """Train a ``CandidateNet`` on ``data`` (labels index the K = ``num_classes`` classes).

    ``init``, when given, is trained further (fine-tuning; its architecture wins over the
    config's); ``on_epoch`` is called with each epoch's history entry.
    """
    if len(data) == 0:
        raise TrainingError("training set has no candidates")
    present = np.unique(data.labels)
    if present.min() < 0 or present.max() >= num_classes:
        raise TrainingError(f"labels {present.tolist()} fall outside 0..{num_classes - 1}")
    torch.manual_seed(config.seed)
    torch.set_num_threads(config.threads)
    rng = np.random.default_rng(config.seed)
    model = init or CandidateNet(
        num_classes=num_classes,
        ensemble_size=config.ensemble_size,
        embedding_dim=config.embedding_dim,
        num_features=data.features.shape[1],
        width=config.width,
        head_dropout=config.head_dropout,
    )
    if len(model.heads) != config.ensemble_size:
        raise TrainingError(
            f"the model has {len(model.heads)} heads, the config {config.ensemble_size}"
        )
    opt = torch.optim.AdamW(
        model.parameters(), lr=config.learning_rate, weight_decay=config.weight_decay
    )
    n = len(data)
    steps = config.epochs * math.ceil(n / config.batch_size)
    sched = torch.optim.lr_scheduler.OneCycleLR(
        opt, max_lr=config.learning_rate, total_steps=max(steps, 1)
    )
    points = torch.from_numpy(data.points)
    features = torch.from_numpy(data.features)
    labels = torch.from_numpy(data.labels)
    targets = torch.from_numpy(data.targets)
    cls_w = torch.from_numpy(_class_weights(data.labels, num_classes).astype(np.float32))
    boot = torch.from_numpy(rng.poisson(1.0, size=(n, config.ensemble_size)).astype(np.float32))
    ce = nn.CrossEntropyLoss(reduction="none")
    result = TrainResult(model)
    for epoch in tqdm(range(config.epochs), desc="train", disable=not progress):
        model.train()
        order = torch.from_numpy(rng.permutation(n))
        total, count = 0.0, 0
        for start in range(0, n, config.batch_size):
            idx = order[start : start + config.batch_size]
            pts = points[idx]
            if config.jitter > 0:
                pts = pts.clone()
                pts[:, :, :3] += config.jitter * torch.randn_like(pts[:, :, :3])
            logits, _, delta = model(pts, features[idx])
            y = labels[idx]
            w = cls_w[y]
            loss_cls = torch.zeros(())
            for m in range(config.ensemble_size):
                wm = w * boot[idx, m]
                loss_cls = loss_cls + (ce(logits[:, m], y) * wm).sum() / wm.sum().clamp(min=1.0)
            loss = loss_cls / config.ensemble_size
            fg = y > 0
            if fg.any():
                d, t = delta[fg], targets[idx][fg]
                loss_box = nn.functional.smooth_l1_loss(d[:, :6], t[:, :6], beta=0.1)
                loss_yaw = (1.0 - torch.cos(2.0 * (d[:, 6] - t[:, 6]))).mean()
                loss = loss + config.box_loss_weight * (loss_box + loss_yaw)
            opt.zero_grad()
            loss.backward()  # type: ignore[no-untyped-call]
            opt.step()
            sched.step()
            total += float(loss.detach()) * idx.shape[0]
            count += idx.shape[0]
        entry = {"epoch": float(epoch + 1), "train_loss": total / count}
        if val is not None and len(val):
            entry["val_accuracy"] = accuracy(model, val)
        result.history.append(entry)
        log.info("epoch %d: %s", epoch + 1, entry)
        if on_epoch is not None:
            on_epoch(entry)
    model.eval()
    return result


@torch.no_grad()
def predict(
    model: CandidateNet, data: CandidateSet, batch_size: int = 1024
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(logits [C, M, K], embedding [C, D], box_delta [C, 7])`` of ``data`` in eval mode."""
    model.eval()
    outs: list[tuple[torch.Tensor, ...]] = []
    for start in range(0, len(data), batch_size):
        sl = slice(start, start + batch_size)
        outs.append(model(torch.from_numpy(data.points[sl]), torch.from_numpy(data.features[sl])))
    if not outs:
        raise TrainingError("no candidates to predict")
    return tuple(torch.cat([o[i] for o in outs]).numpy() for i in range(3))  # type: ignore[return-value]


def accuracy(model: CandidateNet, data: CandidateSet) -> float:
    """Fraction of candidates whose ensemble-mean class equals the label."""
    logits, _, _ = predict(model, data)
    z = logits - logits.max(axis=2, keepdims=True)
    p = np.exp(z)
    p /= p.sum(axis=2, keepdims=True)
    return float((p.mean(axis=1).argmax(axis=1) == data.labels).mean())
