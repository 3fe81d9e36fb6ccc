"""Rician noise: the one forward model (NumPy or torch) and its estimate from a magnitude image's air."""

from __future__ import annotations

from typing import TypeVar

import numpy as np

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


def estimate_noise_sigma(image: np.ndarray, corner_fraction: float = 0.1) -> float:
    """Rician noise sigma of a magnitude image, from the air if there is some, else from the signal.

    In air the magnitude is Rayleigh: ``sigma = sqrt(E[x^2] / 2)`` over the :func:`air_corners` (the
    median over them ignores one with a bit of head). A crop without air falls back to Donoho's
    ``median(|d|) / 0.6745`` over the finest 3D Haar detail ``d`` in the bright voxels, where Rician
    noise is nearly Gaussian.
    """
    image = np.asarray(image, dtype=np.float64)
    estimates = [np.sqrt(np.mean(block**2) / 2.0) for block in air_corners(image, corner_fraction)]
    if len(estimates) >= 2:
        return float(np.median(estimates))
    bright = np.percentile(image, 99.9)
    cube = image[tuple(slice(0, n - n % 2) for n in image.shape)]
    blocks = cube.reshape(cube.shape[0] // 2, 2, cube.shape[1] // 2, 2, cube.shape[2] // 2, 2)
    signs = np.array([-1.0, 1.0])
    detail = np.einsum("aibjck,i,j,k->abc", blocks, signs, signs, signs) / np.sqrt(8.0)
    mean = blocks.mean(axis=(1, 3, 5))
    return float(np.median(np.abs(detail[mean > 0.1 * bright])) / 0.6745)
