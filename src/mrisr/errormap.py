"""Where the SR is wrong, learned from the scan itself: a per-voxel error map fitted at inference time.

A scan holds pairs with a known answer. For thick slices, its in-plane axes are sharp: blurred and decimated
along one of them like the slice axis (with the model's own slice profile, noise topped back up to the
scan's level), the scan is an input whose truth is the scan (:mod:`mrisr.planes` makes the planar model's
training pairs the same way). For a scan coarse along every axis, the scan degraded once more by the
model's profile is (the internal pairs of the 3D model); so is its SR, degraded and super-resolved again
(the cycle pair, :func:`cycle_pair`), whose errors sit at the SR's own scale. The same network
super-resolves these pairs, and their errors teach how its error depends on what can be seen without a
truth (:func:`error_features`: the SR's edges across and along the refined axes, how far it moved from
cubic interpolation, how far it departs from the input once acquired again, the input's texture and local
noise, the distance from the slice centres and from outside the head). A small network of the local error
on those features (:class:`ErrorNet`) is fitted on half of the pairs' head voxels and scaled by
split-conformal calibration on the other half (:func:`conformal_scale`), so that SR ± 2u covers 95% of
|SR − truth| without the truth (:func:`self_calibrated_map`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, replace

import numpy as np
import torch
import torch.nn.functional as F
from scipy import ndimage
from torch import nn

from mrisr.acquisition.degradation import acquire, blur_decimate, is_integer_factor, white_noise_kept
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
    "consistency",
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
of the SR's on three thick-slice panels (two heads); covering 97.5%, 94–95%, and 91–92% on a third head
(``benchmarks/trust.py``). The 3D model's pairs are calibrated at :data:`COVERAGE` (:func:`self_calibrated_map`)."""

CYCLE_BOX = 0.8
"""The cycle pair is made from the central box of the SR spanning this share of each axis (about half its
voxels, most of the head: the rim of a field of view is mostly air), to halve its cost."""

PAIR_VOXELS = 1 << 21
"""At most this many head voxels of a pair are kept (a seeded draw): enough for the fit, whose batches draw
about 8 M, and a bound on the memory the cycle pair's features hold beside the SR's."""

BLOCK = 8
"""Pair voxels are split into fitting and calibration halves by blocks of BLOCK³, not voxel by voxel:
neighbouring errors are alike, so a voxel split would calibrate on voxels the fit has all but seen."""


@dataclass(frozen=True)
class Acquisition:
    """How an input was acquired from its truth's grid: the factor per axis, the slice profile's FWHM (in
    voxels of the truth) and its shape (``"gaussian"`` or ``"sinc"``, :func:`blur_decimate`)."""

    scale: tuple[float, float, float]
    fwhm: tuple[float, float, float]
    shape: str = "gaussian"


@dataclass(frozen=True)
class SelfPair:
    """An input made from the scan, its truth (the scan, cropped; for the cycle pair, the SR), how the input
    was acquired from it, the voxel spacing of the truth's grid in SR voxels (the planar pair keeps the
    scan's thick slices), the noise std of the truth (the scan's; none for the SR), and the network that
    super-resolves it (the planar one turned to the pair's coarse axis)."""

    lr: np.ndarray
    truth: np.ndarray
    acquisition: Acquisition
    spacing: tuple[float, float, float]
    noise: float
    model: torch.nn.Module

    @property
    def scale(self) -> tuple[float, float, float]:
        """The factor per axis between the input and its truth."""
        return self.acquisition.scale


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
        profile = [0.0, 0.0, 0.0]
        profile[a] = fwhm
        lr = topped_up(lr, sigma, noise_kept(factor, fwhm), rng)
        acquired = Acquisition(tuple(scale), tuple(profile))
        pairs.append(SelfPair(lr, truth.astype(np.float32), acquired, tuple(spacing), sigma, model.oriented(a)))
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
    acquired = sr_acquisition(model, fwhm, shape)
    return SelfPair(topped_up(lr, sigma, kept, rng), truth.astype(np.float32), acquired, (1.0, 1.0, 1.0), sigma, model)


def cycle_pair(
    model: torch.nn.Module, sr: np.ndarray, fwhm: Sequence[float], shape: str, sigma: float, rng: np.random.Generator
) -> SelfPair:
    """The SR's :func:`central_box` degraded by the model's slice profile, noise topped up as for
    :func:`internal_pair`, with the SR as its truth (3D model): its errors sit at the SR's own scale, where
    the internal pair's sit one factor coarser, so they rank the SR's error better (results/REPORT.md,
    "Trust maps"). The SR is the network's own output, which it reproduces more easily than a real truth:
    the pair understates the error's size, so it is not calibrated alone (:func:`self_calibrated_map`)."""
    return replace(internal_pair(model, central_box(sr, CYCLE_BOX), fwhm, shape, sigma, rng), noise=0.0)


def central_box(x: np.ndarray, share: float) -> np.ndarray:
    """The centred box of ``x`` spanning ``share`` of each axis."""
    return x[tuple(slice((n - round(share * n)) // 2, (n - round(share * n)) // 2 + round(share * n)) for n in x.shape)]


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


def reacquired(sr: np.ndarray, lr_shape: Sequence[int], acquisition: Acquisition) -> np.ndarray:
    """``sr`` acquired onto the input's grid of ``lr_shape`` as the input was (only along the refined axes):
    :func:`blur_decimate` where every factor is whole and the shapes match, else the Gaussian :func:`acquire`."""
    scale = acquisition.scale
    fwhm = [w if f > 1 else 0.0 for f, w in zip(scale, acquisition.fwhm)]
    if all(is_integer_factor(f) and m == n * round(f) for f, m, n in zip(scale, sr.shape, lr_shape)):
        x = torch.from_numpy(np.ascontiguousarray(sr, dtype=np.float32))[None, None]
        whole = [int(round(f)) for f in scale]
        return blur_decimate(x, whole, torch.tensor(fwhm, dtype=torch.float32), acquisition.shape)[0, 0].numpy()
    return acquire(sr, scale, fwhm, lr_shape)


def on_sr_grid(x: np.ndarray, sr_shape: Sequence[int]) -> np.ndarray:
    """An input-grid volume on the SR grid, each SR voxel taking the input voxel that holds its centre."""
    return x[np.ix_(*[nearest_index(m, n) for m, n in zip(sr_shape, x.shape)])]


def feature_columns(
    sr: np.ndarray, lr: np.ndarray, acquisition: Acquisition, spacing: Sequence[float]
) -> Iterator[tuple[str, np.ndarray]]:
    """Each of :data:`FEATURES` by name, one volume at a time (``sr``, ``lr`` normalised). "Across" is along
    the axes the SR refines (factor above 1), "along" the others; the SR's "detail" is its departure from
    ``cubic``, the cubic interpolation of ``lr``; its "consistency" the departure of the SR, acquired again
    like the input (:func:`reacquired`), from the input."""
    scale = acquisition.scale
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
    yield "noise", on_sr_grid(noise, sr.shape)
    yield "consistency", local_rms(on_sr_grid(reacquired(sr, lr.shape, acquisition) - lr, sr.shape), spacing)
    yield "phase", slice_phase(sr.shape, scale)
    yield "depth", head_depth(sr, spacing)


def error_features(
    sr: np.ndarray, lr: np.ndarray, acquisition: Acquisition, spacing: Sequence[float], peak: float
) -> np.ndarray:
    """:func:`feature_columns` per voxel of ``sr``: ``(N, len(FEATURES))`` float32, intensities in units of
    ``peak``, filled one column at a time to bound memory."""
    sr = np.asarray(sr, np.float32) / peak
    lr = np.asarray(lr, np.float32) / peak
    features = np.empty((*sr.shape, len(FEATURES)), np.float32)
    for i, (_, column) in enumerate(feature_columns(sr, lr, acquisition, spacing)):  # in FEATURES' order
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


def is_planar(model: torch.nn.Module) -> bool:
    """Whether ``model`` is the planar one (it turns to any axis), whose pairs are :func:`planar_pairs`."""
    return hasattr(model, "oriented")


@dataclass(frozen=True)
class PairSamples:
    """Per kept head voxel of one pair: its features, its local error with the truth's noise taken out, its
    |SR − truth|, whether it is in the fitting half, and the truth's noise std (units of the peak)."""

    features: np.ndarray
    local: np.ndarray
    residual: np.ndarray
    fit: np.ndarray
    noise: float


def pair_samples(pair: SelfPair, sr: np.ndarray, peak: float, seed: int) -> PairSamples:
    """:class:`PairSamples` of ``pair`` super-resolved as ``sr``: at most :data:`PAIR_VOXELS` of its head
    voxels (a seeded draw), their halves by blocks (:func:`block_halves`)."""
    noise = pair.noise / peak
    head = foreground_mask(pair.truth / peak)
    kept = np.flatnonzero(head)
    if len(kept) > PAIR_VOXELS:
        kept = np.sort(np.random.default_rng(seed).choice(kept, PAIR_VOXELS, replace=False))
    features = error_features(sr, pair.lr, pair.acquisition, pair.spacing, peak)[kept]
    residual = ((sr - pair.truth) / peak).ravel()
    squared = smooth((residual**2).reshape(sr.shape), pair.spacing).ravel()[kept]
    local = np.sqrt(np.maximum(squared - noise**2, 0.05 * squared))
    return PairSamples(features, local, np.abs(residual[kept]), block_halves(head.shape, seed).ravel()[kept], noise)


@dataclass(frozen=True)
class ErrorModel:
    """A fitted error map: the :class:`ErrorNet`, the conformal ``scale``, and what they were fitted on
    (intensities in units of the scan's percentile ``peak``)."""

    net: ErrorNet
    scale: float
    pair_scales: dict[str, float]
    pairs: str
    calibration: str
    fit_voxels: int
    calibration_voxels: int
    calibration_coverage: float
    held_out_r2: float
    noise: float

    def record(self) -> dict:
        """The sidecar's account of the calibration."""
        return {
            "Pairs": self.pairs,
            "PairVoxels": self.fit_voxels + self.calibration_voxels,
            "FitVoxels": self.fit_voxels,
            "CalibrationVoxels": self.calibration_voxels,
            "Features": list(FEATURES),
            "Model": f"two-layer perceptron ({HIDDEN} units, SiLU) of log local error, {FIT_STEPS} Adam steps",
            "HeldOutR2": round(self.held_out_r2, 4),
            "Calibration": self.calibration,
            "ConformalScale": round(self.scale, 4),
            "PairScales": {name: round(value, 4) for name, value in self.pair_scales.items()},
            "TargetCoverage": COVERAGE,
            "CalibrationCoverage": round(self.calibration_coverage, 4),
            "PairNoiseSigma": round(self.noise, 5),
        }


def r_squared(predicted: np.ndarray, target: np.ndarray) -> float:
    """The share of the variance of ``target`` that ``predicted`` explains (1 − SSE / SST)."""
    return float(1 - np.mean((target - predicted) ** 2) / max(float(np.var(target)), 1e-12))


def joined(samples: Sequence[PairSamples]) -> PairSamples:
    """Several pairs' samples as one (they share the truth's noise)."""
    columns = zip(*((x.features, x.local, x.residual, x.fit) for x in samples))
    return PairSamples(*(np.concatenate(c) for c in columns), samples[0].noise)


def fit_error_net_on(samples: PairSamples, seed: int) -> tuple[ErrorNet, np.ndarray]:
    """:func:`fit_error_net` on the fitting half of ``samples``, and its prediction on the other half."""
    net = fit_error_net(samples.features[samples.fit], samples.local[samples.fit], seed)
    return net, predict(net, samples.features[~samples.fit])


def sr_acquisition(model: torch.nn.Module, fwhm: Sequence[float], shape: str) -> Acquisition:
    """How the scan was acquired from the SR's grid, as ``model`` (slice profile ``fwhm`` HR voxels of
    ``shape``) sees it: the acquisition the SR's features are computed with (the planar pairs' is Gaussian)."""
    return Acquisition(tuple(model.scale), tuple(float(w) for w in fwhm), "gaussian" if is_planar(model) else shape)


def error_map(sr: np.ndarray, lr: np.ndarray, acquisition: Acquisition, fitted: ErrorModel, peak: float) -> np.ndarray:
    """The uncertainty ``u`` of ``sr`` (the std of its error, in the scan's units): :func:`error_features`
    through the fitted model, times its conformal scale."""
    features = error_features(sr, lr, acquisition, (1.0, 1.0, 1.0), peak)
    return (fitted.scale * peak * predict(fitted.net, features)).astype(np.float32).reshape(sr.shape)


ERROR_MAP_METHOD = (
    "std of the SR's error predicted by a small network from what needs no truth (the SR's edges, its departure "
    "from cubic interpolation and, acquired again, from the input, the input's texture and local noise, the "
    "distance from the slice centres and from outside the head); fitted on pairs made from the scan itself (the "
    "SR itself for a 3D model) and scaled by split-conformal calibration so that SR +- 2u covers 95% of the SR's "
    "error (mrisr.errormap)"
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
    of ``shape``; ``peak``: the intensity ``lr`` was normalised by) and its fitted model.

    Planar model: :func:`planar_pairs`, fitted on half of their head voxels and calibrated on the other half
    at :data:`PLANAR_COVERAGE`. 3D model: fitted on half of the :func:`cycle_pair`'s head voxels; its scale
    is the geometric mean of the scales covering :data:`COVERAGE` of the cycle pair's other half and of the
    whole :func:`internal_pair` (no part of the fit). They bracket the SR's: the cycle pair's truth is the
    network's own output, which it reproduces more easily than a real truth, and the internal pair errs one
    factor coarser, on structure the SR need not resolve (results/REPORT.md, "Trust maps"). Every pair is
    super-resolved by ``super_resolve`` as ``sr`` was. Holds the whole SR and its features in memory."""
    sigma = estimate_noise_sigma(lr)
    rng = np.random.default_rng(seed)
    if is_planar(model):
        pairs = planar_pairs(model, lr, float(fwhm[model.slice_axis]), sigma, rng)
        samples = joined([pair_samples(p, super_resolve(p.model, p.lr), peak, seed + i) for i, p in enumerate(pairs)])
        kind = "planar: the scan acquired along each in-plane axis like its slices"
        calibration = f"split-conformal on half of the pairs' head voxels at {PLANAR_COVERAGE:.1%} of their error"
    else:
        internal = internal_pair(model, lr, fwhm, shape, sigma, rng)
        internal_samples = pair_samples(internal, super_resolve(model, internal.lr), peak, seed)
        cycle = cycle_pair(model, sr, fwhm, shape, sigma, rng)
        samples = pair_samples(cycle, super_resolve(model, cycle.lr), peak, seed + 1)
        del cycle
        kind = "cycle: the SR degraded and super-resolved again (fit); internal: the scan degraded once more"
        calibration = (
            f"geometric mean of split-conformal scales at {COVERAGE:.0%}: the cycle pair's held-out half and the "
            "whole internal pair"
        )
    net, predicted = fit_error_net_on(samples, seed)
    held_out = ~samples.fit
    residual, local = samples.residual[held_out], samples.local[held_out]
    if is_planar(model):
        pair_scales = {"planar": conformal_scale(predicted, residual, samples.noise, PLANAR_COVERAGE)}
        scaled = pair_scales["planar"]
    else:
        whole = internal_samples  # all of it: no part of the fit
        pair_scales = {
            "cycle": conformal_scale(predicted, residual, samples.noise, COVERAGE),
            "internal": conformal_scale(predict(net, whole.features), whole.residual, whole.noise, COVERAGE),
        }
        scaled = float(np.sqrt(pair_scales["cycle"] * pair_scales["internal"]))
    r2 = r_squared(np.log(predicted), np.log(np.maximum(local, 1e-6)))
    covered = float(np.mean(residual <= 2 * np.sqrt((scaled * predicted) ** 2 + samples.noise**2)))
    voxels = int(samples.fit.sum()), int(held_out.sum())
    fitted = ErrorModel(net, scaled, pair_scales, kind, calibration, *voxels, covered, r2, sigma / peak)
    return error_map(sr, lr, sr_acquisition(model, fwhm, shape), fitted, peak), fitted
