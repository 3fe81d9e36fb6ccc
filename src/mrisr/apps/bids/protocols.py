"""Scans grouped by protocol: the same contrast, voxels, slice thickness and slice direction.

Scans of one protocol share their slice profile, noise and contrast, so one model trained on a few of them
serves the rest at inference speed.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import nibabel as nib
import numpy as np

from mrisr import MRISRError
from mrisr.acquisition.geometry import scan_geometry
from mrisr.apps.bids.layout import BidsScan, inherited_metadata

DIRECTIONS = ("sagittal", "coronal", "axial")
"""The slice direction by the world axis (x, y, z) the slice axis runs along most."""


@dataclass(frozen=True)
class Protocol:
    """What the scans of one model have in common."""

    suffix: str
    voxels: tuple[float, float, float]  # mm, rounded to 0.01
    thickness: float | None  # mm, from the sidecar; None when it does not say
    direction: str  # sagittal, coronal, axial, or isotropic

    @property
    def name(self) -> str:
        """A folder name that says the protocol: ``T2w_0.90x0.90x5.00mm_axial_4.00mm-thick``."""
        voxels = "x".join(f"{v:.2f}" for v in self.voxels)
        thick = "" if self.thickness is None else f"_{self.thickness:.2f}mm-thick"
        return f"{self.suffix}_{voxels}mm_{self.direction}{thick}"


def slice_direction(affine: np.ndarray, slice_axis: int | None) -> str:
    """Which anatomical direction the slice axis runs along most (an oblique stack takes the nearest)."""
    if slice_axis is None:
        return "isotropic"
    column = np.abs(np.asarray(affine)[:3, slice_axis])
    return DIRECTIONS[int(np.argmax(column))]


def protocol_of(scan: BidsScan, thickness: float | None = None) -> Protocol:
    """The protocol of a scan, from its header and its BIDS metadata (``thickness`` overrides it)."""
    geometry = scan_geometry(scan.path, thickness, sidecar=inherited_metadata(scan, scan.root))
    direction = slice_direction(nib.load(scan.path).affine, geometry.slice_axis)
    voxels = tuple(round(float(v), 2) for v in geometry.spacing)
    thick = None if geometry.thickness is None else round(float(geometry.thickness), 2)
    return Protocol(scan.suffix, voxels, thick, direction)


VOXEL_TOLERANCE = 0.05
"""Voxel sizes within this fraction of a protocol's are that protocol (what a model serves: see
:data:`mrisr.inference.orient.FACTOR_TOLERANCE`), so a field of view a little larger does not split a protocol."""


def same_protocol(a: Protocol, b: Protocol) -> bool:
    """Whether scans of ``a`` can share ``b``'s model: contrast, direction and thickness equal, voxels close."""
    close = all(abs(x - y) <= VOXEL_TOLERANCE * y for x, y in zip(a.voxels, b.voxels))
    return (a.suffix, a.direction, a.thickness) == (b.suffix, b.direction, b.thickness) and close


def group_by_protocol(
    scans: Sequence[BidsScan], thickness: float | None = None
) -> tuple[dict[Protocol, list[BidsScan]], dict[str, str]]:
    """The scans of each protocol (protocols sorted by name, scans by path; a protocol is named after its
    first scan), and the scans whose header could not be read, with why."""
    groups: dict[Protocol, list[BidsScan]] = {}
    unreadable: dict[str, str] = {}
    for scan in scans:
        try:
            protocol = protocol_of(scan, thickness)
        except MRISRError as err:  # a scan that cannot be read is reported; the rest go on
            unreadable[scan.relative] = str(err)
            continue
        known = next((p for p in groups if same_protocol(protocol, p)), protocol)
        groups.setdefault(known, []).append(scan)
    return dict(sorted(groups.items(), key=lambda item: item[0].name)), unreadable


def training_sample(scans: Sequence[BidsScan], count: int) -> list[BidsScan]:
    """``count`` scans spread evenly over the sorted list (all of them when there are fewer): the scans a
    protocol's model learns from."""
    if count >= len(scans):
        return list(scans)
    picks = np.linspace(0, len(scans) - 1, count).round().astype(int)
    return [scans[i] for i in sorted(set(picks.tolist()))]
