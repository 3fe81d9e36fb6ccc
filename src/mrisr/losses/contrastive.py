"""InfoNCE between feature maps with the same content (PatchNCE, Park et al. 2020, as in CUT).

The paper computes it "between data with the same content, such as f_{s~t~s} to f_s". At each of N
sampled locations the query is ``f_{s~t~s}``; its positive is ``f_s`` at the same location, and the
negatives are ``f_s`` at the other N-1 locations. Negatives come from the same volume by default, as
in CUT: other volumes differ in more than content (contrast, scanner) and would make the task too easy.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn


class ProjectionHead(nn.Module):
    """Linear-ReLU-Linear, then L2 normalisation: feature vectors → unit vectors of ``dim``."""

    def __init__(self, in_channels: int, dim: int = 256) -> None:
        super().__init__()
        self.mlp = nn.Sequential(nn.Linear(in_channels, dim), nn.ReLU(inplace=True), nn.Linear(dim, dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.normalize(self.mlp(x), dim=-1)


def sample_locations(n_voxels: int, n: int, rng: np.random.Generator) -> torch.Tensor:
    """Indices of ``n`` distinct voxels of a map of ``n_voxels`` (all of them if fewer), drawn from ``rng``."""
    return torch.from_numpy(rng.permutation(n_voxels)[: min(n, n_voxels)])


def gather_locations(features: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
    """``(B, C, *spatial)`` → ``(B, N, C)``: the feature vectors at the given flat voxel indices."""
    return features.flatten(2)[:, :, index].transpose(1, 2)


class PatchNCELoss(nn.Module):
    """InfoNCE over matched locations: cross-entropy with the same-location key as the right class.

    Args:
        temperature: τ in ``exp(q·k / τ)``.
        negatives_across_batch: also use the keys of the other batch items as negatives.
    """

    def __init__(self, temperature: float = 0.07, negatives_across_batch: bool = False) -> None:
        super().__init__()
        self.temperature = temperature
        self.negatives_across_batch = negatives_across_batch

    def forward(self, queries: torch.Tensor, keys: torch.Tensor) -> torch.Tensor:
        """``queries``, ``keys``: ``(B, N, C)`` unit vectors; row ``i`` of both is the same location."""
        if queries.shape != keys.shape or queries.ndim != 3:
            raise ValueError(f"queries, keys must be equal (B, N, C), got {tuple(queries.shape)}, {tuple(keys.shape)}")
        keys = keys.detach()  # as in CUT: the keys are targets, gradients flow through the queries
        b, n, c = queries.shape
        if self.negatives_across_batch:
            queries, keys = queries.reshape(1, b * n, c), keys.reshape(1, b * n, c)
        logits = torch.bmm(queries, keys.transpose(1, 2)) / self.temperature
        target = torch.arange(logits.shape[1], device=logits.device).expand(logits.shape[0], -1)
        return F.cross_entropy(logits.flatten(0, 1), target.flatten())
