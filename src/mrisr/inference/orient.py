"""A model turned to a scan: the planar model to the scan's slice axis, refused when the scan's slices are
not the ones it learned, and the slice profile it serves there."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

from mrisr import MRISRError
from mrisr.acquisition.forward import default_fwhm
from mrisr.acquisition.geometry import find_slice_axis

FACTOR_TOLERANCE = 0.05
"""How far a scan's slice spacing over the model's SR spacing may lie from the factor the model learned."""


def fit_to_scan(model: torch.nn.Module, zooms: Sequence[float], path: str, meta: dict | None = None) -> torch.nn.Module:
    """The model turned to the scan's slice axis (a planar model trained on axial slices serves a coronal scan),
    or a clear error when the scan's slices are not the ones it learned (``meta``: the checkpoint's, for its
    SR spacing)."""
    axis = find_slice_axis(zooms)
    if not model.planar or axis is None:
        return model
    factor = model.scale[model.slice_axis]
    sr_mm = ((meta or {}).get("acquisition") or {}).get("sr_voxel_mm")
    if sr_mm is not None:
        wanted = zooms[axis] / sr_mm[model.slice_axis]
        if abs(wanted - factor) > FACTOR_TOLERANCE * factor:
            raise MRISRError(
                f"{path}: slices every {zooms[axis]:.3g} mm, but the model super-resolves slices every "
                f"{factor * sr_mm[model.slice_axis]:.3g} mm to {sr_mm[model.slice_axis]:.3g} mm; train a model "
                "on scans of this protocol"
            )
    return model.oriented(axis)


def model_fwhm(meta: dict[str, Any]) -> tuple[tuple[float, float, float], str]:
    """The slice profile (HR voxels) a checkpoint trained with, and where it came from."""
    acquisition = meta.get("acquisition")
    if acquisition:
        return tuple(acquisition["fwhm_hr_voxels"]), acquisition["fwhm_source"]
    fixed = meta["config"]["model"].get("fixed_fwhm")
    if fixed:
        return tuple(fixed), "fixed (config)"
    return default_fwhm(meta["scale"]), "nominal (a slice as thick as its spacing)"


def model_profile_shape(meta: dict[str, Any]) -> str:
    """The slice-profile shape a checkpoint trained with (``"gaussian"`` for checkpoints from before shapes)."""
    shape = meta["config"]["model"].get("profile_shape", "gaussian")
    return "gaussian" if shape == "auto" else shape
