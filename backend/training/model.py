"""The candidate network (PyTorch): a small PointNet trunk, M classifier heads, one box head.

Per point a shared MLP (4 -> 64 -> 128), max-pooled over the P points, joined with the candidate
features and reduced to the D-dimensional embedding (the trunk's output, before any head). Each of
the M ensemble heads (own initialisation, own dropout, trained on its own bootstrap weights)
maps the embedding to K logits; the outputs are stacked to [N, M, K] so that one ONNX graph
carries the whole ensemble. The box head maps the embedding to the 7 refinement deltas.
"""

from __future__ import annotations

import torch
from torch import nn


class CandidateNet(nn.Module):
    """Inputs ``points`` [N, P, 4], ``features`` [N, F]; outputs ``(logits [N, M, K],
    embedding [N, D], box_delta [N, 7])``."""

    def __init__(
        self,
        *,
        num_classes: int,
        ensemble_size: int,
        embedding_dim: int,
        num_features: int,
        width: int = 128,
        head_dropout: float = 0.2,
    ) -> None:
        super().__init__()
        self.point_mlp = nn.Sequential(
            nn.Linear(4, width // 2), nn.ReLU(), nn.Linear(width // 2, width), nn.ReLU()
        )
        self.trunk = nn.Sequential(
            nn.Linear(width + num_features, width), nn.ReLU(), nn.Linear(width, embedding_dim)
        )
        self.heads = nn.ModuleList(
            nn.Sequential(
                nn.ReLU(),
                nn.Dropout(head_dropout),
                nn.Linear(embedding_dim, 64),
                nn.ReLU(),
                nn.Linear(64, num_classes),
            )
            for _ in range(ensemble_size)
        )
        self.box_head = nn.Sequential(
            nn.ReLU(), nn.Linear(embedding_dim, 64), nn.ReLU(), nn.Linear(64, 7)
        )

    def forward(
        self, points: torch.Tensor, features: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        per_point = self.point_mlp(points)  # [N, P, W]
        pooled = per_point.max(dim=1).values  # [N, W]
        embedding = self.trunk(torch.cat([pooled, features], dim=1))  # [N, D]
        logits = torch.stack([head(embedding) for head in self.heads], dim=1)  # [N, M, K]
        return logits, embedding, self.box_head(embedding)
