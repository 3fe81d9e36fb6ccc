"""What a person watches during a run: TensorBoard scalars and patch slices, and the validation score."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch
from torch import nn

from mrisr.config import TrainConfig
from mrisr.inference.running import super_resolve_array
from mrisr.io import load_volume
from mrisr.metrics import normalise_pair, ssim
from mrisr.models.checkpoint import load_checkpoint
from mrisr.training.state import divergence_warning


class Monitor:
    """TensorBoard logging of one run (rank 0 only)."""

    def __init__(self, run_dir: Path) -> None:
        from torch.utils.tensorboard import SummaryWriter  # slow to import: only a training process pays

        self.writer = SummaryWriter(str(run_dir / "tensorboard"))

    def log_losses(self, step: int, losses: dict[str, float], learning_rate: float) -> None:
        for name, value in losses.items():
            self.writer.add_scalar(f"loss/{name}", value, step)
        self.writer.add_scalar("lr", learning_rate, step)

    def log_images(self, step: int, images: dict[str, torch.Tensor]) -> None:
        """The middle slice along the last axis of each 3D patch, clipped to [0, 1]."""
        for name, image in images.items():
            middle = image[:, :, image.shape[2] // 2]
            self.writer.add_image(f"patch/{name}", middle.clamp(0, 1)[None], step)

    def log_validation(self, step: int, score: float) -> None:
        self.writer.add_scalar("val/ssim", score, step)

    def close(self) -> None:
        self.writer.close()


def validation_ssim(generator: nn.Module, train: TrainConfig, device: torch.device) -> float:
    """Mean SSIM of the SR of the paired validation LR volumes against their HR."""

    generator.eval()
    scores = []
    for lr_path, hr_path in zip(train.val_lr, train.val_hr):
        sr = super_resolve_array(generator, load_volume(lr_path).data, percentile=train.percentile, device=device)
        truth, pred = normalise_pair(load_volume(hr_path).data, sr, train.percentile)
        scores.append(ssim(pred, truth))
    generator.train()
    return float(np.mean(scores))


def describe_run(run: Path) -> str:
    """A run in words: budget, data, config and the acquisition it trained with (``mrisr report``)."""

    state = load_checkpoint(run / "checkpoints" / "last.pt")
    t = state["config"]["train"]
    lines = [
        f"run {run}: step {state['step']}, {state['elapsed_seconds'] / 60:.1f} training minutes",
        f"  scale {state['scale']}, {len(t['hr'])} HR and {len(t['lr'])} LR volumes, seed {t['seed']}",
        f"  model {state['config']['model']}",
        f"  losses {state['config']['loss']}",
    ]
    degradation = run / "degradation.json"
    if degradation.is_file():
        report = json.loads(degradation.read_text())
        lines.append(f"  degradation model: {report['model']}; slice profile {report['fwhm_source']}")
        for axis, (fwhm, voxel) in enumerate(zip(report["fwhm_mm"], report["lr_voxel_mm"])):
            lines.append(f"    axis {axis}: LR voxel {voxel:g} mm, slice-profile FWHM {fwhm:.2f} mm")
        if "slice_thickness_source" in report:
            thickness, source = report["slice_thickness_mm"], report["slice_thickness_source"]
            lines.append(f"    slice thickness {source if thickness is None else f'{thickness:g} mm ({source})'}")
        sigmas = ", ".join(f"{s:.4f}" for s in report["noise_sigma"])
        lines.append(f"    Rician noise sigma {sigmas} of the 99.9th percentile")
        if "contrast_curve" in report:
            points = ", ".join(f"{x} -> {y:.3f}" for x, y in report["contrast_curve"].items())
            lines.append(f"    contrast curve (HR source -> target, in 99.9th percentiles): {points}")
        lines.extend(f"  warning: {warning}" for warning in report.get("warnings", []))
        if (run / "degradation.png").is_file():
            lines.append(f"  figure: {run / 'degradation.png'}")
    diverged = divergence_warning(state.get("first_loss"), state.get("recent_losses", []))
    if diverged:
        lines.append(f"  warning: {diverged}")
    return "\n".join(lines)
