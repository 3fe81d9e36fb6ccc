"""The per-voxel spread of the SR over test-time passes (flipped inputs with their noise drawn again): the
uncertainty map that the learned one (:mod:`mrisr.trust.uncertainty`) replaced, kept to compare with it
(``benchmarks/trust.py``), and the flips both it and the flip ensemble use."""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F

FLIPS: tuple[tuple[int, ...], ...] = ((), (0,), (1,), (0, 1), (2,), (0, 2), (1, 2), (0, 1, 2))
"""Spatial axes flipped in each test-time pass; the first pass is the plain SR."""


POOL = 3
"""The spread of a few passes is a noisy estimate: its variance is pooled over POOL³ SR voxels (the ranking of
the errors it gives: ``benchmarks/trust.py``, results/REPORT.md "Trust maps")."""


def local_noise_sigma(x: torch.Tensor) -> torch.Tensor:
    """Per-voxel noise std of ``(B, 1, D, H, W)``: the RMS over 7³ of the residual from the 3³ mean, corrected
    for the residual's variance gain on white noise. Edges count as noise too: detail there is uncertain.

    An edge-blind estimate (the smallest per-axis RMS of second differences) was tried and ranked the
    errors worse on both panels of results/REPORT.md "Trust maps": they are largest at edges."""
    mean = F.avg_pool3d(F.pad(x, (1,) * 6, mode="replicate"), 3, stride=1)
    power = F.avg_pool3d(F.pad((x - mean) ** 2, (3,) * 6, mode="replicate"), 7, stride=1)
    return (power / (1 - 1 / 27)).sqrt()


def uncertainty_passes(
    predict: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor, passes: int, seed: int = 0
) -> tuple[torch.Tensor, torch.Tensor]:
    """The plain prediction of ``x`` (``(B, C, D, H, W)``) and the per-voxel standard deviation over ``passes``
    predictions: the plain one, then the flips of :data:`FLIPS`, each of ``x`` with its noise drawn again
    (Gaussian, :func:`local_noise_sigma`). The spread is what a rescan, or a network choice the data do not
    constrain, would change; its variance is pooled over :data:`POOL`³ voxels. Accumulated one pass at a
    time (Welford) to bound memory; seeded, so repeatable.
    """
    if not 1 <= passes <= len(FLIPS):
        raise ValueError(f"passes must be 1..{len(FLIPS)}, got {passes}")
    plain = predict(x)
    if passes == 1:
        return plain, torch.zeros_like(plain)
    generator = torch.Generator(device=x.device).manual_seed(seed)
    sigma = local_noise_sigma(x)
    mean, m2 = plain.clone(), torch.zeros_like(plain)
    for k, axes in enumerate(FLIPS[1:passes], start=2):
        dims = [2 + a for a in axes]
        noisy = x + sigma * torch.randn(x.shape, generator=generator, device=x.device, dtype=x.dtype)
        y = predict(noisy.flip(dims)).flip(dims)
        delta = y - mean
        mean += delta / k
        m2 += delta * (y - mean)
    pad = (POOL // 2,) * 6
    return plain, F.avg_pool3d(F.pad(m2 / passes, pad, mode="replicate"), POOL, stride=1).sqrt()
