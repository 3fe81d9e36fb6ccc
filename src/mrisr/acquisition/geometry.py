"""A scan's acquisition geometry from its header and JSON sidecar: slice axis, spacing, thickness, factors.

dcm2niix, which makes most NIfTI files users have, writes the slice *spacing* into the affine and the
slice *thickness* into the JSON sidecar beside the file (same stem: ``SliceThickness``,
``SpacingBetweenSlices``). Both matter: slices 4 mm thick every 5 mm leave a 1 mm gap, and the forward model
blurs with the thickness and samples at the spacing (:func:`mrisr.acquisition.forward.slice_matrix`).

Rules (docs/USER_GUIDE.md, "Your own scans"):

- voxel sizes are the affine's column norms (oblique affines included);
- the slice axis is the voxel axis with the coarsest spacing, when it is more than :data:`COARSE` times
  the finest other one; otherwise the scan is (nearly) isotropic and has none;
- the SR spacing is ``--spacing`` (one value for every axis, or three), by default the finest in-plane
  spacing along the slice axis, with the in-plane axes kept as they are (a non-square in-plane grid
  keeps its two spacings: the planar model learns from the sharp planes as they were sampled); where the
  pixels are finer than the scan's in-plane resolution, :func:`mrisr.acquisition.resolution.protocol_grid`
  puts that resolution in place of the pixels;
- a factor is a spacing over the SR spacing and need not be an integer; one within :data:`COARSE` of 1
  is 1 (that axis is kept).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import nibabel as nib
import numpy as np

from mrisr import MRISRError
from mrisr.acquisition.forward import tidy_factors

COARSE = 1.1
"""An axis whose spacing is within this ratio of another's is not coarser than it: the scan is isotropic
along both (a 1.05 mm slice spacing beside 1 mm pixels is resampled, not super-resolved)."""

MAX_THICKNESS_RATIO = 3.0
"""Slices thicker than this many spacings are refused: overlapping that much is not an acquisition, it is
a header error (e.g. a thickness in the wrong unit)."""

ISOTROPIC_DEFAULT = 2
"""The factor per axis of a scan without a slice axis and without ``--spacing``: each axis doubled."""


@dataclass(frozen=True)
class ScanGeometry:
    """Where a scan's voxels are and how thick its slices were, each value with where it came from."""

    path: str
    spacing: tuple[float, float, float]  # voxel sizes, mm (the affine's column norms)
    slice_axis: int | None  # the coarse voxel axis, None for an isotropic scan
    thickness: float | None  # slice thickness along the slice axis, mm; None when nothing says it
    thickness_source: str  # "--slice-thickness", "sidecar SliceThickness", or why it is unknown

    def factors(self, target: Sequence[float] | float | None = None) -> tuple[float | int, ...]:
        """Per-axis factors to the SR spacing ``target`` (mm: one value or three; see the module doc)."""
        return factors_to(self.spacing, self.slice_axis, target)


def sidecar_path(path: str | Path) -> Path:
    """``scan.nii.gz`` → ``scan.json`` (the BIDS / dcm2niix sidecar beside it)."""
    p = Path(path)
    stem = p.name[: -len(".nii.gz")] if p.name.endswith(".nii.gz") else p.name.removesuffix(".nii")
    return p.with_name(stem + ".json")


def read_sidecar(path: str | Path) -> dict[str, object]:
    """The JSON sidecar of a scan, ``{}`` when there is none; an unreadable one is an error, not ignored."""
    side = sidecar_path(path)
    if not side.is_file():
        return {}
    try:
        data = json.loads(side.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise MRISRError(f"{side}: not a readable JSON sidecar ({err})") from None
    if not isinstance(data, dict):
        raise MRISRError(f"{side}: a JSON sidecar must be an object")
    return data


def find_slice_axis(spacing: Sequence[float]) -> int | None:
    """The voxel axis with the coarsest spacing, if it is more than :data:`COARSE` times every other."""
    order = np.argsort(spacing)
    coarsest, second = float(spacing[order[2]]), float(spacing[order[1]])
    return int(order[2]) if coarsest > COARSE * second else None


def factors_to(
    spacing: Sequence[float], slice_axis: int | None, target: Sequence[float] | float | None = None
) -> tuple[float | int, ...]:
    """Per-axis factors from ``spacing`` to the SR spacing ``target`` (see the module doc)."""
    if target is None:
        if slice_axis is None:
            return (ISOTROPIC_DEFAULT,) * 3
        finest = min(s for a, s in enumerate(spacing) if a != slice_axis)
        return tidy_factors([spacing[a] / finest if a == slice_axis else 1 for a in range(3)])
    wanted = [float(target)] * 3 if np.ndim(target) == 0 else [float(t) for t in target]
    if len(wanted) not in (1, 3) or min(wanted) <= 0:
        raise MRISRError(f"--spacing takes one positive value or three, got {list(np.atleast_1d(target))}")
    wanted = wanted * 3 if len(wanted) == 1 else wanted
    ratios = [s / t for s, t in zip(spacing, wanted)]
    return tidy_factors([r if r > COARSE else 1 for r in ratios])


def scan_geometry(path: str | Path, thickness: float | None = None, sidecar: dict | None = None) -> ScanGeometry:
    """The :class:`ScanGeometry` of a NIfTI file: its header, its sidecar (the JSON beside it, unless the
    metadata is gathered elsewhere and given as ``sidecar``), and ``thickness`` (mm) when given.

    A sidecar whose ``SpacingBetweenSlices`` disagrees with the header's slice spacing by more than 10%
    does not describe this file, and a thickness above :data:`MAX_THICKNESS_RATIO` spacings is not an
    acquisition: both are refused in one line.
    """
    name = str(path)
    try:
        header = nib.load(name).header
    except Exception as err:  # nibabel raises many kinds on a file that is not NIfTI
        raise MRISRError(f"{name}: not a readable NIfTI file ({type(err).__name__})") from None
    affine = header.get_best_affine()
    spacing = tuple(float(v) for v in nib.affines.voxel_sizes(affine))
    axis = find_slice_axis(spacing)
    side = read_sidecar(name) if sidecar is None else sidecar
    normal = axis if axis is not None else int(np.argmax(spacing))
    between = side.get("SpacingBetweenSlices")
    if isinstance(between, (int, float)) and abs(between - spacing[normal]) > 0.1 * spacing[normal]:
        raise MRISRError(
            f"{sidecar_path(name)}: SpacingBetweenSlices {between} mm does not match the file's slice spacing "
            f"{spacing[normal]:.3f} mm: the sidecar is not this file's"
        )
    source = "--slice-thickness"
    if thickness is None:
        given = side.get("SliceThickness")
        if isinstance(given, (int, float)) and not isinstance(given, bool):
            thickness, source = float(given), "sidecar SliceThickness"
        else:
            source = "not given (no --slice-thickness, no SliceThickness in a sidecar): taken as the spacing"
    if thickness is not None:
        if thickness <= 0:
            raise MRISRError(f"{name}: slice thickness {thickness} mm ({source}) must be positive")
        if thickness > MAX_THICKNESS_RATIO * spacing[normal]:
            raise MRISRError(
                f"{name}: slice thickness {thickness} mm ({source}) is more than {MAX_THICKNESS_RATIO:g}x the slice "
                f"spacing {spacing[normal]:.3f} mm; check the unit or the sidecar"
            )
    return ScanGeometry(name, spacing, axis, thickness, source)


def protocol_factors(
    paths: Sequence[str | Path], spacing: Sequence[float] | float | None = None, thickness: float | None = None
) -> tuple[tuple[float | int, ...], str]:
    """The per-axis factors of a run on scans of one protocol, from their headers, and a line that says how
    they were found. Scans whose voxels differ from the first's by more than 5% are refused."""
    first = scan_geometry(paths[0], thickness)
    for path in paths[1:]:
        other = scan_geometry(path, thickness)
        if other.slice_axis != first.slice_axis or any(
            abs(a - b) > 0.05 * b for a, b in zip(other.spacing, first.spacing)
        ):
            raise MRISRError(
                f"{path}: voxels {[round(v, 3) for v in other.spacing]} mm differ from {paths[0]}'s "
                f"{[round(v, 3) for v in first.spacing]} mm; train one model per protocol"
            )
    if spacing is not None and np.ndim(spacing) == 1 and len(spacing) == 1:
        spacing = spacing[0]
    factors = first.factors(spacing)
    where = "no slice axis (isotropic)" if first.slice_axis is None else f"slice axis {first.slice_axis}"
    thick = "" if first.thickness is None else f", slices {first.thickness:g} mm thick ({first.thickness_source})"
    voxels = [round(v, 3) for v in first.spacing]
    sr = [round(s / f, 3) for s, f in zip(first.spacing, factors)]
    return factors, f"geometry: voxels {voxels} mm, {where}{thick} -> {sr} mm, factors {list(factors)}"


def slice_axis(scale: Sequence[float]) -> int:
    """The one axis with a factor above 1; a clear error for factors the planar model cannot serve."""
    coarse = [axis for axis, f in enumerate(scale) if f > 1]
    if len(coarse) != 1:
        raise ValueError(f"the planar model needs exactly one axis with a factor above 1, got {tuple(scale)}")
    return coarse[0]
