"""Where the SR is wrong, learned from the scan itself: a per-voxel error map fitted at inference time.

A scan holds pairs with a known answer. For thick slices, its in-plane axes are sharp: blurred and decimated
along one of them like the slice axis (with the model's own slice profile, noise topped back up to the
scan's level), the scan is an input whose truth is the scan (:mod:`mrisr.planes` makes the planar model's
training pairs the same way). For a scan coarse along every axis, the scan degraded once more by the
model's profile is (the internal pairs of the 3D model). The same network super-resolves these pairs, and
their errors teach how its error depends on what can be seen without a truth (:func:`error_features`: the
SR's edges across and along the refined axes, how far it moved from cubic interpolation, the input's
texture and local noise, the distance from the slice centres and from outside the head). A small network
of the local error on those features (:class:`ErrorNet`) is fitted on half of the pairs' head voxels and
scaled by split-conformal calibration on the other half (:func:`conformal_scale`), so that SR ± 2u covers
95% of |SR − truth| without the truth (:func:`pair_coverage`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from scipy import ndimage
from torch import nn

from mrisr.acquisition.degradation import blur_decimate, is_integer_factor, white_noise_kept
from mrisr.acquisition.noise import estimate_noise_sigma, rician
from mrisr.data import foreground_mask
from mrisr.evaluation import interpolate
from mrisr.planes import acquire_along_last, noise_kept
from mrisr.trust import local_noise_sigma, nearest_index

FEATURES = (
    "edges",
    "edges across",
    "edges along",
    "edges wide",
    "detail",
    "detail wide",
    "slope across",
    "curvature across",
    "texture",
    "spread",
    "intensity",
    "noise",
    "phase",
    "depth",
)
"""The per-voxel features of :func:`error_features`, in the columns' order: each is computed alike on the
pairs and on the scan's SR, in SR voxels, so that what the pairs teach carries over."""

AS_IS = ("intensity", "phase", "depth")
"""Features the error model takes as they are; it takes the logs of the others (magnitudes)."""

DEPTH_CAP = 20.0
"""SR voxels: deeper in the head than this, :func:`head_depth` says no more."""

HIDDEN = 64
"""Units per hidden layer of :class:`ErrorNet`."""

FIT_STEPS = 2000
"""Adam steps that fit :class:`ErrorNet` (a few seconds on a CPU)."""

FIT_BATCH = 4096
"""Pair voxels per step of the fit."""

SMOOTH = 1.5
"""Gaussian σ (voxels of the real SR) of the features and of the local error they predict."""

COVERAGE = 0.95
"""The share of |SR − truth| that SR ± 2u is meant to cover (a Gaussian's ±2σ)."""

PLANAR_COVERAGE = 0.975
"""The share of the planar pairs' error that the calibration covers, so that the SR's is :data:`COVERAGE`:
a planar pair's truth is the scan, still blurred along its slice axis, so its errors have thinner tails
than the SR's, whose truth is sharp along every axis. Covering 95% of the pairs' error covered 89–90.5%
of the SR's on three thick-slice panels (two heads); covering 97.5%, 94–95% (``benchmarks/trust.py``).
The internal pair of the 3D model is calibrated at :data:`COVERAGE` (it covered 96% there)."""

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


def local_rms(x: np.ndarray, spacing: Sequence[float], sigma: float = SMOOTH) -> np.ndarray:
    """The RMS of ``x`` around each voxel (a Gaussian window of ``sigma`` SR voxels)."""
    return np.sqrt(np.maximum(smooth(x**2, spacing, sigma), 0))


DIFFERENCES = {1: np.array([-0.5, 0.0, 0.5]), 2: np.array([1.0, -2.0, 1.0])}
"""Central-difference stencils of the first and second derivative."""


def derivative_magnitude(
    smoothed: np.ndarray, spacing: Sequence[float], axes: Sequence[int] = (0, 1, 2), order: int = 1
) -> np.ndarray:
    """The root sum of squares over ``axes`` of the ``order``-th derivative per SR voxel of a volume already
    smoothed (:func:`smooth`; ``order=1``, all axes: an edge detector). Central differences, not Gaussian
    derivatives: along a planar pair's thick axis the smoothing is a fraction of a voxel, where a sampled
    Gaussian derivative vanishes. One smoothing serves every subset of axes."""
    total = np.zeros(smoothed.shape, np.float32)
    for axis in axes:
        total += (ndimage.correlate1d(smoothed, DIFFERENCES[order], axis=axis) / spacing[axis] ** order) ** 2
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


def head_depth(x: np.ndarray, spacing: Sequence[float]) -> np.ndarray:
    """Each voxel's distance from outside the head or the field of view (SR voxels, at most
    :data:`DEPTH_CAP`): the scalp, the skull and the brain err differently. ``x`` is normalised to its
    intensity peak."""
    inside = np.pad(foreground_mask(smooth(x, spacing, 1.0)), 1)
    depth = ndimage.distance_transform_edt(inside, sampling=spacing)[(slice(1, -1),) * 3]
    return np.minimum(depth, DEPTH_CAP).astype(np.float32)


def feature_columns(
    sr: np.ndarray, lr: np.ndarray, scale: Sequence[float], spacing: Sequence[float]
) -> Iterator[tuple[str, np.ndarray]]:
    """Each of :data:`FEATURES` by name, one volume at a time (``sr``, ``lr`` normalised). "Across" is along
    the axes the SR refines (factor above 1), "along" the others; the SR's "detail" is its departure from
    ``cubic``, the cubic interpolation of ``lr``."""
    across = [a for a in range(3) if scale[a] > 1]
    along = [a for a in range(3) if scale[a] == 1] or across
    cubic = interpolate(lr, scale, 3)
    sharp = smooth(sr, spacing, 1.0)
    yield "edges", smooth(derivative_magnitude(sharp, spacing), spacing)
    yield "edges across", smooth(derivative_magnitude(sharp, spacing, across), spacing)
    yield "edges along", smooth(derivative_magnitude(sharp, spacing, along), spacing)
    del sharp
    yield "edges wide", smooth(derivative_magnitude(smooth(sr, spacing, 2.0), spacing), spacing, 3.0)
    yield "detail", local_rms(sr - cubic, spacing)
    yield "detail wide", local_rms(sr - cubic, spacing, 3.0)
    cubic_smooth = smooth(cubic, spacing, 1.0)
    yield "slope across", smooth(derivative_magnitude(cubic_smooth, spacing, across), spacing)
    yield "curvature across", smooth(derivative_magnitude(cubic_smooth, spacing, across, order=2), spacing)
    del cubic_smooth
    yield "texture", local_rms(cubic - smooth(cubic, spacing, 2.0), spacing)
    del cubic
    yield "spread", local_rms(sr - smooth(sr, spacing, 3.0), spacing, 3.0)
    yield "intensity", smooth(sr, spacing)
    noise = local_noise_sigma(torch.from_numpy(lr)[None, None])[0, 0].numpy()
    yield "noise", noise[np.ix_(*[nearest_index(m, n) for m, n in zip(sr.shape, lr.shape)])]
    yield "phase", slice_phase(sr.shape, scale)
    yield "depth", head_depth(sr, spacing)


def error_features(
    sr: np.ndarray, lr: np.ndarray, scale: Sequence[float], spacing: Sequence[float], peak: float
) -> np.ndarray:
    """:func:`feature_columns` per voxel of ``sr``: ``(N, len(FEATURES))`` float32, intensities in units of
    ``peak``, filled one column at a time to bound memory."""
    sr = np.asarray(sr, np.float32) / peak
    lr = np.asarray(lr, np.float32) / peak
    features = np.empty((*sr.shape, len(FEATURES)), np.float32)
    for i, (_, column) in enumerate(feature_columns(sr, lr, scale, spacing)):  # in FEATURES' order
        features[..., i] = column
    return features.reshape(-1, len(FEATURES))


def regressors(features: np.ndarray) -> np.ndarray:
    """The error model's inputs: the logs of the magnitudes (floored), the :data:`AS_IS` features as they are."""
    as_is = np.array([name in AS_IS for name in FEATURES])
    return np.where(as_is, features, np.log(np.maximum(features, 1e-4))).astype(np.float32)


class ErrorNet(nn.Module):
    """log(local error) from :func:`regressors`: clamped to the range the fit saw (voxels outside the head
    lie outside it, and a perceptron extrapolates without bound), standardised, then a two-layer
    perceptron (SiLU). Small and fitted in seconds; a log-linear model of the same features ranked the
    error less well, as their effects interact (an edge matters where the SR departed from cubic)."""

    def __init__(self, seen: torch.Tensor, hidden: int = HIDDEN) -> None:
        super().__init__()
        self.register_buffer("low", seen.amin(0))
        self.register_buffer("high", seen.amax(0))
        self.register_buffer("mean", seen.mean(0))
        self.register_buffer("std", seen.std(0).clamp(min=1e-6))
        width = seen.shape[1]
        self.net = nn.Sequential(
            nn.Linear(width, hidden), nn.SiLU(), nn.Linear(hidden, hidden), nn.SiLU(), nn.Linear(hidden, 1)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = torch.minimum(torch.maximum(x, self.low), self.high)
        return self.net((x - self.mean) / self.std).squeeze(-1)


def fit_error_net(features: np.ndarray, error: np.ndarray, seed: int = 0) -> ErrorNet:
    """:class:`ErrorNet` fitted to log(``error``) by least squares: :data:`FIT_STEPS` Adam steps on batches
    of :data:`FIT_BATCH` voxels drawn with replacement (a cost that does not grow with the scan); seeded."""
    x = torch.from_numpy(regressors(features))
    y = torch.from_numpy(np.log(np.maximum(error, 1e-6)).astype(np.float32))
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        net = ErrorNet(x)
        generator = torch.Generator().manual_seed(seed)
        optimiser = torch.optim.Adam(net.parameters(), lr=3e-3)
        for _ in range(FIT_STEPS):
            batch = torch.randint(len(x), (FIT_BATCH,), generator=generator)
            loss = F.mse_loss(net(x[batch]), y[batch])
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
    return net.eval()


def predict(net: ErrorNet, features: np.ndarray, chunk: int = 1 << 20) -> np.ndarray:
    """The error :class:`ErrorNet` predicts for each row of ``features``, in chunks to bound memory."""
    predicted = np.zeros(len(features), np.float32)
    with torch.inference_mode():
        for i in range(0, len(features), chunk):
            predicted[i : i + chunk] = net(torch.from_numpy(regressors(features[i : i + chunk]))).exp().numpy()
    return predicted


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
    if is_planar(model):
        return planar_pairs(model, scan, float(fwhm[model.slice_axis]), sigma, rng)
    return [internal_pair(model, scan, fwhm, shape, sigma, rng)]


def is_planar(model: torch.nn.Module) -> bool:
    """Whether ``model`` is the planar one (it turns to any axis), whose pairs are :func:`planar_pairs`."""
    return hasattr(model, "oriented")


def pair_coverage(model: torch.nn.Module) -> float:
    """The share of its pairs' error that ``model``'s map is calibrated to cover (:data:`PLANAR_COVERAGE`)."""
    return PLANAR_COVERAGE if is_planar(model) else COVERAGE


@dataclass(frozen=True)
class ErrorModel:
    """A fitted error map: the :class:`ErrorNet`, the conformal ``scale``, and what they were fitted on
    (intensities in units of the scan's percentile ``peak``)."""

    net: ErrorNet
    scale: float
    pair_coverage: float
    fit_voxels: int
    calibration_voxels: int
    calibration_coverage: float
    held_out_r2: float
    noise: float

    def record(self) -> dict:
        """The sidecar's account of the calibration."""
        return {
            "PairVoxels": self.fit_voxels + self.calibration_voxels,
            "FitVoxels": self.fit_voxels,
            "CalibrationVoxels": self.calibration_voxels,
            "Features": list(FEATURES),
            "Model": f"two-layer perceptron ({HIDDEN} units, SiLU) of log local error, {FIT_STEPS} Adam steps",
            "HeldOutR2": round(self.held_out_r2, 4),
            "ConformalScale": round(self.scale, 4),
            "TargetCoverage": COVERAGE,
            "PairTargetCoverage": self.pair_coverage,
            "CalibrationCoverage": round(self.calibration_coverage, 4),
            "PairNoiseSigma": round(self.noise, 5),
        }


def r_squared(predicted: np.ndarray, target: np.ndarray) -> float:
    """The share of the variance of ``target`` that ``predicted`` explains (1 − SSE / SST)."""
    return float(1 - np.mean((target - predicted) ** 2) / max(float(np.var(target)), 1e-12))


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
    coverage: float = COVERAGE,
    seed: int = 0,
) -> ErrorModel:
    """Super-resolve each pair, fit :func:`fit_error_net` on half of their head voxels (blocks,
    :func:`block_halves`) and the :func:`conformal_scale` covering ``coverage`` on the other half.
    ``noise``: the scan's noise std in units of ``peak``."""
    samples = [pair_samples(p, super_resolve(p.model, p.lr), peak, noise, seed + i) for i, p in enumerate(pairs)]
    features, local, residual, fit = (np.concatenate(s) for s in zip(*samples))
    net = fit_error_net(features[fit], local[fit], seed)
    predicted = predict(net, features[~fit])
    held_out_r2 = r_squared(np.log(predicted), np.log(np.maximum(local[~fit], 1e-6)))
    scale = conformal_scale(predicted, residual[~fit], noise, coverage)
    covered = residual[~fit] <= 2 * np.sqrt((scale * predicted) ** 2 + noise**2)
    voxels = int(fit.sum()), int((~fit).sum())
    return ErrorModel(net, scale, coverage, *voxels, float(covered.mean()), held_out_r2, noise)


def error_map(sr: np.ndarray, lr: np.ndarray, scale: Sequence[float], fitted: ErrorModel, peak: float) -> np.ndarray:
    """The uncertainty ``u`` of ``sr`` (the std of its error, in the scan's units): :func:`error_features`
    through the fitted model, times its conformal scale."""
    features = error_features(sr, lr, scale, (1.0, 1.0, 1.0), peak)
    return (fitted.scale * peak * predict(fitted.net, features)).astype(np.float32).reshape(sr.shape)


ERROR_MAP_METHOD = (
    "std of the SR's error predicted by a small network from what needs no truth (the SR's edges, its departure "
    "from cubic interpolation, the input's texture and local noise, the distance from the slice centres and "
    "from outside the head); fitted on pairs made from the scan itself and scaled by split-conformal "
    "calibration so that SR +- 2u covers 95% of the SR's error (95% of the pairs' error; 97.5% of a planar "
    "pair's, whose truth is the scan still blurred along its slices; mrisr.errormap)"
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
    fitted = fit_error_model(pairs, super_resolve, peak, noise, pair_coverage(model), seed)
    return error_map(sr, lr, model.scale, fitted, peak), fitted
