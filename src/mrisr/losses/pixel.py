"""Pixel loss between images with the same content."""

import torch


def charbonnier(pred: torch.Tensor, target: torch.Tensor, eps: float = 1e-3) -> torch.Tensor:
    """Mean of ``sqrt(d² + eps²)``: L1-like, but smooth at zero."""
    return torch.sqrt((pred - target) ** 2 + eps**2).mean()
