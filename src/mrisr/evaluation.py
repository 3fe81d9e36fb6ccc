"""Score super-resolved volumes against a ground truth, next to interpolation baselines on the same grid."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from scipy import ndimage

from mrisr import MRISRError
from mrisr.acquisition.forward import acquire, default_fwhm, kspace_downsample, tidy_factors
from mrisr.intensity import foreground_mask, intensity_scale
from mrisr.io import Volume, atomic_write, refine_affine
from mrisr.metrics import psnr, score

BASELINE_ORDERS = {"trilinear": 1, "cubic": 3}


def interpolate(lr: np.ndarray, scale: Sequence[float], order: int) -> np.ndarray:
    """Spline interpolation onto the refined grid with voxel edges aligned (``grid_mode=True``).

    This is the geometry of :func:`mrisr.io.refine_affine`, so baselines and networks share one grid.
    """
    return ndimage.zoom(np.asarray(lr, np.float32), tuple(scale), order=order, grid_mode=True, mode="nearest")


def grid_scale(lr: Volume, truth: Volume) -> tuple[float, ...]:
    """The per-axis scale (an integer where it is one) that maps ``lr``'s grid onto ``truth``'s over the same
    field of view, or a clear error."""
    scale = tidy_factors(np.asarray(truth.data.shape) / np.asarray(lr.data.shape))
    if min(scale) < 1:
        raise MRISRError(f"{lr.path}: shape {lr.data.shape} is finer than the truth's {truth.data.shape}")
    if not np.allclose(refine_affine(lr.affine, scale), truth.affine, atol=1e-3):
        raise MRISRError(f"{lr.path}: its grid refined by {scale} does not match the truth's affine ({truth.path})")
    return scale


def baseline_volumes(lr: Volume, truth: Volume) -> dict[str, np.ndarray]:
    """The interpolation baselines of :data:`BASELINE_ORDERS`: ``lr`` interpolated onto the truth's grid."""
    scale = grid_scale(lr, truth)
    return {name: interpolate(lr.data, scale, order) for name, order in BASELINE_ORDERS.items()}


def consistency(
    sr: np.ndarray, lr: np.ndarray, scale: Sequence[float], kind: str, fwhm: Sequence[float] | None = None
) -> float:
    """Data consistency: PSNR of degrade(SR) against the LR (noise-free forward model), in dB. ``fwhm`` (HR
    voxels) is the Gaussian slice profile, by default as thick as the spacing."""
    if kind == "kspace":
        return psnr(kspace_downsample(sr, scale), lr)
    fwhm = default_fwhm(scale) if fwhm is None else fwhm
    return psnr(acquire(sr, scale, fwhm, lr.shape), lr)


def evaluate(
    truth: Volume,
    predictions: dict[str, np.ndarray],
    *,
    lr: Volume | None = None,
    mask: np.ndarray | None = None,
    degradation: str = "gaussian",
    percentile: float = 99.9,
    baselines: bool = True,
    fwhm: Sequence[float] | None = None,
) -> dict[str, dict[str, float]]:
    """Metrics of every prediction, and of the baselines when ``lr`` is given, in truth-normalised units.

    With ``lr``, every method also gets its data consistency (through the Gaussian slice profile ``fwhm``, HR
    voxels, by default as thick as the spacing); ``baselines=False`` skips interpolation.
    """
    peak = intensity_scale(truth.data, percentile)
    gt = truth.data / peak
    mask = foreground_mask(gt) if mask is None else mask.astype(bool)
    methods = dict(predictions)
    scale = None
    if lr is not None:
        scale = grid_scale(lr, truth)
        methods = {**baseline_volumes(lr, truth), **methods} if baselines else methods
    results: dict[str, dict[str, float]] = {}
    for name, pred in methods.items():
        if pred.shape != gt.shape:
            raise MRISRError(f"{name}: shape {pred.shape} differs from the truth's {gt.shape}")
        results[name] = score(pred / peak, gt, mask)
        if scale is not None:
            results[name]["consistency_psnr"] = consistency(pred / peak, lr.data / peak, scale, degradation, fwhm)
    return results


def format_table(results: dict[str, dict[str, float]]) -> str:
    """A plain-text table, best PSNR first."""
    keys = ["psnr", "ssim", "psnr_fg", "ssim_fg", "consistency_psnr"]
    keys = [k for k in keys if any(k in r for r in results.values())]
    header = f"{'method':<12}" + "".join(f"{k:>18}" for k in keys)
    rows = [header, "-" * len(header)]
    for name, r in sorted(results.items(), key=lambda item: -item[1]["psnr"]):
        rows.append(f"{name:<12}" + "".join(f"{r[k]:>18.4f}" for k in keys))
    return "\n".join(rows)


def write_metrics(path: str | Path, results: dict[str, dict[str, float]]) -> None:
    atomic_write(path, lambda tmp: Path(tmp).write_text(json.dumps(results, indent=2) + "\n"))
