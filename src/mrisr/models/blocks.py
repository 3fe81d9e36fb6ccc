"""Small 3D building blocks shared by the generators."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TypeVar

import torch
from torch import nn

Conv = TypeVar("Conv", nn.Conv2d, nn.Conv3d)


class ResidualBlock(nn.Module):
    """conv-LeakyReLU-conv with an identity skip; no normalisation (it hurts intensity fidelity in SR).

    3D by default; ``dims=2`` for the planar model's 2D network.
    """

    def __init__(self, channels: int, dims: int = 3) -> None:
        super().__init__()
        conv = {2: nn.Conv2d, 3: nn.Conv3d}[dims]
        self.body = nn.Sequential(
            conv(channels, channels, 3, padding=1),
            nn.LeakyReLU(0.2, inplace=True),
            conv(channels, channels, 3, padding=1),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


def pixel_shuffle_3d(x: torch.Tensor, scale: Sequence[int]) -> torch.Tensor:
    """``(B, C*fx*fy*fz, D, H, W) → (B, C, D*fx, H*fy, W*fz)`` with a factor per axis.

    Written here because ``torch.nn.PixelShuffle`` is 2D-only and MONAI's ``pixelshuffle`` takes one
    factor for all axes; thick-slice SR (1, 1, 4) needs a per-axis scale.
    """
    fx, fy, fz = scale
    b, c, d, h, w = x.shape
    out_c = c // (fx * fy * fz)
    x = x.reshape(b, out_c, fx, fy, fz, d, h, w)
    x = x.permute(0, 1, 5, 2, 6, 3, 7, 4)
    return x.reshape(b, out_c, d * fx, h * fy, w * fz)


def zero_init(conv: Conv) -> Conv:
    """Zero a residual head so that training starts from the identity/interpolation."""
    nn.init.zeros_(conv.weight)
    nn.init.zeros_(conv.bias)
    return conv
