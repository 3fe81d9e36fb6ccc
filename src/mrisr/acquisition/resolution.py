"""A scan's real in-plane resolution, which is often coarser than its pixels, and its grid at that resolution.

Clinical 2D scans are acquired at a matrix of 256-320 and reconstructed by zero-filled interpolation to 512:
the pixels are half the size of what the scanner resolved. dcm2niix writes both matrices in the JSON
sidecar (``AcquisitionMatrixPE``, ``ReconMatrixPE``; Siemens also ``BaseResolution``, the readout's). Without
them the in-plane spectrum says it: zero-filling leaves no power, not even noise, above the acquired band,
so the spectrum falls off a cliff at the band edge.

A scan whose pixels are finer than its resolution is first resampled in-plane to that resolution
(:func:`resample_in_plane`: the Fourier crop that undoes the zero-filling): the planar model then learns its
pairs from pixels that are as sharp as their size, the profile estimate compares the slices with lines
that are, and the SR is isotropic at the resolution, not at the pixel size.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import nibabel as nib
import numpy as np
from scipy import signal

from mrisr import MRISRError
from mrisr.acquisition.geometry import (
    COARSE,
    factors_to,
    find_slice_axis,
    protocol_factors,
    read_sidecar,
    scan_geometry,
)
from mrisr.acquisition.profile import line_segments, power_spectrum
from mrisr.intensity import intensity_scale
from mrisr.io import Volume, coarsen_affine, load_volume

SHARP = 1.1
"""Pixels finer than the resolution by less than this ratio are its size: the scan is kept as it is."""

EDGE_SEGMENT = 128
"""Samples per line segment of the band-edge search (64 frequencies; fewer along a shorter axis)."""

EDGE_DROP = 1.0
"""The fall, in decades of power, that a band edge makes within a few frequencies (a tenfold drop): an image
and its noise have no such cliff, a zero-filled reconstruction has one at the acquired band's edge."""

EDGE_SHARPNESS = 4.0
"""How many times steeper than the fall just below it a band edge falls: a smooth (noise-free, blurred)
image's spectrum falls faster and faster, never off a cliff."""

LOWEST_EDGE = 0.2
"""The lowest band edge searched, as a fraction of Nyquist (a fivefold zero-filling): below it, the steep fall
of an image's own spectrum at low frequencies would pass for one."""

PE_AXES = {"i": 0, "j": 1, "k": 2}
"""BIDS ``PhaseEncodingDirection`` letters and the voxel axes they name."""


@dataclass(frozen=True)
class InPlaneResolution:
    """The resolution (mm) along each voxel axis of a scan (the slice axis: its spacing) and where it came from."""

    mm: tuple[float, float, float]
    source: str

    def spacing(self, pixels: Sequence[float], slice_axis: int) -> float | None:
        """The in-plane voxel size the scan is worked on: its finest in-plane resolution, when that is coarser
        than its pixels by more than :data:`SHARP`; ``None`` when the pixels are the resolution (or when it is
        not finer than the slices: no thick-slice acquisition is, so it is not a resolution)."""
        in_plane = [a for a in range(3) if a != slice_axis]
        finest = min(self.mm[a] for a in in_plane)
        sharp = finest <= SHARP * min(pixels[a] for a in in_plane)
        return None if sharp or finest * COARSE >= pixels[slice_axis] else round(finest, 4)


def sidecar_resolution(
    sidecar: dict[str, object], pixels: Sequence[float], shape: Sequence[int], slice_axis: int
) -> InPlaneResolution | None:
    """The in-plane resolution that the acquisition and reconstruction matrices of a dcm2niix sidecar give, or
    ``None`` when it does not hold both.

    ``ReconMatrixPE / AcquisitionMatrixPE`` is the zero-filling along the phase-encoding axis
    (``PhaseEncodingDirection``); the readout's is ``BaseResolution`` against its matrix where the sidecar
    gives it, else the same ratio (scanners interpolate both in-plane axes alike). Without a phase-encoding
    direction both in-plane axes take the ratio. Partial Fourier is named, not modelled: how much it blurs
    depends on the reconstruction.
    """
    acquired, recon = _number(sidecar, "AcquisitionMatrixPE"), _number(sidecar, "ReconMatrixPE")
    if not acquired or not recon:
        return None
    ratio = recon / acquired
    in_plane = [a for a in range(3) if a != slice_axis]
    mm = [float(p) for p in pixels]
    pe = PE_AXES.get(str(sidecar.get("PhaseEncodingDirection", ""))[:1])
    readout = [a for a in in_plane if a != pe] if pe in in_plane else []
    base = _number(sidecar, "BaseResolution")
    for axis in in_plane:
        axis_ratio = shape[axis] / base if axis in readout and len(readout) == 1 and base else ratio
        mm[axis] = float(pixels[axis]) * max(axis_ratio, 1.0)
    where = f"sidecar: AcquisitionMatrixPE {acquired:g}, ReconMatrixPE {recon:g}"
    where += f", BaseResolution {base:g}" if base and readout else ""
    partial = _number(sidecar, "PartialFourier")
    if partial and partial < 1:
        where += f" (partial Fourier {partial:g}, not modelled)"
    return InPlaneResolution((mm[0], mm[1], mm[2]), where)


def band_edge(data: np.ndarray, axis: int) -> float | None:
    """Where the in-plane spectrum along ``axis`` falls off a cliff, as a fraction of its Nyquist frequency
    (zero-filled interpolation), or ``None`` when it has no cliff (see :data:`EDGE_DROP`).

    The spectrum is the mean periodogram of foreground line segments; the cliff is the frequency with the
    largest fall in log power between the few frequencies below it and the few above, and it is one only when
    the fall exceeds :data:`EDGE_DROP` and nothing above it comes back within half of it.
    """
    length = min(EDGE_SEGMENT, 2 ** int(np.log2(max(data.shape[axis], 2))))
    segments = line_segments(data / intensity_scale(data, 99.9), axis, length)
    if length < 32 or len(segments) < 50:
        return None
    log_power = np.log10(np.maximum(power_spectrum(segments)[1:], 1e-30))  # frequencies 1 … length/2
    n, reach = len(log_power), 3
    lowest = max(2 * reach, int(n * LOWEST_EDGE))
    drops = [
        (log_power[k - reach : k].mean() - log_power[k + 1 : k + 1 + reach].mean(), k) for k in range(lowest, n - reach)
    ]
    drop, k = max(drops)
    below = log_power[k - reach : k].mean()
    before = log_power[k - 2 * reach : k - reach].mean() - below  # the fall just below: a smooth spectrum's
    if drop < EDGE_DROP or drop < EDGE_SHARPNESS * max(before, 0.0) or log_power[k + 1 :].max() > below - EDGE_DROP / 2:
        return None
    return k / n  # the centre of the fall lies one frequency above the last one acquired


def spectrum_resolution(data: np.ndarray, pixels: Sequence[float], slice_axis: int) -> InPlaneResolution:
    """The in-plane resolution that the band edges of the scan's spectrum give (its pixels where there is none)."""
    mm = [float(p) for p in pixels]
    found = []
    for axis in (a for a in range(3) if a != slice_axis):
        edge = band_edge(data, axis)
        if edge is not None and edge < 1 / SHARP:
            mm[axis] = float(pixels[axis]) / edge
            found.append(f"axis {axis} at {edge:.2f} of Nyquist")
    source = f"spectrum: zero-filling band edge, {'; '.join(found)}" if found else "spectrum: no band edge (the pixels)"
    return InPlaneResolution((mm[0], mm[1], mm[2]), source)


def in_plane_resolution(
    data: np.ndarray, pixels: Sequence[float], slice_axis: int, sidecar: dict[str, object]
) -> InPlaneResolution:
    """A scan's in-plane resolution: from its sidecar's matrices where it has them, else from its spectrum."""
    return sidecar_resolution(sidecar, pixels, data.shape, slice_axis) or spectrum_resolution(data, pixels, slice_axis)


def resample_in_plane(volume: Volume, slice_axis: int, spacing: float) -> Volume:
    """``volume`` resampled along its in-plane axes to voxels of about ``spacing`` mm over the same field of view
    (each axis: a whole number of voxels, their size the field of view over it; the affine exact).

    Fourier resampling: the ideal anti-aliasing filter, and the exact inverse of a zero-filled reconstruction.
    Its ringing is clipped at the input's minimum (a magnitude image has no values below it).
    """
    data, scale = np.asarray(volume.data, dtype=np.float64), [1.0, 1.0, 1.0]
    for axis in (a for a in range(3) if a != slice_axis):
        n = data.shape[axis]
        m = resampled_size(n, float(volume.zooms[axis]), spacing)
        if m != n:
            data = signal.resample(data, m, axis=axis)
            scale[axis] = n / m
    floor = float(np.min(volume.data))
    resampled = np.clip(data, floor, None).astype(np.float32)
    return Volume(resampled, coarsen_affine(volume.affine, scale), volume.header, volume.path)


def resampled_size(n: int, mm: float, spacing: float) -> int:
    """Voxels along an axis of ``n`` voxels of ``mm`` once resampled to about ``spacing`` mm over its field of view."""
    return max(1, int(round(n * mm / spacing)))


def working_axis(zooms: Sequence[float], in_plane_mm: float | None) -> int | None:
    """The slice axis of a scan of voxels ``zooms`` whose in-plane axes go to ``in_plane_mm`` (a run's
    ``model.in_plane_mm``), or ``None`` when it stays as it is: no resolution set, no slice axis, or pixels of
    that size already (within 1%)."""
    axis = find_slice_axis(zooms)
    if in_plane_mm is None or axis is None:
        return None
    if all(abs(zooms[a] - in_plane_mm) <= 0.01 * in_plane_mm for a in range(3) if a != axis):
        return None
    return axis


def working_shape(shape: Sequence[int], zooms: Sequence[float], in_plane_mm: float | None) -> tuple[int, ...]:
    """The shape :func:`on_working_grid` gives a scan of this shape and voxels, without reading its data."""
    axis = working_axis(zooms, in_plane_mm)
    if axis is None:
        return tuple(shape)
    return tuple(n if a == axis else resampled_size(n, zooms[a], in_plane_mm) for a, n in enumerate(shape))


def on_working_grid(volume: Volume, in_plane_mm: float | None) -> Volume:
    """``volume`` resampled in-plane to ``in_plane_mm`` (a run's ``model.in_plane_mm``), as it is when
    :func:`working_axis` says so."""
    axis = working_axis(volume.zooms, in_plane_mm)
    return volume if axis is None else resample_in_plane(volume, axis, in_plane_mm)


@dataclass(frozen=True)
class ProtocolGrid:
    """Where a run on scans of one protocol works: the per-axis factors from the grid it works on, the in-plane
    voxel size the scans are resampled to first (``None``: their pixels), and a line that says how."""

    factors: tuple[float | int, ...]
    in_plane_mm: float | None
    described: str


def protocol_grid(
    paths: Sequence[str], spacing: Sequence[float] | float | None = None, thickness: float | None = None
) -> ProtocolGrid:
    """The :class:`ProtocolGrid` of scans of one protocol (voxels checked alike; resolution and thickness from the
    first scan). By default the SR is isotropic at the in-plane resolution; a ``spacing`` (mm: one value or
    three) coarser than the pixels in-plane resamples them to it, a finer one keeps them and says that the SR
    holds no more detail than the resolution."""
    factors, described = protocol_factors(paths, spacing, thickness)
    first = scan_geometry(paths[0], thickness)
    axis = first.slice_axis
    if axis is None:
        return ProtocolGrid(factors, None, described)
    resolution = scan_resolution(paths[0], first.spacing, axis)
    real = [round(resolution.mm[a], 3) for a in range(3) if a != axis]
    line = describe_in_plane(resolution, first.spacing, axis)
    if spacing is None:
        in_plane = resolution.spacing(first.spacing, axis)
    else:
        in_plane = requested_in_plane(spacing, first.spacing, axis)
        finest = min(real)
        if min(np.atleast_1d(spacing)) < finest / COARSE:
            line += f"; --spacing finer than the resolution: the SR holds no more detail than {finest:g} mm"
    if in_plane is None:
        return ProtocolGrid(factors, None, f"{described}\n{line}")
    working = [in_plane if a != axis else first.spacing[a] for a in range(3)]
    factors = factors_to(working, axis, spacing)
    sr = [round(s / f, 3) for s, f in zip(working, factors)]
    line += f"; resampled in-plane to {in_plane:g} mm -> {sr} mm, factors {list(factors)}"
    return ProtocolGrid(factors, in_plane, f"{described}\n{line}")


def scan_resolution(path: str, pixels: Sequence[float], slice_axis: int) -> InPlaneResolution:
    """The in-plane resolution of the scan at ``path`` (as :func:`in_plane_resolution`), its voxels read only
    where the sidecar's matrices do not say it."""
    shape = nib.load(path).shape[:3]  # the header alone
    told = sidecar_resolution(read_sidecar(path), pixels, shape, slice_axis)
    return told or spectrum_resolution(load_volume(path).data, pixels, slice_axis)


def describe_in_plane(resolution: InPlaneResolution, pixels: Sequence[float], slice_axis: int) -> str:
    """Pixel size beside resolution, in words, for the console and the scanner report."""
    size = [round(pixels[a], 3) for a in range(3) if a != slice_axis]
    real = [round(resolution.mm[a], 3) for a in range(3) if a != slice_axis]
    return f"in-plane: pixels {size} mm, resolution {real} mm ({resolution.source})"


def requested_in_plane(spacing: Sequence[float] | float, pixels: Sequence[float], slice_axis: int) -> float | None:
    """The in-plane voxel size a ``--spacing`` asks the scan to be resampled to: its in-plane value where that is
    coarser than the pixels (else ``None``: the pixels are kept). Two in-plane values must agree."""
    wanted = [float(spacing)] * 3 if np.ndim(spacing) == 0 else [float(s) for s in spacing]
    wanted = wanted * 3 if len(wanted) == 1 else wanted
    in_plane = [wanted[a] for a in range(3) if a != slice_axis]
    if max(in_plane) > COARSE * min(in_plane):
        raise MRISRError(f"--spacing {wanted}: give the two in-plane axes one voxel size")
    finest = min(pixels[a] for a in range(3) if a != slice_axis)
    return in_plane[0] if in_plane[0] > COARSE * finest else None


def _number(sidecar: dict[str, object], key: str) -> float | None:
    """A positive number of the sidecar, or ``None``."""
    value = sidecar.get(key)
    if isinstance(value, (int, float)) and not isinstance(value, bool) and value > 0:
        return float(value)
    return None
