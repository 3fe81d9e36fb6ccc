"""Least-squares GAN losses (Mao et al. 2017): stable with small patch discriminators."""

import torch


def lsgan_generator_loss(fake_scores: torch.Tensor) -> torch.Tensor:
    """The generator wants its fakes scored as real (1)."""
    return ((fake_scores - 1.0) ** 2).mean()


def lsgan_discriminator_loss(real_scores: torch.Tensor, fake_scores: torch.Tensor) -> torch.Tensor:
    """Real → 1, fake → 0."""
    return 0.5 * (((real_scores - 1.0) ** 2).mean() + (fake_scores**2).mean())
