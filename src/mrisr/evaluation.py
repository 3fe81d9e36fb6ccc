"""Score super-resolved volumes against a ground truth, next to interpolation baselines on the same grid."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from scipy import ndimage

from mrisr import MRISRError
from mrisr.data import foreground_mask, intensity_scale
from mrisr.degradation import gaussian_downsample, kspace_downsample
from mrisr.io import Volume, atomic_write, refine_affine
from mrisr.metrics import psnr, score

BASELINE_ORDERS = {"trilinear": 1, "cubic": 3}


def interpolate(lr: np.ndarray, factors: Sequence[int], order: int) -> np.ndarray:
    """Spline interpolation onto the refined grid with voxel edges aligned (``grid_mode=True``).

    This is the geometry of :func:`mrisr.io.refine_affine`, so baselines and networks share one grid.
    """
    return ndimage.zoom(np.asarray(lr, np.float32), tuple(factors), order=order, grid_mode=True, mode="nearest")


def grid_factors(lr: Volume, truth: Volume) -> tuple[int, int, int]:
    """The integer per-axis factors that map ``lr``'s grid onto ``truth``'s, or a clear error."""
    ratio = np.asarray(truth.data.shape) / np.asarray(lr.data.shape)
    factors = tuple(int(round(r)) for r in ratio)
    if np.any(np.abs(ratio - factors) > 1e-6) or min(factors) < 1:
        raise MRISRError(f"{lr.path}: shape {lr.data.shape} is not an integer fraction of {truth.data.shape}")
    if not np.allclose(refine_affine(lr.affine, factors), truth.affine, atol=1e-3):
        raise MRISRError(f"{lr.path}: its grid refined by {factors} does not match the truth's affine ({truth.path})")
    return factors


def consistency(sr: np.ndarray, lr: np.ndarray, factors: Sequence[int], kind: str) -> float:
    """Data consistency: PSNR of degrade(SR) against the LR (noise-free forward model), in dB."""
    forward = kspace_downsample if kind == "kspace" else gaussian_downsample
    return psnr(forward(sr, factors), lr)


def evaluate(
    truth: Volume,
    predictions: dict[str, np.ndarray],
    *,
    lr: Volume | None = None,
    mask: np.ndarray | None = None,
    degradation: str = "gaussian",
    percentile: float = 99.9,
    baselines: bool = True,
) -> dict[str, dict[str, float]]:
    """Metrics of every prediction, and of the baselines when ``lr`` is given, in truth-normalised units.

    With ``lr``, every method also gets its data consistency; ``baselines=False`` skips interpolation.
    """
    scale = intensity_scale(truth.data, percentile)
    gt = truth.data / scale
    mask = foreground_mask(gt) if mask is None else mask.astype(bool)
    methods = dict(predictions)
    factors = None
    if lr is not None:
        factors = grid_factors(lr, truth)
        for name, order in BASELINE_ORDERS.items() if baselines else ():
            methods.setdefault(name, interpolate(lr.data, factors, order))
    results: dict[str, dict[str, float]] = {}
    for name, pred in methods.items():
        if pred.shape != gt.shape:
            raise MRISRError(f"{name}: shape {pred.shape} differs from the truth's {gt.shape}")
        results[name] = score(pred / scale, gt, mask)
        if factors is not None:
            results[name]["consistency_psnr"] = consistency(pred / scale, lr.data / scale, factors, degradation)
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
