"""Super-resolve whole volumes patch-wise, with bounded memory and exact output geometry."""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from mrisr.data import intensity_scale
from mrisr.io import check_output_path, load_volume, refine_affine, save_volume
from mrisr.models import UnpairedSR


def super_resolve_array(
    model: UnpairedSR,
    lr: np.ndarray,
    *,
    percentile: float = 99.9,
    roi_size: Sequence[int] = (32, 32, 32),
    overlap: float = 0.25,
    sw_batch_size: int = 4,
    device: torch.device | str = "cpu",
    progress: bool = False,
) -> np.ndarray:
    """LR array → SR array in the input's intensity units, by Gaussian-blended sliding windows.

    The input is normalised by its own ``percentile`` (as in training) and the output mapped back.
    Windows run on ``device``; the full-size output is accumulated on the CPU, so GPU memory stays
    bounded by one window batch. ``roi_size * overlap`` must be a whole number of voxels.
    """
    from monai.inferers import sliding_window_inference  # slow import, needed only here

    scale = intensity_scale(lr, percentile)
    x = torch.from_numpy(np.ascontiguousarray(lr, dtype=np.float32) / scale)[None, None]
    roi = tuple(int(r) for r in roi_size)
    with torch.inference_mode(), warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Using a non-tuple sequence", category=UserWarning)  # MONAI
        sr = sliding_window_inference(
            x,
            roi_size=roi,
            sw_batch_size=sw_batch_size,
            predictor=model.super_resolve,
            overlap=overlap,
            mode="gaussian",
            padding_mode="replicate",
            sw_device=torch.device(device),
            device=torch.device("cpu"),
            progress=progress,
        )
    return (sr[0, 0].clamp_min(0).numpy() * scale).astype(np.float32)


def super_resolve_file(
    model: UnpairedSR,
    input_path: str | Path,
    output_path: str | Path,
    *,
    percentile: float = 99.9,
    overwrite: bool = False,
    volume_index: int | None = None,
    device: torch.device | str = "cpu",
    progress: bool = False,
) -> Path:
    """Read a NIfTI, super-resolve it and write the result with ``A_out = A_in @ S`` and the header kept."""
    out = check_output_path(output_path, overwrite=overwrite)
    volume = load_volume(input_path, volume_index=volume_index)
    sr = super_resolve_array(model, volume.data, percentile=percentile, device=device, progress=progress)
    save_volume(out, sr, refine_affine(volume.affine, model.scale), volume.header)
    return out


def output_name(input_path: Path, suffix: str = "_sr") -> str:
    """``sub-01_T1w.nii.gz`` → ``sub-01_T1w_sr.nii.gz``."""
    name = input_path.name
    stem = name[: -len(".nii.gz")] if name.endswith(".nii.gz") else name.removesuffix(".nii")
    return f"{stem}{suffix}.nii.gz"
