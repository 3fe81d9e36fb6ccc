"""Rician noise: the one forward model (NumPy or torch) and its estimate from a magnitude image's air."""

from __future__ import annotations

from typing import TypeVar

import numpy as np
from scipy import optimize, special

Array = TypeVar("Array")


def rician(signal: Array, noise_real: Array, noise_imag: Array, eps: float = 0.0) -> Array:
    """Magnitude of ``signal + noise_real + i noise_imag``: a real image seen through complex Gaussian noise.

    Works on NumPy arrays and torch tensors alike; the noise fields carry their standard deviation. ``eps``
    keeps the gradient finite where the magnitude is 0 (the learned degradation passes 1e-12).
    """
    return ((signal + noise_real) ** 2 + noise_imag**2 + eps) ** 0.5


def air_corners(image: np.ndarray, corner_fraction: float = 0.1) -> list[np.ndarray]:
    """The corner blocks of a volume that look like air (mean below 10% of the 99.9th percentile)."""
    image = np.asarray(image, dtype=np.float64)
    size = [max(2, int(round(n * corner_fraction))) for n in image.shape]
    bright = np.percentile(image, 99.9)
    blocks = []
    for corner in np.ndindex(2, 2, 2):
        index = tuple(slice(0, s) if c == 0 else slice(n - s, n) for c, s, n in zip(corner, size, image.shape))
        if image[index].mean() < 0.1 * bright:
            blocks.append(image[index])
    return blocks


def air_voxels(image: np.ndarray, corner_fraction: float = 0.1) -> int:
    """How many voxels :func:`estimate_noise_sigma` measures the noise on: 0 when it falls back to the signal."""
    blocks = air_corners(image, corner_fraction)
    return sum(block.size for block in blocks) if len(blocks) >= 2 else 0


RAYLEIGH_STD = float(np.sqrt(2 - np.pi / 2))
"""The std of a Rayleigh variable of scale 1: what Rician noise of σ 1 spreads by in pure air."""

AIR_TOLERANCE = 1.25
"""A corner is pure air when its second moment reads at most this many times the σ its spread gives."""


def rayleigh_sigma(block: np.ndarray) -> float:
    """σ of pure air from its magnitudes: they are Rayleigh, ``E[x²] = 2σ²``."""
    return float(np.sqrt(np.mean(np.square(block, dtype=np.float64)) / 2))


def rician_variance_factor(snr: float) -> float:
    """Var(magnitude) / σ² of Rician noise at signal-to-noise ratio ``snr`` (Koay & Basser 2006, ξ(θ)):
    ``2 − π/2`` in air, towards 1 where the signal dominates."""
    q = snr**2 / 4
    bessel = (2 + snr**2) * special.i0e(q) + snr**2 * special.i1e(q)  # exp(−θ²/4) times the Bessel sum
    return float(2 + snr**2 - np.pi / 8 * bessel**2)


def rician_sigma(mean: float, std: float) -> float:
    """The σ of Rician samples of this ``mean`` and ``std``: Koay & Basser's fixed point
    ``θ² = ξ(θ)(1 + (mean/std)²) − 2`` solved for the SNR θ, then ``σ = std / sqrt(ξ(θ))``. Ill-conditioned
    near pure air (θ ≈ 0), where a small error in the ratio moves θ far."""
    ratio = mean / std

    def gap(snr: float) -> float:
        return rician_variance_factor(snr) * (1 + ratio**2) - 2 - snr**2

    snr = optimize.brentq(gap, 0.0, ratio + 1.0) if gap(0.0) > 0 else 0.0
    return std / np.sqrt(rician_variance_factor(snr))


def white_std(block: np.ndarray) -> float:
    """The std of the white noise in ``block``, from its second differences along the axis where they are
    least (``x₀ − 2x₁ + x₂`` has variance 6σ²; a smooth background cancels in it); infinite when no axis
    has three voxels."""
    stds = [np.sqrt(np.mean(np.diff(block, n=2, axis=a) ** 2) / 6) for a in range(3) if block.shape[a] > 2]
    return float(min(stds, default=np.inf))


def air_sigma(block: np.ndarray) -> float:
    """Rician σ of one :func:`air_corners` block. Pure air is :func:`rayleigh_sigma`; a block
    whose second moment is well above what its spread implies holds a smooth background (a template's,
    a ghost's), which that moment would count as noise, so its σ is :func:`rician_sigma` of its mean and
    its :func:`white_std`."""
    moment = rayleigh_sigma(block)
    spread = white_std(block)
    if moment <= AIR_TOLERANCE * spread / RAYLEIGH_STD:
        return moment
    return rician_sigma(float(block.mean()), spread)


def estimate_noise_sigma(image: np.ndarray, corner_fraction: float = 0.1) -> float:
    """Rician noise sigma of a magnitude image, from the air if there is some, else from the signal.

    In air it is :func:`air_sigma` over the :func:`air_corners` (the median over them ignores one with a
    bit of head). A crop without air falls back to Donoho's ``median(|d|) / 0.6745`` over the finest 3D
    Haar detail ``d`` in the bright voxels, where Rician noise is nearly Gaussian.
    """
    image = np.asarray(image, dtype=np.float64)
    estimates = [air_sigma(block) for block in air_corners(image, corner_fraction)]
    if len(estimates) >= 2:
        return float(np.median(estimates))
    bright = np.percentile(image, 99.9)
    cube = image[tuple(slice(0, n - n % 2) for n in image.shape)]
    blocks = cube.reshape(cube.shape[0] // 2, 2, cube.shape[1] // 2, 2, cube.shape[2] // 2, 2)
    signs = np.array([-1.0, 1.0])
    detail = np.einsum("aibjck,i,j,k->abc", blocks, signs, signs, signs) / np.sqrt(8.0)
    mean = blocks.mean(axis=(1, 3, 5))
    return float(np.median(np.abs(detail[mean > 0.1 * bright])) / 0.6745)


def top_up(kept: float) -> float:
    """The std, as a share of the scan's noise, that fresh noise must add back to a blurred patch that kept
    the share ``kept`` of it: ``sqrt(1 - kept²)``, so that the patch is as noisy as the scan."""
    return float(np.sqrt(max(0.0, 1 - kept**2)))


def topped_up(lr: np.ndarray, sigma: float, kept: float, rng: np.random.Generator) -> np.ndarray:
    """``lr`` with Rician noise bringing its std back to ``sigma``: the blur kept the share ``kept`` of it."""
    extra = sigma * top_up(kept)
    if extra == 0:
        return lr.astype(np.float32)
    real, imag = rng.standard_normal((2, *lr.shape)) * extra
    return rician(lr, real, imag).astype(np.float32)
