"""Image quality metrics: PSNR and SSIM (whole volume and inside a foreground mask), data consistency.

Conventions (docs/METHOD.md §7): intensities scaled so that the truth's 99.9th percentile is 1 and PSNR uses
a data range of 1; SSIM is scikit-image's with a Gaussian window (σ = 1.5, i.e. 11 voxels wide) and
population statistics, the setting of Wang et al. 2004.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage
from skimage.metrics import structural_similarity

from mrisr.intensity import intensity_scale


def normalise_pair(truth: np.ndarray, pred: np.ndarray, percentile: float = 99.9) -> tuple[np.ndarray, np.ndarray]:
    """Divide both by the truth's percentile, so every method is scored in the same units."""
    peak = intensity_scale(truth, percentile)
    return truth / peak, pred / peak


def psnr(pred: np.ndarray, truth: np.ndarray, mask: np.ndarray | None = None, data_range: float = 1.0) -> float:
    """Peak signal-to-noise ratio in dB, over ``mask`` if given."""
    diff = (np.asarray(pred, np.float64) - np.asarray(truth, np.float64)) ** 2
    mse = float(diff[mask].mean() if mask is not None else diff.mean())
    return float("inf") if mse == 0 else float(10.0 * np.log10(data_range**2 / mse))


def ssim_map(pred: np.ndarray, truth: np.ndarray, data_range: float = 1.0) -> np.ndarray:
    """Voxel-wise SSIM with a Gaussian window of σ 1.5."""
    _, full = structural_similarity(
        np.asarray(truth, np.float64),
        np.asarray(pred, np.float64),
        data_range=data_range,
        gaussian_weights=True,
        sigma=1.5,
        use_sample_covariance=False,
        full=True,
    )
    return full


def ssim(pred: np.ndarray, truth: np.ndarray, mask: np.ndarray | None = None, data_range: float = 1.0) -> float:
    """Mean SSIM, over ``mask`` if given."""
    full = ssim_map(pred, truth, data_range)
    return float(full[mask].mean() if mask is not None else full.mean())


def score(pred: np.ndarray, truth: np.ndarray, mask: np.ndarray) -> dict[str, float]:
    """The four numbers of ``metrics.json``: PSNR and SSIM, whole volume and foreground."""
    full = ssim_map(pred, truth)
    return {
        "psnr": psnr(pred, truth),
        "ssim": float(full.mean()),
        "psnr_fg": psnr(pred, truth, mask),
        "ssim_fg": float(full[mask].mean()),
    }


def local_rms_error(pred: np.ndarray, truth: np.ndarray, sigma: float = 1.5) -> np.ndarray:
    """The error around each voxel: the squared error smoothed by a Gaussian of ``sigma`` voxels, square root.

    The error at one voxel is mostly noise; what a trust map can point at is where the SR is wrong locally."""
    squared = (np.asarray(pred, np.float64) - np.asarray(truth, np.float64)) ** 2
    return np.sqrt(ndimage.gaussian_filter(squared, sigma))


def sparsification_curve(uncertainty: np.ndarray, error: np.ndarray, fractions: np.ndarray) -> np.ndarray:
    """The mean ``error`` of the voxels left after removing each fraction of the most uncertain ones."""
    ranked = np.asarray(error, np.float64)[np.argsort(-np.asarray(uncertainty), kind="stable")]
    left = np.cumsum(ranked[::-1])[::-1]  # the error summed over the voxels from each rank on
    removed = (np.asarray(fractions) * len(ranked)).astype(int)
    return left[removed] / (len(ranked) - removed)


def ause(uncertainty: np.ndarray, error: np.ndarray, steps: int = 100) -> float:
    """Area under the sparsification error: how far removing the most uncertain voxels first falls short of
    removing the most wrong ones first (0 for a map that ranks like the error itself)."""
    fractions = np.arange(steps) / steps
    gap = sparsification_curve(uncertainty, error, fractions) - sparsification_curve(error, error, fractions)
    return float(gap.mean())
