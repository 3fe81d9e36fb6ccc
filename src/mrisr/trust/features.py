"""What can be seen without a truth, per SR voxel: the features the error model reads (the SR's edges, its
departure from cubic and from the input, the input's texture and noise, the slice phase, the depth)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import numpy as np
import torch
from scipy import ndimage

from mrisr.acquisition.forward import acquire, blur_decimate, is_integer_factor
from mrisr.acquisition.model import Acquisition
from mrisr.evaluation import interpolate
from mrisr.intensity import foreground_mask
from mrisr.trust.consistency import nearest_index
from mrisr.trust.spread import local_noise_sigma

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


SMOOTH = 1.5
"""Gaussian σ (voxels of the real SR) of the features and of the local error they predict."""


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
