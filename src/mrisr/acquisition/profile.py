"""Estimate an acquisition's slice profile from images alone, by matching power spectra along each axis.

Along an axis acquired with factor ``f``, an LR line is an HR line blurred by the slice profile and sampled
every ``f`` voxels: its power spectrum is the HR spectrum times ``|H|²``, aliased, plus a flat noise floor.
Given HR reference volumes (the HR sources of training), the FWHM is the one whose blurred and
decimated reference spectrum best fits the LR spectrum, up to a gain (contrast) and the LR's noise floor.

No voxel correspondence is used, only spectra averaged over thousands of line segments, so the
references need not be the same subject; the estimate is exact when their anatomy looks like the
target's (``tests/test_profile.py``: within 10% on Colin27) and biased when it is smoother
(templates are averages) or sharper.

When the scan has full-resolution axes (thick slices, ``1×1×f``) the reference is the scan itself, as in
SMORE/ESPRESO: lines along an in-plane axis are the same subject and contrast at HR sampling. They are
blurred across by the slice profile, so the LR lines they are compared with are blurred across by the
current estimate too (along that in-plane axis), and the estimate is refined over a few sweeps. On
Colin27 with a 4-voxel profile this gives 3.75 where population templates give 3.1.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from mrisr.acquisition.forward import acquire_axis, blur_decimate, is_integer_factor

SEGMENT = 32
"""LR samples per line segment: the spectra have ``SEGMENT // 2`` frequencies above DC."""

SEARCH = (0.5, 2.0)
"""The FWHMs searched, relative to each axis's nominal FWHM (the slice thickness, or the factor when the
thickness is not known): an estimate at either end is only a bound."""


def search_grid(nominal: float) -> np.ndarray:
    """The candidate FWHMs (HR voxels) of an axis whose nominal FWHM is ``nominal``."""
    return np.linspace(SEARCH[0] * nominal, SEARCH[1] * nominal, 61)


def on_search_bound(fwhm: Sequence[float], scale: Sequence[float], nominal: Sequence[float] | None = None) -> list[int]:
    """The coarse axes whose FWHM estimate sits at (within a grid step of) either end of :data:`SEARCH`
    around its ``nominal`` FWHM (default: the factor)."""
    step = (SEARCH[1] - SEARCH[0]) / 60
    nominal = scale if nominal is None else nominal
    return [
        axis
        for axis, (w, f, n) in enumerate(zip(fwhm, scale, nominal))
        if f > 1 and min(abs(w / n - SEARCH[0]), abs(w / n - SEARCH[1])) < step
    ]


def line_segments(volume: np.ndarray, axis: int, length: int, threshold: float = 0.3) -> np.ndarray:
    """Non-overlapping segments of ``length`` voxels along ``axis`` whose mean is foreground, ``(N, length)``."""
    lines = np.moveaxis(np.asarray(volume, dtype=np.float64), axis, -1)
    usable = (lines.shape[-1] // length) * length
    segments = lines[..., :usable].reshape(-1, length)
    return segments[segments.mean(axis=1) > threshold]


def power_spectrum(segments: np.ndarray) -> np.ndarray:
    """Mean Hann-windowed periodogram of mean-removed segments (frequencies 0 … 1/2 per sample)."""
    window = np.hanning(segments.shape[1])
    centred = segments - segments.mean(axis=1, keepdims=True)
    return (np.abs(np.fft.rfft(centred * window, axis=1)) ** 2).mean(axis=0) / (window**2).sum()


def reference_length(factor: float, segment: int = SEGMENT) -> int:
    """HR samples of a reference segment that :func:`blur_lines` turns into ``segment`` LR samples."""
    return int(np.ceil(segment * factor - 1e-6))


def segment_length(factor: float, reference_voxels: int, slices: int) -> int:
    """LR samples per segment of a self-referenced estimate: :data:`SEGMENT`, or half of it when the scan has
    fewer ``slices`` or the reference segments it needs are longer than the longest in-plane axis
    (``reference_voxels``; slices 6 mm apart on 1 mm pixels: no 192-voxel line fits in 181 voxels)."""
    return SEGMENT if slices >= SEGMENT and reference_length(factor) <= reference_voxels else SEGMENT // 2


def blur_lines(segments: np.ndarray, factor: float, fwhm: float, shape: str = "gaussian") -> np.ndarray:
    """The slice profile of :func:`mrisr.acquisition.forward.blur_decimate` applied along each segment
    (:func:`mrisr.acquisition.forward.acquire_axis` at a non-integer factor)."""
    if not is_integer_factor(factor):
        return acquire_axis(segments, 1, factor, fwhm).astype(np.float64)
    factor = int(round(factor))
    x = torch.from_numpy(segments)[None, None, :, None, :]
    profile = torch.tensor([0.0, 0.0, fwhm], dtype=torch.float64)
    return blur_decimate(x, (1, 1, factor), profile, shape)[0, 0, :, 0, :].numpy()


def spectral_misfit(target: np.ndarray, model: np.ndarray, floor: float) -> float:
    """Mean squared log ratio of ``target`` to ``gain * model + floor``, with the best gain (contrast)."""
    t, m = target[1:], model[1:]  # the DC bin holds only window leakage of the removed mean
    ratio = m / t
    gain = max(float((ratio * (1 - floor / t)).sum() / (ratio**2).sum()), 1e-12)
    return float(np.mean(np.log(np.maximum(gain * m + floor, 1e-20) / t) ** 2))


def fit_fwhm(target: np.ndarray, reference: np.ndarray, factor: float, grid: np.ndarray, noise_sigma: float) -> float:
    """The FWHM in ``grid`` whose blurred, decimated ``reference`` best matches the ``target`` spectrum.

    White noise of std ``noise_sigma`` adds a flat ``noise_sigma²`` to the target's periodogram.
    """
    wanted = power_spectrum(target)
    floor = noise_sigma**2
    errors = [spectral_misfit(wanted, power_spectrum(blur_lines(reference, factor, w)), floor) for w in grid]
    return float(grid[int(np.argmin(errors))])


def estimate_fwhm(
    lr: np.ndarray,
    scale: Sequence[int],
    references: Sequence[np.ndarray],
    *,
    noise_sigma: float = 0.0,
    max_segments: int = 4000,
    seed: int = 0,
    nominal: Sequence[float] | None = None,
) -> tuple[float, float, float]:
    """Slice-profile FWHM per axis, in HR voxels (0 where the factor is 1), of ``lr`` against HR ``references``,
    searched around the ``nominal`` FWHM of each axis (default: the factor).

    All volumes are normalised to about [0, 1]; ``noise_sigma`` is the LR's (e.g. from
    :func:`mrisr.acquisition.noise.estimate_noise_sigma`): its flat floor must not be mistaken for sharpness.
    Two sweeps: the second blurs each reference across by the other axes' first estimates, since an LR
    line is blurred across as well as along. An axis too short for the spectra keeps FWHM = factor.
    """
    nominal = [float(f) for f in scale] if nominal is None else [float(n) for n in nominal]
    full = [a for a, f in enumerate(scale) if f == 1]
    if full and max(scale) > 1:
        return self_referenced_fwhm(
            lr, scale, full, noise_sigma=noise_sigma, max_segments=max_segments, seed=seed, nominal=nominal
        )
    fwhm = [n if f > 1 else 0.0 for f, n in zip(scale, nominal)]
    for _ in range(2):
        rng = np.random.default_rng(seed)
        for axis, f in enumerate(scale):
            if f == 1:
                continue
            target, reference = _axis_segments(lr, axis, scale, references, fwhm, max_segments, rng)
            if len(target) >= 50 and len(reference) >= 50:
                fwhm[axis] = fit_fwhm(target, reference, f, search_grid(nominal[axis]), noise_sigma)
    return fwhm[0], fwhm[1], fwhm[2]


def fits_sinc(
    lr: np.ndarray,
    scale: Sequence[int],
    references: Sequence[np.ndarray],
    fwhm: Sequence[float],
    *,
    noise_sigma: float = 0.0,
    max_segments: int = 4000,
    seed: int = 0,
) -> bool:
    """Whether k-space truncation (the sinc profile) explains the spectra of ``lr`` better than the Gaussian of
    the estimated ``fwhm`` along every decimated axis: one acquisition has one kind of profile, and one axis
    alone can tip either way against a smoother population reference."""
    rng = np.random.default_rng(seed)
    verdicts = []
    for axis, f in enumerate(scale):
        if f == 1:
            continue
        target, reference = _axis_segments(lr, axis, scale, references, fwhm, max_segments, rng)
        if len(target) < 50 or len(reference) < 50:
            return False
        wanted = power_spectrum(target)
        misfits = [
            spectral_misfit(wanted, power_spectrum(blur_lines(reference, f, fwhm[axis], shape)), noise_sigma**2)
            for shape in ("gaussian", "sinc")
        ]
        verdicts.append(misfits[1] < misfits[0])
    return bool(verdicts) and all(verdicts)


def _axis_segments(
    lr: np.ndarray,
    axis: int,
    scale: Sequence[int],
    references: Sequence[np.ndarray],
    fwhm: Sequence[float],
    max_segments: int,
    rng: np.random.Generator,
) -> tuple[np.ndarray, np.ndarray]:
    """LR line segments along ``axis`` and HR reference segments (``factor`` times longer) to match them with,
    the references degraded across ``axis`` by the other axes' current ``fwhm``."""
    across = [0.0 if a == axis else w for a, w in enumerate(fwhm)]
    pool = [line_segments(_blur_across(r, axis, scale, across), axis, SEGMENT * scale[axis]) for r in references]
    target = _subsample(line_segments(lr, axis, SEGMENT), max_segments, rng)
    return target, _subsample(np.concatenate(pool), max_segments, rng)


def self_referenced_fwhm(
    lr: np.ndarray,
    scale: Sequence[int],
    full_axes: Sequence[int],
    *,
    noise_sigma: float = 0.0,
    max_segments: int = 4000,
    seed: int = 0,
    sweeps: int = 3,
    nominal: Sequence[float] | None = None,
) -> tuple[float, float, float]:
    """The profile of each decimated axis against the scan's own full-resolution axes (see the module doc),
    searched around its ``nominal`` FWHM (default: the factor)."""
    nominal = [float(f) for f in scale] if nominal is None else [float(n) for n in nominal]
    fwhm = [n if f > 1 else 0.0 for f, n in zip(scale, nominal)]
    for _ in range(sweeps):
        for axis, f in enumerate(scale):
            if f == 1:
                continue
            estimates = []
            blurred_sigma = _blurred_noise(noise_sigma, fwhm[axis])  # the LR lines are blurred across below
            grid = search_grid(nominal[axis])
            for reference_axis in full_axes:
                target, reference = _self_segments(lr, axis, reference_axis, f, fwhm[axis], max_segments, seed)
                if len(target) >= 50 and len(reference) >= 50:
                    estimates.append(fit_fwhm(target, reference, f, grid, blurred_sigma))
            if estimates:
                fwhm[axis] = float(np.mean(estimates))
    return fwhm[0], fwhm[1], fwhm[2]


def self_referenced(shape: Sequence[int], scale: Sequence[float]) -> bool:
    """Whether a thick-slice scan of ``shape`` is long enough along its slice axis, and wide enough in-plane,
    for one segment of the self-referenced estimate (else it keeps the nominal FWHM: no measurement)."""
    axis = next(a for a, f in enumerate(scale) if f > 1)
    longest = max(n for a, n in enumerate(shape) if a != axis)
    segment = segment_length(float(scale[axis]), longest, shape[axis])
    return shape[axis] >= segment and reference_length(float(scale[axis]), segment) <= longest


def _self_segments(
    lr: np.ndarray, axis: int, reference_axis: int, factor: float, fwhm: float, max_segments: int, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """LR segments along the slice ``axis``, blurred across by ``fwhm`` along ``reference_axis``, and the scan's
    own segments along ``reference_axis`` to match them with."""
    rng = np.random.default_rng(seed)
    segment = segment_length(factor, max(n for a, n in enumerate(lr.shape) if a != axis), lr.shape[axis])
    target = _subsample(line_segments(_blur_along(lr, reference_axis, fwhm), axis, segment), max_segments, rng)
    reference = _subsample(line_segments(lr, reference_axis, reference_length(factor, segment)), max_segments, rng)
    return target, reference


def self_referenced_misfit(
    lr: np.ndarray, scale: Sequence[float], fwhm: Sequence[float], shape: str = "gaussian", *, noise_sigma: float = 0.0
) -> float:
    """How far the slice profile ``fwhm`` (HR voxels) of ``shape`` is from explaining a thick-slice scan: the
    spectral misfit (:func:`spectral_misfit`) of its slice-axis lines against its own in-plane lines blurred by
    that profile, averaged over the in-plane axes; ``inf`` when the scan is too small to tell."""
    axis = next(a for a, f in enumerate(scale) if f > 1)
    f = float(scale[axis])
    floor = _blurred_noise(noise_sigma, fwhm[axis]) ** 2
    misfits = []
    for reference_axis in (a for a, g in enumerate(scale) if g == 1):
        target, reference = _self_segments(lr, axis, reference_axis, f, fwhm[axis], 4000, 0)
        if len(target) >= 50 and len(reference) >= 50:
            wanted = power_spectrum(target)
            misfits.append(spectral_misfit(wanted, power_spectrum(blur_lines(reference, f, fwhm[axis], shape)), floor))
    return float(np.mean(misfits)) if misfits else float("inf")


def _blur_along(volume: np.ndarray, axis: int, fwhm: float) -> np.ndarray:
    """``volume`` blurred along ``axis`` by the slice-profile kernel of ``fwhm`` voxels, not decimated."""
    profile = torch.zeros(3, dtype=torch.float64)
    profile[axis] = fwhm
    x = torch.from_numpy(np.asarray(volume, dtype=np.float64))[None, None]
    return blur_decimate(x, (1, 1, 1), profile)[0, 0].numpy()


def _blurred_noise(noise_sigma: float, fwhm: float) -> float:
    """The std of white noise of ``noise_sigma`` once blurred by the slice-profile kernel of ``fwhm`` voxels
    (scaled by the kernel's norm)."""
    return noise_sigma * float(np.sqrt((_blur_along(_delta(), 0, fwhm) ** 2).sum()))


def _delta(size: int = 33) -> np.ndarray:
    """A unit impulse along axis 0: blurred, its sum of squares is the noise-variance gain of the kernel."""
    delta = np.zeros((size, 1, 1))
    delta[size // 2] = 1.0
    return delta


def _blur_across(volume: np.ndarray, axis: int, scale: Sequence[int], fwhm: Sequence[float]) -> np.ndarray:
    """``volume`` degraded along every axis but ``axis``, so its lines along ``axis`` look like the LR's."""
    other = [1 if a == axis else f for a, f in enumerate(scale)]
    cropped = volume[tuple(slice(0, (n // f) * f) for n, f in zip(volume.shape, other))]
    x = torch.from_numpy(np.asarray(cropped, dtype=np.float64))[None, None]
    return blur_decimate(x, other, torch.tensor(fwhm, dtype=torch.float64))[0, 0].numpy()


def _subsample(segments: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    return segments if len(segments) <= n else segments[rng.choice(len(segments), n, replace=False)]


def estimate_profile(
    lr_volumes: Sequence[np.ndarray],
    references: Sequence[np.ndarray],
    scale: Sequence[int],
    noise_sigmas: Sequence[float],
    most: int = 3,
    nominal: Sequence[float] | None = None,
) -> tuple[float, float, float]:
    """Slice-profile FWHM per axis (HR voxels): the median of the estimates of up to ``most`` LR volumes
    against up to ``most`` HR references, or against their own full-resolution axes where they have some,
    searched around the ``nominal`` FWHM (default: the factor)."""
    estimates = [
        estimate_fwhm(lr, scale, list(references[:most]), noise_sigma=sigma, nominal=nominal)
        for lr, sigma in zip(lr_volumes[:most], noise_sigmas[:most])
    ]
    median = np.median(np.asarray(estimates), axis=0)
    return float(median[0]), float(median[1]), float(median[2])


def sharper_than_any_gaussian(fwhm: Sequence[float], scale: Sequence[int]) -> bool:
    """Whether every decimated axis's Gaussian estimate sits on the lower end of :data:`SEARCH`."""
    step = (SEARCH[1] - SEARCH[0]) / 60
    return all(w / f - SEARCH[0] < step for w, f in zip(fwhm, scale) if f > 1)


def estimate_shape(
    lr_volumes: Sequence[np.ndarray],
    references: Sequence[np.ndarray],
    scale: Sequence[int],
    noise_sigmas: Sequence[float],
    fwhm: Sequence[float],
    most: int = 3,
) -> str:
    """The profile shape of the acquisition: ``"sinc"`` (k-space truncation) or ``"gaussian"``.

    ``"sinc"`` when the Gaussian estimate ``fwhm`` sits on the lower end of the search along every decimated
    axis (no Gaussian is sharp enough without aliasing more than the scan shows), or when :func:`fits_sinc`
    holds for most of up to ``most`` LR volumes. Always ``"gaussian"`` for scans with full-resolution axes
    (thick slices: a slice-selective profile).
    """
    if 1 in scale:
        return "gaussian"
    if sharper_than_any_gaussian(fwhm, scale):
        return "sinc"
    votes = [
        fits_sinc(lr, scale, list(references[:most]), fwhm, noise_sigma=sigma)
        for lr, sigma in zip(lr_volumes[:most], noise_sigmas[:most])
    ]
    return "sinc" if 2 * sum(votes) > len(votes) else "gaussian"
