"""Patch discriminator for LR images and for feature maps (least-squares GAN)."""

from __future__ import annotations

import torch
from torch import nn


class PatchDiscriminator(nn.Module):
    """Strided 3D convs → a map of real/fake scores, one per receptive-field patch.

    Args:
        in_channels: 1 for images, the feature width for feature maps.
        width: channels of the first layer, doubled per stride.
        n_strided: number of stride-2 layers (each halves the patch side).
        standardise: score each input after removing its mean and dividing by its std, so that the
            discriminator judges structure (blur, noise) rather than the global contrast, which differs
            between the HR source and the LR target domains and which a degradation should not change.
    """

    def __init__(self, in_channels: int, width: int = 32, n_strided: int = 2, standardise: bool = False) -> None:
        super().__init__()
        self.standardise = standardise
        layers: list[nn.Module] = [nn.Conv3d(in_channels, width, 3, padding=1), nn.LeakyReLU(0.2, True)]
        channels = width
        for _ in range(n_strided):
            layers += [
                nn.Conv3d(channels, channels * 2, 4, stride=2, padding=1),
                nn.InstanceNorm3d(channels * 2, affine=True),
                nn.LeakyReLU(0.2, True),
            ]
            channels *= 2
        layers.append(nn.Conv3d(channels, 1, 3, padding=1))
        self.net = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.standardise:
            dims = tuple(range(1, x.ndim))
            x = (x - x.mean(dims, keepdim=True)) / (x.std(dims, keepdim=True) + 1e-3)
        return self.net(x)
