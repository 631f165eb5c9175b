"""The scoring quantities vectorised the natural way in numpy and in PyTorch: the baselines the
numba kernels are measured against (``bench_scoring``, ``bench_agent_path``). Same inputs and
outputs as ``agent.scoring._cpu.CpuBackend``'s methods.
"""

from __future__ import annotations

import numpy as np
import torch
from numpy.typing import NDArray

from agent.scoring._model import ScoreModel


def numpy_logit_scores(logits: NDArray[np.float32]) -> NDArray[np.float64]:
    lg = logits.astype(np.float64)
    mx = lg.max(axis=2, keepdims=True)
    logp = lg - mx - np.log(np.exp(lg - mx).sum(axis=2, keepdims=True))
    p = np.exp(logp)
    h_members = -(p * logp).sum(axis=2).mean(axis=1)
    pbar = p.mean(axis=1)
    h_bar = -(pbar * np.log(pbar)).sum(axis=1)
    mean_logits = lg.mean(axis=1)
    mm = mean_logits.max(axis=1, keepdims=True)
    energy = -(mm[:, 0] + np.log(np.exp(mean_logits - mm).sum(axis=1)))
    return np.stack([1 - pbar.max(axis=1), h_bar, np.maximum(h_bar - h_members, 0), energy], 1)


def numpy_mahalanobis(emb: NDArray[np.float32], model: ScoreModel) -> NDArray[np.float64]:
    z = emb.astype(np.float64) @ model.whiten.T
    d2 = ((z[:, None, :] - model.whitened_means[None, :, :]) ** 2).sum(axis=2)
    out: NDArray[np.float64] = np.sqrt(d2.min(axis=1))
    return out


def numpy_knn(unit: NDArray[np.float32], bank: NDArray[np.float32], k: int) -> NDArray[np.float32]:
    sims = unit @ bank.T  # float32 sgemm through numpy's BLAS
    return -np.partition(-sims, k - 1, axis=1)[:, k - 1]


def torch_logit_scores(logits: torch.Tensor) -> torch.Tensor:
    lg = logits.double()
    logp = torch.log_softmax(lg, dim=2)
    p = logp.exp()
    h_members = -(p * logp).sum(2).mean(1)
    pbar = p.mean(1)
    h_bar = -(pbar * pbar.log()).sum(1)
    energy = -torch.logsumexp(lg.mean(1), dim=1)
    return torch.stack([1 - pbar.max(1).values, h_bar, (h_bar - h_members).clamp_min(0), energy], 1)


def torch_mahalanobis(
    emb: torch.Tensor, whiten: torch.Tensor, wmeans: torch.Tensor
) -> torch.Tensor:
    z = emb.double() @ whiten.T
    return torch.cdist(z, wmeans).min(dim=1).values


def torch_knn(unit: torch.Tensor, bank: torch.Tensor, k: int) -> torch.Tensor:
    return torch.topk(unit @ bank.T, k, dim=1).values[:, k - 1]
