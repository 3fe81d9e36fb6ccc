"""Super-resolve whole volumes patch-wise, with bounded memory and exact output geometry."""

from __future__ import annotations

import sys
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from mrisr import MRISRError
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


def memory_needed(shape: Sequence[int], scale: Sequence[int]) -> int:
    """Bytes of host memory a volume needs: the input, and three float32 buffers of the output's size
    (MONAI's accumulator and weight map, then the array written out)."""
    n_in = int(np.prod(shape))
    return 4 * (2 * n_in + 3 * n_in * int(np.prod(scale)))


def check_memory(shape: Sequence[int], scale: Sequence[int], limit_gb: float, path: str) -> None:
    """Refuse, before any work, a volume whose SR would not fit in ``limit_gb``."""
    need = memory_needed(shape, scale) / 2**30
    if need > limit_gb:
        raise MRISRError(
            f"{path}: super-resolving shape {tuple(shape)} by {tuple(scale)} needs about {need:.1f} GiB, "
            f"above the limit of {limit_gb:g} GiB (raise it with --max-memory-gb, or crop the volume)"
        )


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
    max_memory_gb: float = 8.0,
    allow_nonfinite: bool = False,
) -> Path:
    """Read a NIfTI, super-resolve it and write the result with ``A_out = A_in @ S`` and the header kept."""
    out = check_output_path(output_path, overwrite=overwrite)
    volume = load_volume(input_path, volume_index=volume_index, allow_nonfinite=allow_nonfinite)
    check_memory(volume.data.shape, model.scale, max_memory_gb, str(input_path))
    sr = super_resolve_array(model, volume.data, percentile=percentile, device=device, progress=progress)
    save_volume(out, sr, refine_affine(volume.affine, model.scale), volume.header)
    return out


@dataclass
class BatchReport:
    """What a run over many volumes did: outputs written, outputs already there, and failures."""

    done: list[Path] = field(default_factory=list)
    skipped: list[Path] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)

    def summary(self) -> str:
        total = len(self.done) + len(self.skipped) + len(self.failed)
        return f"{len(self.done)} of {total} volumes done, {len(self.skipped)} skipped, {len(self.failed)} failed"


def super_resolve_files(
    model: UnpairedSR,
    inputs: Sequence[Path],
    output_dir: Path,
    *,
    skip_existing: bool = False,
    overwrite: bool = False,
    **kwargs,
) -> BatchReport:
    """Super-resolve many volumes into ``output_dir``; a bad file is recorded and the run goes on."""
    report = BatchReport()
    for path in inputs:
        target = Path(output_dir) / output_name(Path(path))
        if skip_existing and target.exists():
            report.skipped.append(target)
            continue
        try:
            report.done.append(super_resolve_file(model, path, target, overwrite=overwrite, **kwargs))
        except MRISRError as err:
            report.failed.append(str(err))
            print(f"error: {err}", file=sys.stderr)
    return report


def output_name(input_path: Path, suffix: str = "_sr") -> str:
    """``sub-01_T1w.nii.gz`` → ``sub-01_T1w_sr.nii.gz``."""
    name = input_path.name
    stem = name[: -len(".nii.gz")] if name.endswith(".nii.gz") else name.removesuffix(".nii")
    return f"{stem}{suffix}.nii.gz"
