"""The error model: a small network of the local error on the features, fitted on half of a pair's head
voxels and scaled by split-conformal calibration on the other half."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from mrisr.intensity import foreground_mask
from mrisr.trust.features import FEATURES, error_features, regressors, smooth
from mrisr.trust.pairs import SelfPair

HIDDEN = 64
"""Units per hidden layer of :class:`ErrorNet`."""


FIT_STEPS = 2000
"""Adam steps that fit :class:`ErrorNet` (a few seconds on a CPU)."""


FIT_BATCH = 4096
"""Pair voxels per step of the fit."""


COVERAGE = 0.95
"""The share of |SR − truth| that SR ± 2u is meant to cover (a Gaussian's ±2σ)."""


PLANAR_COVERAGE = 0.975
"""The share of the planar pairs' error that the calibration covers, so that the SR's is :data:`COVERAGE`:
a planar pair's truth is the scan, still blurred along its slice axis, so its errors have thinner tails
than the SR's, whose truth is sharp along every axis. Covering 95% of the pairs' error covered 89–90.5%
of the SR's on three thick-slice panels (two heads); covering 97.5%, 94–95%, and 91–92% on a third head
(``benchmarks/trust.py``). The 3D model's pairs are calibrated at :data:`COVERAGE` (:func:`self_calibrated_map`)."""


PAIR_VOXELS = 1 << 21
"""At most this many head voxels of a pair are kept (a seeded draw): enough for the fit, whose batches draw
about 8 M, and a bound on the memory the cycle pair's features hold beside the SR's."""


BLOCK = 8
"""Pair voxels are split into fitting and calibration halves by blocks of BLOCK³, not voxel by voxel:
neighbouring errors are alike, so a voxel split would calibrate on voxels the fit has all but seen."""


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
