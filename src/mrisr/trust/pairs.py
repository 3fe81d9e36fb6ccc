"""Pairs with a known answer made from the scan itself: for thick slices, the scan acquired along each
in-plane axis like its slices; for a 3D model, the scan degraded once more and the SR degraded and
super-resolved again."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np
import torch

from mrisr.acquisition.forward import blur_decimate, is_integer_factor, white_noise_kept
from mrisr.acquisition.model import Acquisition
from mrisr.acquisition.noise import topped_up
from mrisr.sampling.planes import acquire_along_last, noise_kept


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


def planar_pairs(
    model: torch.nn.Module, scan: np.ndarray, acquisition: Acquisition, rng: np.random.Generator
) -> list[SelfPair]:
    """The scan blurred and decimated along each in-plane axis like its slice axis (planar model), as the
    scan's ``acquisition`` (its slice profile and noise) says."""
    axis = model.slice_axis
    factor = model.scale[axis]
    fwhm, sigma = acquisition.fwhm[axis], acquisition.noise_sigma
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
    model: torch.nn.Module, scan: np.ndarray, acquisition: Acquisition, rng: np.random.Generator
) -> SelfPair:
    """The scan degraded once more by the model's slice profile, noise topped up to the scan's (3D model,
    whole factors; ``acquisition``: the scan's profile and noise)."""
    scale = tuple(int(f) for f in model.scale)
    fwhm, shape, sigma = acquisition.fwhm, acquisition.shape, acquisition.noise_sigma
    truth = crop_to_factor(scan, scale)
    x = torch.from_numpy(np.ascontiguousarray(truth, dtype=np.float32))[None, None]
    lr = blur_decimate(x, scale, torch.tensor(fwhm, dtype=torch.float32), shape)[0, 0].numpy()
    kept = white_noise_kept(scale, fwhm, shape)
    acquired = sr_acquisition(model, acquisition)
    return SelfPair(topped_up(lr, sigma, kept, rng), truth.astype(np.float32), acquired, (1.0, 1.0, 1.0), sigma, model)


def cycle_pair(model: torch.nn.Module, sr: np.ndarray, acquisition: Acquisition, rng: np.random.Generator) -> SelfPair:
    """The SR's :func:`central_box` degraded by the model's slice profile, noise topped up as for
    :func:`internal_pair`, with the SR as its truth (3D model): its errors sit at the SR's own scale, where
    the internal pair's sit one factor coarser, so they rank the SR's error better (results/REPORT.md,
    "Trust maps"). The SR is the network's own output, which it reproduces more easily than a real truth:
    the pair understates the error's size, so it is not calibrated alone (:func:`self_calibrated_map`)."""
    return replace(internal_pair(model, central_box(sr, CYCLE_BOX), acquisition, rng), noise=0.0)


CYCLE_BOX = 0.8
"""The cycle pair is made from the central box of the SR spanning this share of each axis (about half its
voxels, most of the head: the rim of a field of view is mostly air), to halve its cost."""


def central_box(x: np.ndarray, share: float) -> np.ndarray:
    """The centred box of ``x`` spanning ``share`` of each axis."""
    return x[tuple(slice((n - round(share * n)) // 2, (n - round(share * n)) // 2 + round(share * n)) for n in x.shape)]


def sr_acquisition(model: torch.nn.Module, acquisition: Acquisition) -> Acquisition:
    """How the scan was acquired from the SR's grid, as ``model`` (serving ``acquisition``'s slice profile)
    sees it: the acquisition the SR's features are computed with (the planar pairs' is Gaussian)."""
    shape = "gaussian" if model.planar else acquisition.shape
    return Acquisition(tuple(model.scale), acquisition.fwhm, shape, acquisition.noise_sigma)
