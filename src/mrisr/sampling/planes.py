"""Training pairs for the planar model (:mod:`mrisr.models.planar`): sharp planes acquired along one axis.

A thick-slice scan is sharp inside its slices. Blurring and decimating one in-plane axis of such a plane
with the scanner's slice profile (the same :func:`mrisr.acquisition.forward.blur_decimate`, on the same
block-centred grid) and adding the scanner's noise gives an (LR, HR) pair of the same subject, contrast
and scanner as the through-plane data the model will sharpen (internal learning). HR volumes of other
subjects are sharp along every axis and give more such pairs (external learning); both feed one model.

Slices at any spacing and thickness: the factor ``r`` (spacing over the SR's voxel) need not be an integer
and the profile's FWHM (the thickness) need not equal it, so pairs made for 4 mm slices every 5 mm have
the gap, and pairs for 4.5 mm slices sample the sharp plane every 4.5 pixels
(:func:`mrisr.acquisition.forward.slice_matrix`). Each LR column then sits at its own phase on the
sharp grid, and a pair carries the positions of its sharp pixels in LR-index units, where the network's
fine grid is read (:func:`mrisr.models.planar.sample_last`).

Noise: the blur averages the scan's own noise down to ``sigma * sqrt(sum(w²))`` (about 0.4 sigma for a
4-voxel profile), so fresh Rician noise tops each LR patch up to the scan's sigma; the HR planes of
other subjects get all of it. Without this the network never learns to denoise through-plane data.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from mrisr.acquisition.forward import acquire_axis, blur_decimate, is_integer_factor
from mrisr.acquisition.geometry import slice_axis
from mrisr.acquisition.noise import rician, top_up
from mrisr.intensity import foreground_mask
from mrisr.sampling.volumes import TrainingVolume


def acquire_along_last(planes: np.ndarray, factor: float, fwhm: float) -> np.ndarray:
    """Slice profile (FWHM in HR voxels) + decimation along the last axis of ``(n, A, B)``: block-centred at
    integer factors, at :func:`mrisr.acquisition.forward.slice_centres` otherwise."""
    if not is_integer_factor(factor):
        return acquire_axis(planes, 2, factor, fwhm)
    factor = int(round(factor))
    x = torch.from_numpy(np.ascontiguousarray(planes, dtype=np.float32))[:, None, None]
    profile = torch.tensor([0.0, 0.0, fwhm], dtype=torch.float32)
    return blur_decimate(x, (1, 1, factor), profile)[:, 0, 0].numpy()


def noise_kept(factor: float, fwhm: float) -> float:
    """The fraction of white noise's std that survives :func:`acquire_along_last`: ``sqrt(sum(w²))``."""
    length = int(np.ceil(16 * factor))
    impulses = np.eye(length, dtype=np.float32)[:, None, :]  # one impulse per line
    weights = acquire_along_last(impulses, factor, fwhm)[:, 0, 8]  # the response of one sample
    return float(np.sqrt(np.sum(weights.astype(np.float64) ** 2)))


@dataclass
class PlaneStack:
    """Sharp planes ``hr (n, A, B)``, the same planes acquired along ``B`` (``lr``, noise-free), the std of
    the Rician noise to add to ``lr`` patches, and the foreground voxels ``(plane, a, b)`` to centre on."""

    hr: np.ndarray
    lr: np.ndarray
    noise_sigma: float
    centres: np.ndarray


def plane_stack(
    planes: np.ndarray, mask: np.ndarray, factor: float, fwhm: float, noise_sigma: float, min_size: Sequence[int]
) -> PlaneStack:
    """A :class:`PlaneStack` of ``planes`` ``(n, A, B)``, cropped to a whole number of slices along ``B`` and
    zero-padded to at least ``min_size`` ``(A, B)``."""
    b = (planes.shape[2] // int(round(factor))) * int(round(factor)) if is_integer_factor(factor) else planes.shape[2]
    pad = [(0, 0), (0, max(0, min_size[0] - planes.shape[1])), (0, max(0, min_size[1] - b))]
    hr = np.pad(planes[:, :, :b], pad).astype(np.float32)
    mask = np.pad(mask[:, :, :b], pad)
    centres = np.argwhere(mask)
    if len(centres) == 0:
        centres = np.argwhere(np.ones(mask.shape, bool))
    return PlaneStack(hr, acquire_along_last(hr, factor, fwhm), noise_sigma, centres)


def sharp_plane_stacks(
    volume: TrainingVolume,
    stack_axes: Sequence[int],
    factor: float,
    fwhm: float,
    noise_sigma: float,
    min_size: Sequence[int],
    sharp_axes: Sequence[int] | None = None,
) -> list[PlaneStack]:
    """The planes stacked along each of ``stack_axes`` of a normalised volume, acquired along each of their
    ``sharp_axes`` (volume axes; default both in-plane axes, i.e. both orientations).

    For a thick-slice scan, ``stack_axes`` is its slice axis (the planes inside the slices are sharp); for an
    HR volume, any axis is. A scan whose in-plane voxels are not square is acquired only along its finer
    in-plane axis, the one whose pixels are the SR's along the slice axis.
    """
    mask = foreground_mask(volume.data)
    stacks = []
    for axis in stack_axes:
        planes, plane_mask = np.moveaxis(volume.data, axis, 0), np.moveaxis(mask, axis, 0)
        in_plane = [a for a in range(3) if a != axis]  # the planes' axes 1 and 2, in volume axes
        for transpose in (False, True):
            if sharp_axes is not None and in_plane[0 if transpose else 1] not in sharp_axes:
                continue
            p, m = (planes.transpose(0, 2, 1), plane_mask.transpose(0, 2, 1)) if transpose else (planes, plane_mask)
            stacks.append(plane_stack(p, m, factor, fwhm, noise_sigma, min_size))
    return stacks


def finest_in_plane(scan: TrainingVolume, axis: int) -> list[int]:
    """The in-plane axes of a thick-slice scan whose spacing is within 10% of the finest one: both for square
    pixels, the finer one otherwise."""
    in_plane = [a for a in range(3) if a != axis]
    finest = min(scan.zooms[a] for a in in_plane)
    return [a for a in in_plane if scan.zooms[a] <= 1.1 * finest]


class PlanePairSampler:
    """Random (LR, HR) patch pairs ``(N, 1, h, w)`` / ``(N, 1, h, W)`` from the scan's own planes and,
    with probability ``external_fraction``, from HR volumes of other subjects; flips and gain jitter.

    At an integer factor ``W = w*f`` and the pairs are aligned; otherwise ``W = floor(w*r) - 1`` sharp
    pixels inside the patch's slices, and :meth:`sample` also returns their positions ``(N, W)`` in the LR
    patch's index units (``None`` at integer factors)."""

    def __init__(
        self,
        internal: Sequence[PlaneStack],
        external: Sequence[PlaneStack],
        factor: float,
        patch: Sequence[int],
        *,
        external_fraction: float = 0.5,
        intensity_jitter: float = 0.1,
    ) -> None:
        if not internal and not external:
            raise ValueError("no planes to train on")
        self.internal, self.external = list(internal), list(external)
        self.factor = int(round(factor)) if is_integer_factor(factor) else float(factor)
        self.patch = (int(patch[0]), int(patch[1]))
        self.external_fraction = external_fraction if internal and external else float(not internal)
        self.intensity_jitter = intensity_jitter

    def sample(
        self, rng: np.random.Generator, batch_size: int
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
        """A batch of LR patches, their HR truths and the truths' positions (``None`` at integer factors)."""
        pairs = [self._one(rng) for _ in range(batch_size)]
        lr = torch.from_numpy(np.stack([p[0] for p in pairs])[:, None])
        hr = torch.from_numpy(np.stack([p[1] for p in pairs])[:, None])
        positions = None if pairs[0][2] is None else torch.from_numpy(np.stack([p[2] for p in pairs]))
        return lr, hr, positions

    def _one(self, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
        pool = self.external if rng.random() < self.external_fraction else self.internal
        stack = pool[rng.integers(len(pool))]
        (h, w), f = self.patch, self.factor
        plane, ca, cb = stack.centres[rng.integers(len(stack.centres))]
        a0 = int(np.clip(ca - h // 2, 0, stack.hr.shape[1] - h))
        j0 = int(np.clip(int(cb / f) - w // 2, 0, stack.lr.shape[2] - w))
        lr = stack.lr[plane, a0 : a0 + h, j0 : j0 + w]
        positions = None
        if isinstance(f, int):
            hr = stack.hr[plane, a0 : a0 + h, f * j0 : f * (j0 + w)]
        else:  # the sharp pixels inside the patch's slices, at their positions between the slice centres
            first, count = int(np.ceil(j0 * f - 1e-6)), int(np.floor(w * f)) - 1
            hr = stack.hr[plane, a0 : a0 + h, first : first + count]
            positions = ((np.arange(first, first + count) + 0.5) / f - 0.5 - j0).astype(np.float32)
        for axis in (0, 1):  # the profile is symmetric about the slice centre: flips keep the pairing
            if rng.random() < 0.5:
                lr, hr = np.flip(lr, axis), np.flip(hr, axis)
                if axis == 1 and positions is not None:
                    positions = (w - 1) - positions[::-1]
        gain = 1.0 + rng.uniform(-self.intensity_jitter, self.intensity_jitter)
        lr, hr = lr * gain, hr * gain
        if stack.noise_sigma > 0:
            real, imag = rng.standard_normal((2, h, w)) * stack.noise_sigma
            lr = rician(lr, real, imag)
        positions = None if positions is None else np.ascontiguousarray(positions)
        return np.ascontiguousarray(lr, np.float32), np.ascontiguousarray(hr, np.float32), positions


def pair_sampler(
    scans: Sequence[TrainingVolume],
    hr_volumes: Sequence[TrainingVolume],
    scale: Sequence[float],
    fwhm: float,
    patch: Sequence[int],
    *,
    noise_sigmas: Sequence[float] | None = None,
    external_fraction: float = 0.5,
    intensity_jitter: float = 0.1,
) -> PlanePairSampler:
    """The sampler of a thick-slice run: internal pairs from ``scans`` (normalised thick-slice LR volumes),
    external pairs from ``hr_volumes`` (may be empty), all with the slice profile ``fwhm`` (HR voxels).

    ``noise_sigmas`` (one per scan, or one for all; default: each scan's own estimate) is the Rician level of
    the scans; the HR volumes get the first one.
    """

    axis = slice_axis(scale)
    factor = scale[axis]
    span = int(patch[1]) * int(round(factor)) if is_integer_factor(factor) else int(np.ceil(int(patch[1]) * factor)) + 1
    min_size = (int(patch[0]), span)  # the sharp pixels of one patch
    sigmas = [v.noise_sigma for v in scans] if noise_sigmas is None else list(noise_sigmas)
    sigmas = sigmas * len(scans) if len(sigmas) == 1 else sigmas
    lost = top_up(noise_kept(factor, fwhm))  # what the in-plane blur took away
    internal = []
    for scan, sigma in zip(scans, sigmas):
        sharp = finest_in_plane(scan, axis)
        internal += sharp_plane_stacks(scan, [axis], factor, fwhm, sigma * lost, min_size, sharp)
    hr_sigma = sigmas[0] if sigmas else 0.0
    external = [
        stack for hr in hr_volumes for stack in sharp_plane_stacks(hr, (0, 1, 2), factor, fwhm, hr_sigma, min_size)
    ]
    return PlanePairSampler(
        internal, external, factor, patch, external_fraction=external_fraction, intensity_jitter=intensity_jitter
    )
