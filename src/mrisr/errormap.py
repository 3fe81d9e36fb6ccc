"""Where the SR is wrong, learned from the scan itself: a per-voxel error map fitted at inference time.

A scan holds pairs with a known answer. For thick slices, its in-plane axes are sharp: blurred and decimated
along one of them like the slice axis (with the model's own slice profile, noise topped back up to the
scan's level), the scan is an input whose truth is the scan (:mod:`mrisr.planes` makes the planar model's
training pairs the same way). For a scan coarse along every axis, the scan degraded once more by the
model's profile is (the internal pairs of the 3D model). The same network super-resolves these pairs, and
their errors teach how its error depends on what can be seen without a truth (:func:`error_features`: the
SR's edges, how far it moved from cubic interpolation, the input's local noise, the distance from the
slice centres). A log-linear model of the local error on those features (:func:`fit_log_linear`) is
fitted on half of the pairs' head voxels and scaled by split-conformal calibration on the other half
(:func:`conformal_scale`), so that SR ± 2u covers 95% of |SR − truth| without the truth.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from scipy import ndimage

from mrisr.acquisition.degradation import blur_decimate, is_integer_factor, white_noise_kept
from mrisr.acquisition.noise import estimate_noise_sigma, rician
from mrisr.data import foreground_mask
from mrisr.evaluation import interpolate
from mrisr.planes import acquire_along_last, noise_kept
from mrisr.trust import local_noise_sigma, nearest_index

FEATURES = ("edges", "detail", "noise", "phase")
"""The per-voxel features of :func:`error_features`, in the columns' order."""

SMOOTH = 1.5
"""Gaussian σ (voxels of the real SR) of the features and of the local error they predict."""

COVERAGE = 0.95
"""The share of |SR − truth| that SR ± 2u covers on the calibration half (a Gaussian's ±2σ)."""

BLOCK = 8
"""Pair voxels are split into fitting and calibration halves by blocks of BLOCK³, not voxel by voxel:
neighbouring errors are alike, so a voxel split would calibrate on voxels the fit has all but seen."""


@dataclass(frozen=True)
class SelfPair:
    """An input made from the scan, its truth (the scan, cropped), the factor per axis between them, the
    voxel spacing of the truth's grid in SR voxels (the planar pair keeps the scan's thick slices), and the
    network that super-resolves it (the planar one turned to the pair's coarse axis)."""

    lr: np.ndarray
    truth: np.ndarray
    scale: tuple[float, float, float]
    spacing: tuple[float, float, float]
    model: torch.nn.Module


def crop_to_factor(x: np.ndarray, scale: Sequence[float]) -> np.ndarray:
    """``x`` cropped to a whole number of blocks of each integer factor."""
    whole = [int(round(f)) if is_integer_factor(f) else 1 for f in scale]
    return x[tuple(slice(0, (n // f) * f) for n, f in zip(x.shape, whole))]


def topped_up(lr: np.ndarray, sigma: float, kept: float, rng: np.random.Generator) -> np.ndarray:
    """``lr`` with Rician noise bringing its std back to ``sigma``: the blur kept the share ``kept`` of it."""
    extra = sigma * float(np.sqrt(max(0.0, 1 - kept**2)))
    if extra == 0:
        return lr.astype(np.float32)
    real, imag = rng.standard_normal((2, *lr.shape)) * extra
    return rician(lr, real, imag).astype(np.float32)


def planar_pairs(
    model: torch.nn.Module, scan: np.ndarray, fwhm: float, sigma: float, rng: np.random.Generator
) -> list[SelfPair]:
    """The scan blurred and decimated along each in-plane axis like its slice axis (planar model)."""
    axis = model.slice_axis
    factor = model.scale[axis]
    pairs = []
    for a in (x for x in range(3) if x != axis):
        scale = [1.0, 1.0, 1.0]
        scale[a] = factor
        truth = crop_to_factor(scan, scale)
        lr = np.moveaxis(acquire_along_last(np.moveaxis(truth, a, -1), factor, fwhm), -1, a)
        truth = np.take(truth, np.arange(round(lr.shape[a] * factor)), axis=a)  # the slices' field of view
        spacing = [1.0, 1.0, 1.0]
        spacing[axis] = float(factor)
        lr = topped_up(lr, sigma, noise_kept(factor, fwhm), rng)
        pairs.append(SelfPair(lr, truth.astype(np.float32), tuple(scale), tuple(spacing), model.oriented(a)))
    return pairs


def internal_pair(
    model: torch.nn.Module, scan: np.ndarray, fwhm: Sequence[float], shape: str, sigma: float, rng: np.random.Generator
) -> SelfPair:
    """The scan degraded once more by the model's slice profile (3D model, whole factors)."""
    scale = tuple(int(f) for f in model.scale)
    truth = crop_to_factor(scan, scale)
    x = torch.from_numpy(np.ascontiguousarray(truth, dtype=np.float32))[None, None]
    lr = blur_decimate(x, scale, torch.tensor(fwhm, dtype=torch.float32), shape)[0, 0].numpy()
    kept = white_noise_kept(scale, fwhm, shape)
    return SelfPair(topped_up(lr, sigma, kept, rng), truth.astype(np.float32), scale, (1.0, 1.0, 1.0), model)


def smooth(x: np.ndarray, spacing: Sequence[float], sigma: float = SMOOTH) -> np.ndarray:
    """Gaussian smoothing by ``sigma`` SR voxels on a grid of ``spacing`` SR voxels per voxel."""
    return ndimage.gaussian_filter(x, [sigma / s for s in spacing])


def gradient_magnitude(x: np.ndarray, spacing: Sequence[float], sigma: float = 1.0) -> np.ndarray:
    """|∇x| per SR voxel after Gaussian smoothing by ``sigma`` SR voxels (an edge detector)."""
    total = np.zeros(x.shape, np.float32)
    for axis, s in enumerate(spacing):
        order = [0, 0, 0]
        order[axis] = 1
        total += (ndimage.gaussian_filter(x, [sigma / t for t in spacing], order=order) / s) ** 2
    return np.sqrt(total)


def slice_phase(shape: Sequence[int], scale: Sequence[float]) -> np.ndarray:
    """Each SR voxel's distance from the nearest input sample centre, in input voxels (0 to 0.5), summed over
    the coarse axes: detail between slices is guessed, on them it is measured."""
    total = np.zeros(shape, np.float32)
    for axis, (n, f) in enumerate(zip(shape, scale)):
        if f > 1:
            position = (np.arange(n) + 0.5) / f - 0.5
            view = [1, 1, 1]
            view[axis] = n
            total = total + np.abs(position - np.round(position)).astype(np.float32).reshape(view)
    return total


def error_features(
    sr: np.ndarray, lr: np.ndarray, scale: Sequence[float], spacing: Sequence[float], peak: float
) -> np.ndarray:
    """The columns of :data:`FEATURES` per voxel of ``sr`` (``(N, 4)``, in units of ``peak``): the SR's
    smoothed gradient magnitude, its smoothed RMS departure from cubic interpolation of ``lr``, the input's
    local noise level (:func:`mrisr.trust.local_noise_sigma`, nearest on the SR grid) and :func:`slice_phase`."""
    sr = np.asarray(sr, np.float32) / peak
    lr = np.asarray(lr, np.float32) / peak
    edges = smooth(gradient_magnitude(sr, spacing), spacing)
    detail = np.sqrt(smooth((sr - interpolate(lr, scale, 3)) ** 2, spacing))
    noise = local_noise_sigma(torch.from_numpy(lr)[None, None])[0, 0].numpy()
    index = np.ix_(*[nearest_index(m, n) for m, n in zip(sr.shape, lr.shape)])
    phase = slice_phase(sr.shape, scale)
    return np.stack([edges, detail, noise[index], phase], axis=-1).reshape(-1, len(FEATURES))


def design(features: np.ndarray) -> np.ndarray:
    """The regressors of the log-linear model: 1, the logs of the positive features (floored), the phase."""
    logs = np.log(np.maximum(features[:, :3], 1e-4))
    return np.column_stack([np.ones(len(features)), logs, features[:, 3]])


def fit_log_linear(features: np.ndarray, error: np.ndarray) -> np.ndarray:
    """Least-squares weights of log(error) on :func:`design` (constant columns get weight 0)."""
    x = design(features)
    varies = np.r_[True, x[:, 1:].std(axis=0) > 1e-6]
    weights = np.zeros(x.shape[1])
    weights[varies] = np.linalg.lstsq(x[:, varies], np.log(np.maximum(error, 1e-6)), rcond=None)[0]
    return weights


def predict(features: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """The error predicted by :func:`fit_log_linear`'s ``weights``."""
    return np.exp(design(features) @ weights)


def conformal_scale(predicted: np.ndarray, residual: np.ndarray, noise: float, coverage: float = COVERAGE) -> float:
    """The least ``s`` for which ``±2·sqrt((s·predicted)² + noise²)`` covers ``coverage`` of ``residual``.

    The pairs' truth is the scan, noisy with std ``noise`` (independent of the SR's error), so its
    residuals are the SR's error plus that noise; ``s·predicted`` is the std of the SR's error alone."""
    error = np.sqrt(np.maximum((np.asarray(residual, np.float64) / 2) ** 2 - noise**2, 0))
    return float(np.quantile(error / np.maximum(predicted, 1e-12), coverage))


def block_halves(shape: Sequence[int], seed: int) -> np.ndarray:
    """A boolean volume: ``True`` on a seeded random half of the blocks of :data:`BLOCK`³ voxels."""
    blocks = [int(np.ceil(n / BLOCK)) for n in shape]
    chosen = np.random.default_rng(seed).random(blocks) < 0.5
    return np.repeat(np.repeat(np.repeat(chosen, BLOCK, 0), BLOCK, 1), BLOCK, 2)[tuple(slice(0, n) for n in shape)]


def self_pairs(
    model: torch.nn.Module,
    scan: np.ndarray,
    fwhm: Sequence[float],
    shape: str,
    sigma: float,
    seed: int = 0,
) -> list[SelfPair]:
    """The scan's own pairs for ``model``: :func:`planar_pairs` for the planar model, else
    :func:`internal_pair`; ``sigma`` is the scan's noise std (its units), ``fwhm`` the model's profile."""
    rng = np.random.default_rng(seed)
    if hasattr(model, "oriented"):
        return planar_pairs(model, scan, float(fwhm[model.slice_axis]), sigma, rng)
    return [internal_pair(model, scan, fwhm, shape, sigma, rng)]


@dataclass(frozen=True)
class ErrorModel:
    """A fitted error map: the log-linear ``weights`` (:func:`fit_log_linear`), the conformal ``scale``, and
    what they were fitted on (units of the scan's intensity percentile ``peak``)."""

    weights: np.ndarray
    scale: float
    fit_voxels: int
    calibration_voxels: int
    calibration_coverage: float
    noise: float

    def record(self) -> dict:
        """The sidecar's account of the calibration."""
        names = ["intercept", *[f"log {n}" for n in FEATURES[:3]], FEATURES[3]]
        return {
            "PairVoxels": self.fit_voxels + self.calibration_voxels,
            "FitVoxels": self.fit_voxels,
            "CalibrationVoxels": self.calibration_voxels,
            "Features": list(FEATURES),
            "Weights": {n: round(float(w), 4) for n, w in zip(names, self.weights)},
            "ConformalScale": round(self.scale, 4),
            "TargetCoverage": COVERAGE,
            "CalibrationCoverage": round(self.calibration_coverage, 4),
            "PairNoiseSigma": round(self.noise, 5),
        }


def pair_samples(
    pair: SelfPair, sr: np.ndarray, peak: float, noise: float, seed: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Per head voxel of one pair: its features, its local error with the truth's noise taken out, its
    |SR − truth|, and whether it is in the fitting half (units of ``peak``)."""
    head = foreground_mask(pair.truth / peak)
    features = error_features(sr, pair.lr, pair.scale, pair.spacing, peak)[head.ravel()]
    residual = (sr - pair.truth) / peak
    squared = smooth(residual**2, pair.spacing)
    local = np.sqrt(np.maximum(squared - noise**2, 0.05 * squared))
    return features, local[head], np.abs(residual[head]), block_halves(head.shape, seed)[head]


def fit_error_model(
    pairs: Sequence[SelfPair],
    super_resolve: Callable[[torch.nn.Module, np.ndarray], np.ndarray],
    peak: float,
    noise: float,
    seed: int = 0,
) -> ErrorModel:
    """Super-resolve each pair, fit :func:`fit_log_linear` on half of their head voxels (blocks,
    :func:`block_halves`) and the :func:`conformal_scale` on the other half. ``noise``: the scan's noise
    std in units of ``peak``."""
    samples = [pair_samples(p, super_resolve(p.model, p.lr), peak, noise, seed + i) for i, p in enumerate(pairs)]
    features, local, residual, fit = (np.concatenate(s) for s in zip(*samples))
    weights = fit_log_linear(features[fit], local[fit])
    predicted = predict(features[~fit], weights)
    scale = conformal_scale(predicted, residual[~fit], noise)
    covered = residual[~fit] <= 2 * np.sqrt((scale * predicted) ** 2 + noise**2)
    return ErrorModel(weights, scale, int(fit.sum()), int((~fit).sum()), float(covered.mean()), noise)


def error_map(sr: np.ndarray, lr: np.ndarray, scale: Sequence[float], fitted: ErrorModel, peak: float) -> np.ndarray:
    """The uncertainty ``u`` of ``sr`` (the std of its error, in the scan's units): :func:`error_features`
    through the fitted model, times its conformal scale."""
    features = error_features(sr, lr, scale, (1.0, 1.0, 1.0), peak)
    return (fitted.scale * peak * predict(features, fitted.weights)).astype(np.float32).reshape(sr.shape)


ERROR_MAP_METHOD = (
    "std of the SR's error predicted from its edges, its departure from cubic interpolation, the input's local "
    "noise and the distance from the slice centres; fitted on pairs made from the scan itself and scaled by "
    "split-conformal calibration so that SR +- 2u covers 95% of their error (mrisr.errormap)"
)


def self_calibrated_map(
    model: torch.nn.Module,
    lr: np.ndarray,
    sr: np.ndarray,
    fwhm: Sequence[float],
    shape: str,
    super_resolve: Callable[[torch.nn.Module, np.ndarray], np.ndarray],
    peak: float,
    seed: int = 0,
) -> tuple[np.ndarray, ErrorModel]:
    """The uncertainty map of ``sr`` (the SR of ``lr`` by ``model``, whose slice profile is ``fwhm`` HR voxels
    of ``shape``; ``peak``: the intensity ``lr`` was normalised by) and its fitted model: :func:`self_pairs`
    of ``lr``, super-resolved by ``super_resolve`` as ``sr`` was, :func:`fit_error_model`, :func:`error_map`.
    Holds the whole SR and its features in memory."""
    noise = estimate_noise_sigma(lr) / peak
    pairs = self_pairs(model, lr, fwhm, shape, noise * peak, seed)
    fitted = fit_error_model(pairs, super_resolve, peak, noise, seed)
    return error_map(sr, lr, model.scale, fitted, peak), fitted
