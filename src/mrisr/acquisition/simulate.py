"""One simulated acquisition of a real volume, used by ``mrisr simulate``, the demo and the experiment."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy import ndimage

from mrisr import MRISRError
from mrisr.acquisition.forward import (
    SimulationParams,
    acquire_axis,
    crop_to_multiple,
    default_fwhm,
    degrade,
    tidy_factors,
)
from mrisr.acquisition.model import Acquisition
from mrisr.acquisition.noise import rician
from mrisr.intensity import intensity_scale
from mrisr.io import Volume, coarsen_affine


@dataclass
class Simulation:
    """A high-resolution volume and its simulated low-resolution scan, in the same units."""

    truth: Volume  # the input cropped to a multiple of the scale, scaled so its 99.9th percentile is 1
    lr: Volume  # the simulated scan, on the coarse grid (block-centred affine)
    peak: float  # the input's 99.9th percentile: multiply by it to return to the input's units
    acquisition: Acquisition  # how the scan was acquired from the truth's grid (noise in the truth's units)


def simulate(volume: Volume, params: SimulationParams) -> Simulation:
    """Crop ``volume`` to the scale, scale it to about [0, 1] by its 99.9th percentile and degrade it."""
    hr = crop_to_multiple(volume.data, params.scale)
    peak = intensity_scale(hr, 99.9)
    hr = hr / peak
    lr = degrade(hr, params)
    return Simulation(
        truth=Volume(hr, volume.affine, volume.header, volume.path),
        lr=Volume(lr, coarsen_affine(volume.affine, params.scale), volume.header, volume.path),
        peak=peak,
        acquisition=simulated_acquisition(params),
    )


def simulated_acquisition(params: SimulationParams) -> Acquisition:
    """The :class:`Acquisition` of a simulation: its Gaussian profile (the factor by default), or for k-space
    truncation the sinc profile that models it."""
    fwhm = params.fwhm if params.fwhm is not None else default_fwhm(params.scale)
    shape = "sinc" if params.kind == "kspace" else "gaussian"
    return Acquisition(tuple(params.scale), tuple(fwhm), shape, params.noise_sigma)


@dataclass
class SliceParams:
    """A 2D multi-slice acquisition: slices along voxel ``axis`` every ``spacing`` mm, ``thickness`` mm thick
    (a gap when thinner than the spacing), Rician noise, and the slice stack tilted by ``tilt`` degrees."""

    axis: int = 2
    spacing: float = 4.0
    thickness: float = 4.0
    noise_sigma: float = 0.0  # Rician sigma, relative to the HR's 99.9th percentile
    noise_seed: int = 0
    tilt: float = 0.0  # degrees, about the first in-plane axis: an oblique slice stack
    sidecar: dict = field(default_factory=dict)  # filled by simulate_slices: what dcm2niix would write


def tilt_volume(volume: Volume, axis: int, degrees: float) -> Volume:
    """``volume`` on a voxel grid rotated by ``degrees`` in the plane of ``axis`` and the other in-plane axis,
    about the grid's centre: the same anatomy in the world (the affine turns with the grid), as an oblique
    acquisition sees it. Cubic B-spline, air outside the old field of view."""
    if degrees == 0:
        return volume
    pivot = [a for a in range(3) if a != axis][0]
    rest = 3 - axis - pivot
    theta = np.deg2rad(degrees)
    rotation = np.eye(3)
    rotation[np.ix_([axis, rest], [axis, rest])] = [[np.cos(theta), -np.sin(theta)], [np.sin(theta), np.cos(theta)]]
    centre = (np.asarray(volume.data.shape) - 1) / 2.0
    offset = centre - rotation @ centre
    data = ndimage.affine_transform(volume.data, rotation, offset=offset, order=3, mode="constant", cval=0.0)
    voxel_to_old = np.eye(4)
    voxel_to_old[:3, :3], voxel_to_old[:3, 3] = rotation, offset
    return Volume(np.clip(data, 0, None).astype(np.float32), volume.affine @ voxel_to_old, volume.header, volume.path)


def simulate_slices(volume: Volume, params: SliceParams) -> Simulation:
    """Thick slices of ``volume`` at any spacing and thickness (:func:`acquire_axis`), tilted, with noise.

    The truth is the (tilted) volume scaled to about [0, 1] and cropped along the slice axis to the field of
    view of a whole number of slices whose SR grid falls on its voxels; the scan's affine is the truth's
    coarsened by the factor, so its slices overlay the truth exactly. ``params.sidecar`` receives the
    ``SliceThickness`` and ``SpacingBetweenSlices`` that dcm2niix would write beside the scan.
    """
    tilted = tilt_volume(volume, params.axis, params.tilt)
    mm = float(tilted.zooms[params.axis])
    factor = params.spacing / mm
    fits = int(np.floor(tilted.data.shape[params.axis] / factor + 1e-6))
    n_lr = fits
    while n_lr > 1 and abs(n_lr * factor - round(n_lr * factor)) > 1e-6:  # SR voxels on truth voxels
        n_lr -= 1
    if n_lr < fits / 2:
        raise MRISRError(
            f"slices every {params.spacing:g} mm do not fall on whole {mm:g} mm voxels (a field of view of "
            f"{n_lr} slices would, of the {fits} that fit); resample the volume to a voxel size that divides it"
        )
    keep = [slice(None)] * 3
    keep[params.axis] = slice(0, int(round(n_lr * factor)))
    hr = tilted.data[tuple(keep)]
    peak = intensity_scale(hr, 99.9)
    hr = hr / peak
    acquisition = Acquisition.slices(params.axis, factor, params.thickness / mm, params.noise_sigma)
    lr = acquire_axis(hr, params.axis, factor, acquisition.fwhm[params.axis], n_lr)
    if acquisition.noise_sigma > 0:
        normal = np.random.default_rng(params.noise_seed).standard_normal((2, *lr.shape)) * acquisition.noise_sigma
        lr = rician(lr, normal[0], normal[1]).astype(np.float32)
    params.sidecar.update(SliceThickness=params.thickness, SpacingBetweenSlices=params.spacing)
    return Simulation(
        truth=Volume(hr.astype(np.float32), tilted.affine, tilted.header, volume.path),
        lr=Volume(lr, coarsen_affine(tilted.affine, tidy_factors(acquisition.scale)), tilted.header, volume.path),
        peak=peak,
        acquisition=acquisition,
    )


def zero_fill(image: np.ndarray, sizes: dict[int, int]) -> np.ndarray:
    """A complex ``image`` reconstructed on a finer matrix by zero-filled interpolation, as scanners reconstruct
    a 256 acquisition to 512: its spectrum padded with zeros to ``sizes[axis]`` samples along each axis given,
    intensities kept (the field of view is the same, its pixels smaller)."""
    spectrum = np.fft.fftn(image, axes=list(sizes))
    for axis, size in sizes.items():
        n = spectrum.shape[axis]
        if size < n:
            raise MRISRError(f"zero-filling makes a matrix larger, not {n} -> {size}")
        spectrum = np.fft.fftshift(spectrum, axes=axis)
        pad = [(0, 0)] * spectrum.ndim
        pad[axis] = ((size - n + (n % 2 == 0)) // 2, (size - n + (n % 2 == 1)) // 2)
        spectrum = np.fft.ifftshift(np.pad(spectrum, pad), axes=axis) * (size / n)
    return np.fft.ifftn(spectrum, axes=list(sizes))
