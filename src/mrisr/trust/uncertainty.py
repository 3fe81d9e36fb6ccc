"""
A scan holds pairs with a known answer. For thick slices, its in-plane axes are sharp: blurred and decimated
along one of them like the slice axis (with the model's own slice profile, noise topped back up to the
scan's level), the scan is an input whose truth is the scan (:mod:`mrisr.sampling.planes` makes the planar model's
training pairs the same way). For a scan coarse along every axis, the scan degraded once more by the
model's profile is (the internal pairs of the 3D model); so is its SR, degraded and super-resolved again
(the cycle pair, :func:`cycle_pair`), whose errors sit at the SR's own scale. The same network
super-resolves these pairs, and their errors teach how its error depends on what can be seen without a
truth (:func:`error_features`: the SR's edges across and along the refined axes, how far it moved from
cubic interpolation, how far it departs from the input once acquired again, the input's texture and local
noise, the distance from the slice centres and from outside the head). A small network of the local error
on those features (:class:`ErrorNet`) is fitted on half of the pairs' head voxels and scaled by
split-conformal calibration on the other half (:func:`conformal_scale`), so that SR ± 2u covers 95% of
|SR − truth| without the truth (:func:`self_calibrated_map`)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

import numpy as np
import torch

from mrisr.acquisition.model import Acquisition
from mrisr.acquisition.noise import estimate_noise_sigma
from mrisr.trust.errornet import (
    COVERAGE,
    PLANAR_COVERAGE,
    ErrorModel,
    conformal_scale,
    fit_error_net_on,
    joined,
    pair_samples,
    predict,
    r_squared,
)
from mrisr.trust.features import error_features
from mrisr.trust.pairs import cycle_pair, internal_pair, planar_pairs, sr_acquisition

ERROR_MAP_METHOD = (
    "std of the SR's error predicted by a small network from what needs no truth (the SR's edges, its departure "
    "from cubic interpolation and, acquired again, from the input, the input's texture and local noise, the "
    "distance from the slice centres and from outside the head); fitted on pairs made from the scan itself (the "
    "SR itself for a 3D model) and scaled by split-conformal calibration so that SR +- 2u covers 95% of the SR's "
    "error (mrisr.trust.uncertainty)"
)


def error_map(sr: np.ndarray, lr: np.ndarray, acquisition: Acquisition, fitted: ErrorModel, peak: float) -> np.ndarray:
    """The uncertainty ``u`` of ``sr`` (the std of its error, in the scan's units): :func:`error_features`
    through the fitted model, times its conformal scale."""
    features = error_features(sr, lr, acquisition, (1.0, 1.0, 1.0), peak)
    return (fitted.scale * peak * predict(fitted.net, features)).astype(np.float32).reshape(sr.shape)


def self_calibrated_map(
    model: torch.nn.Module,
    lr: np.ndarray,
    sr: np.ndarray,
    acquisition: Acquisition,
    super_resolve: Callable[[torch.nn.Module, np.ndarray], np.ndarray],
    peak: float,
    seed: int = 0,
) -> tuple[np.ndarray, ErrorModel]:
    """The uncertainty map of ``sr`` (the SR of ``lr`` by ``model``, which serves the slice profile of
    ``acquisition``; ``peak``: the intensity ``lr`` was normalised by) and its fitted model.

    Planar model: :func:`planar_pairs`, fitted on half of their head voxels and calibrated on the other half
    at :data:`PLANAR_COVERAGE`. 3D model: fitted on half of the :func:`cycle_pair`'s head voxels; its scale
    is the geometric mean of the scales covering :data:`COVERAGE` of the cycle pair's other half and of the
    whole :func:`internal_pair` (no part of the fit). They bracket the SR's: the cycle pair's truth is the
    network's own output, which it reproduces more easily than a real truth, and the internal pair errs one
    factor coarser, on structure the SR need not resolve (results/REPORT.md, "Trust maps"). Every pair is
    super-resolved by ``super_resolve`` as ``sr`` was. Holds the whole SR and its features in memory."""
    sigma = estimate_noise_sigma(lr)
    scan = replace(acquisition, noise_sigma=sigma)  # this scan's own noise, measured in its air
    rng = np.random.default_rng(seed)
    if model.planar:
        pairs = planar_pairs(model, lr, scan, rng)
        samples = joined([pair_samples(p, super_resolve(p.model, p.lr), peak, seed + i) for i, p in enumerate(pairs)])
        kind = "planar: the scan acquired along each in-plane axis like its slices"
        calibration = f"split-conformal on half of the pairs' head voxels at {PLANAR_COVERAGE:.1%} of their error"
    else:
        internal = internal_pair(model, lr, scan, rng)
        internal_samples = pair_samples(internal, super_resolve(model, internal.lr), peak, seed)
        cycle = cycle_pair(model, sr, scan, rng)
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
    if model.planar:
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
    return error_map(sr, lr, sr_acquisition(model, scan), fitted, peak), fitted
