"""Forward models of an acquisition: slice profiles and decimation, k-space truncation, simulated scans.

Written by hand because no library does it right (docs/CONVENTIONS.md §4): every transform is block-centred
(LR voxel ``j`` covers HR voxels ``f*j … f*j+f-1``, see :func:`mrisr.io.coarsen_affine`), per-axis
scales go through one code path, and the random parameter draw (:func:`sample_params`) is separate
from the deterministic transform (:func:`degrade`), as in TorchIO's ``make_params``/``apply_transform``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F

from mrisr import MRISRError
from mrisr.acquisition.noise import rician

KINDS = ("gaussian", "kspace")
PROFILE_SHAPES = ("gaussian", "sinc")
"""Slice-profile shapes of the forward model: a Gaussian of some FWHM (slice-selective excitation, the
simulations' thick slices) or the ideal low-pass of k-space truncation (an axis sampled by the readout or
a phase encoding, as :func:`kspace_downsample` does)."""
SINC_LOBES = 6
"""Lobes of the Lanczos window of the sinc profile: 47 dB from the FFT crop of Colin27 (4 lobes: 45 dB)."""
FWHM_TO_SIGMA = 1.0 / (2.0 * np.sqrt(2.0 * np.log(2.0)))


@dataclass
class SimulationParams:
    """Every number needed to reproduce one simulated acquisition."""

    scale: tuple[int, int, int] = (2, 2, 2)
    kind: str = "gaussian"
    fwhm: tuple[float, float, float] | None = None  # slice profile in HR voxels; None = the factor
    noise_sigma: float = 0.0  # Rician noise, in units of the HR's normalised [0, 1] range
    bias_coeffs: list[float] = field(default_factory=list)  # log-field polynomial, see bias_field
    noise_seed: int = 0


def is_integer_factor(factor: float) -> bool:
    """Whether a per-axis factor is a whole number (the block-centred integer grid applies)."""
    return abs(float(factor) - round(float(factor))) < 1e-6


def tidy_factors(scale: Sequence[float]) -> tuple[float | int, ...]:
    """Factors with whole numbers as ``int`` (``4.0 → 4``), the rest as floats rounded to 1e-6."""
    return tuple(int(round(f)) if is_integer_factor(f) else round(float(f), 6) for f in scale)


def slice_centres(n_lr: int, factor: float) -> np.ndarray:
    """HR-voxel coordinates of the centres of ``n_lr`` LR samples spaced ``factor`` HR voxels apart, their
    voxels' edges aligned with the HR grid's first edge: ``(j + ½)·f − ½`` (block centres for integer ``f``)."""
    return (np.arange(n_lr) + 0.5) * float(factor) - 0.5


def slice_matrix(n_hr: int, centres: np.ndarray, fwhm: float) -> np.ndarray:
    """``(n_lr, n_hr)`` weights of a Gaussian slice profile of ``fwhm`` HR voxels centred on each of
    ``centres`` (HR-voxel coordinates, any real values), rows normalised, edges replicated.

    The forward model of slices at any spacing: the FWHM is the slice *thickness*, the centres' step its
    *spacing*, so a gap (thickness below spacing) or an overlap needs nothing more. Exact, no interpolation.
    """
    sigma = max(float(fwhm) * FWHM_TO_SIGMA, 0.25)
    reach = int(np.ceil(6 * sigma)) + 1
    start = np.floor(centres).astype(int)[:, None] + np.arange(-reach, reach + 2)[None, :]
    weights = np.exp(-0.5 * ((start - centres[:, None]) / sigma) ** 2)
    weights /= weights.sum(axis=1, keepdims=True)
    matrix = np.zeros((len(centres), n_hr))
    rows = np.broadcast_to(np.arange(len(centres))[:, None], start.shape)
    np.add.at(matrix, (rows, np.clip(start, 0, n_hr - 1)), weights)
    return matrix


def acquire_axis(hr: np.ndarray, axis: int, factor: float, fwhm: float, n_lr: int | None = None) -> np.ndarray:
    """Slices of ``fwhm`` HR voxels thickness every ``factor`` HR voxels along ``axis`` of a NumPy array, at
    :func:`slice_centres` (``n_lr`` of them; default as many as fit in the field of view)."""
    n_hr = hr.shape[axis]
    n_lr = int(np.floor(n_hr / float(factor) + 1e-6)) if n_lr is None else n_lr
    matrix = slice_matrix(n_hr, slice_centres(n_lr, factor), fwhm).astype(np.float64)
    moved = np.moveaxis(np.asarray(hr, dtype=np.float64), axis, -1)
    return np.moveaxis(moved @ matrix.T, -1, axis).astype(np.float32)


def acquire(hr: np.ndarray, scale: Sequence[float], fwhm: Sequence[float], lr_shape: Sequence[int]) -> np.ndarray:
    """The Gaussian slice-profile forward model onto ``lr_shape`` for any per-axis factors: integer axes as
    :func:`blur_decimate` (block-centred), the others by :func:`acquire_axis`."""
    out = np.asarray(hr, dtype=np.float32)
    for axis, (f, w, n) in enumerate(zip(scale, fwhm, lr_shape)):
        if is_integer_factor(f) and out.shape[axis] == n * round(f):
            one = [1, 1, 1]
            one[axis] = int(round(f))
            profile = torch.zeros(3, dtype=torch.float64)
            profile[axis] = float(w)
            x = torch.from_numpy(out.astype(np.float64))[None, None]
            out = blur_decimate(x, one, profile)[0, 0].numpy().astype(np.float32)
        else:
            out = acquire_axis(out, axis, f, w, n)
    return out


def crop_to_multiple(data: np.ndarray, scale: Sequence[int]) -> np.ndarray:
    """Crop the far end of each axis so its length is a multiple of the factor (origin unchanged)."""
    return data[tuple(slice(0, (n // f) * f) for n, f in zip(data.shape, scale))]


def check_scale(shape: Sequence[int], scale: Sequence[int]) -> None:
    if len(scale) != 3 or any(int(f) != f or f < 1 for f in scale):
        raise MRISRError(f"the scale must be three positive integers, got {list(scale)}")
    if any(n % f for n, f in zip(shape, scale)):
        raise MRISRError(f"shape {tuple(shape)} is not a multiple of the scale {tuple(scale)}")


def gaussian_downsample(hr: np.ndarray, scale: Sequence[int], fwhm: Sequence[float] | None = None) -> np.ndarray:
    """Gaussian slice profile + decimation of a NumPy volume (see :func:`blur_decimate`)."""
    check_scale(hr.shape, scale)
    if fwhm is None:
        fwhm = default_fwhm(scale)
    x = torch.from_numpy(np.asarray(hr, dtype=np.float64))[None, None]
    return blur_decimate(x, scale, torch.tensor(fwhm, dtype=torch.float64))[0, 0].numpy().astype(np.float32)


def default_fwhm(scale: Sequence[int]) -> tuple[float, ...]:
    """A slice profile as wide as the slice: FWHM = factor (in HR voxels); no blur where the factor is 1."""
    return tuple(float(f) if f > 1 else 0.0 for f in scale)


def max_fwhm(factor: int) -> float:
    """The widest slice profile considered: twice the slice spacing."""
    return 2.0 * factor


def profile_weights(factor: int, fwhm: torch.Tensor, shape: str = "gaussian") -> tuple[torch.Tensor, int]:
    """The slice-profile weights of LR voxel 0 over HR voxels ``-radius … radius + factor - 1``, and ``radius``.

    ``"gaussian"``: the support is fixed by the widest profile (:func:`max_fwhm`), so it does not change while
    a learned FWHM does; ``fwhm`` (HR voxels) may require grad. ``"sinc"``: the ideal low-pass at the LR's
    Nyquist frequency, Lanczos-windowed over :data:`SINC_LOBES` lobes; ``fwhm`` is not used.
    """
    if shape not in PROFILE_SHAPES:
        raise MRISRError(f"unknown slice-profile shape {shape!r}; choose one of {PROFILE_SHAPES}")
    centre = (factor - 1) / 2.0
    reach = SINC_LOBES * factor if shape == "sinc" else 3.0 * max_fwhm(factor) * FWHM_TO_SIGMA
    radius = int(np.ceil(reach + centre))
    offsets = torch.arange(-radius, radius + factor, dtype=fwhm.dtype, device=fwhm.device) - centre
    if shape == "sinc":
        weights = torch.sinc(offsets / factor) * torch.sinc(offsets / reach) * (offsets.abs() < reach)
    else:
        sigma = (fwhm * FWHM_TO_SIGMA).clamp_min(0.25)
        weights = torch.exp(-0.5 * (offsets / sigma) ** 2)
    return weights / weights.sum(), radius


def white_noise_kept(scale: Sequence[int], fwhm: Sequence[float], shape: str = "gaussian") -> float:
    """The share of white noise's std that survives :func:`blur_decimate` with these factors and profile:
    ``prod sqrt(sum w²)`` over the axes it blurs (``shape`` along the coarse ones, Gaussian elsewhere)."""
    kept = 1.0
    for f, w in zip(scale, fwhm):
        if f > 1 or float(w) > 0:
            along = shape if f > 1 else "gaussian"
            weights, _ = profile_weights(int(f), torch.as_tensor(float(w), dtype=torch.float64), along)
            kept *= float(weights.pow(2).sum().sqrt())
    return kept


def blur_decimate(x: torch.Tensor, scale: Sequence[int], fwhm: torch.Tensor, shape: str = "gaussian") -> torch.Tensor:
    """Separable slice profile + decimation on ``(B, C, D, H, W)``, sampled at LR block centres.

    ``LR[j] = sum_m w(m) HR[f*j + m]`` with ``w`` a normalised profile (:func:`profile_weights`) centred on
    ``(f-1)/2``: the profile sits on the block centre, even for even factors, so no half-voxel shift creeps
    in. ``fwhm`` (HR voxels, one per axis) may require grad: the learned degradation uses this same
    function. Axes with factor 1 and FWHM 0 are left alone; edges are replicated.
    """
    for axis, f in enumerate(scale):
        f = int(f)
        if f == 1 and float(fwhm[axis].detach()) <= 0:
            continue
        weights, radius = profile_weights(f, fwhm[axis].to(x), shape if f > 1 else "gaussian")
        dim = 2 + axis
        pad = [0] * 6
        pad[2 * (4 - dim)], pad[2 * (4 - dim) + 1] = radius, radius
        padded = F.pad(x, pad, mode="replicate")
        kernel = [1, 1, 1, 1, 1]
        kernel[dim] = len(weights)
        stride = [1, 1, 1]
        stride[axis] = f
        b, c = x.shape[:2]
        out = F.conv3d(padded.reshape(b * c, 1, *padded.shape[2:]), weights.reshape(kernel), stride=stride)
        x = out.reshape(b, c, *out.shape[2:])
    return x


def kspace_downsample(hr: np.ndarray, scale: Sequence[int]) -> np.ndarray:
    """The paper's degradation: keep the central 1/f of k-space per axis, inverse FFT, magnitude.

    A plain centred crop samples at HR voxels ``f*j``; a linear phase first shifts the image by
    ``(f-1)/2`` voxels so the LR samples fall on block centres. Intensities keep the HR's scale.
    """
    check_scale(hr.shape, scale)
    spectrum = np.fft.fftn(np.asarray(hr, dtype=np.float64))
    for axis, f in enumerate(scale):
        if f == 1:
            continue
        n = hr.shape[axis]
        shift = np.exp(2j * np.pi * np.fft.fftfreq(n) * (f - 1) / 2.0)
        spectrum = spectrum * shift.reshape([-1 if a == axis else 1 for a in range(3)])
        keep = n // f
        shifted = np.fft.fftshift(spectrum, axes=axis)
        start = n // 2 - keep // 2
        spectrum = np.fft.ifftshift(np.take(shifted, np.arange(start, start + keep), axis=axis), axes=axis)
    lr = np.fft.ifftn(spectrum) / float(np.prod(scale))
    return np.abs(lr).astype(np.float32)


def bias_field(shape: Sequence[int], coeffs: Sequence[float]) -> np.ndarray:
    """Smooth multiplicative field ``exp(sum c_k * P_k(x, y, z))`` over the first-and-second-order monomials."""
    grids = np.meshgrid(*[np.linspace(-1, 1, n) for n in shape], indexing="ij")
    x, y, z = grids
    basis = [x, y, z, x * y, x * z, y * z, x**2, y**2, z**2]
    log_field = sum(c * b for c, b in zip(coeffs, basis))
    return np.exp(log_field).astype(np.float32) if len(coeffs) else np.ones(shape, np.float32)


def degrade(hr: np.ndarray, params: SimulationParams) -> np.ndarray:
    """Apply one simulated acquisition (deterministic given ``params``): blur/crop, bias, noise."""
    if params.kind == "gaussian":
        lr = gaussian_downsample(hr, params.scale, params.fwhm)
    elif params.kind == "kspace":
        lr = kspace_downsample(hr, params.scale)
    else:
        raise MRISRError(f"unknown degradation {params.kind!r}; choose one of {KINDS}")
    if params.bias_coeffs:
        lr = lr * bias_field(lr.shape, params.bias_coeffs)
    if params.noise_sigma <= 0:
        return lr
    normal = np.random.default_rng(params.noise_seed).standard_normal((2, *lr.shape))
    return rician(lr, params.noise_sigma * normal[0], params.noise_sigma * normal[1]).astype(np.float32)


def sample_params(
    rng: np.random.Generator,
    scale: Sequence[int],
    *,
    kind: str = "gaussian",
    fwhm_range: tuple[float, float] = (1.0, 1.0),
    noise_range: tuple[float, float] = (0.0, 0.0),
    bias_strength: float = 0.0,
) -> SimulationParams:
    """Draw random acquisition parameters; ``fwhm_range`` is relative to the factor of each axis."""
    fwhm = tuple(float(f * rng.uniform(*fwhm_range)) if f > 1 else 0.0 for f in scale)
    return SimulationParams(
        scale=tuple(int(f) for f in scale),
        kind=kind,
        fwhm=fwhm,
        noise_sigma=float(rng.uniform(*noise_range)),
        bias_coeffs=[float(c) for c in rng.normal(0.0, bias_strength, 9)] if bias_strength > 0 else [],
        noise_seed=int(rng.integers(2**31)),
    )
