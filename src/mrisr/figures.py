"""Figures a person would rather look at than read: slices with error maps (the paper's Fig. 2)."""

from __future__ import annotations

from pathlib import Path

import nibabel as nib
import numpy as np

from mrisr.io import atomic_write


def sagittal_axis(affine: np.ndarray) -> int:
    """The voxel axis that runs left-right, whatever the orientation of the volume."""
    return next(i for i, code in enumerate(nib.aff2axcodes(affine)) if code in "LR")


def comparison_figure(
    truth: np.ndarray,
    images: dict[str, np.ndarray],
    path: str | Path,
    *,
    affine: np.ndarray,
    metrics: dict[str, dict[str, float]] | None = None,
    error_max: float = 0.2,
    truth_name: str = "truth",
) -> None:
    """One sagittal slice per image (top) and its absolute difference to the reference (bottom), in [0, 1] units.

    Without a ground truth, pass the SR as ``truth`` with ``truth_name="mrisr"``: the bottom row then
    shows how each image differs from it.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    axis = sagittal_axis(affine)
    index = truth.shape[axis] // 2
    cut = lambda v: np.take(v, index, axis=axis).T  # noqa: E731  (superior up, anterior right)
    panels = {**images, truth_name: truth}
    fig, axes = plt.subplots(2, len(panels), figsize=(2.6 * len(panels), 5.6), squeeze=False)
    for col, (name, img) in enumerate(panels.items()):
        title = name
        if metrics and name in metrics:
            title += f"\n{metrics[name]['psnr']:.2f} dB / {metrics[name]['ssim']:.3f}"
        axes[0, col].imshow(cut(img), cmap="gray", vmin=0, vmax=1, origin="lower")
        axes[0, col].set_title(title, fontsize=9)
        err = axes[1, col].imshow(np.abs(cut(img) - cut(truth)), cmap="inferno", vmin=0, vmax=error_max, origin="lower")
        for ax in axes[:, col]:
            ax.axis("off")
    fig.colorbar(err, ax=axes[1, :].tolist(), shrink=0.8, label=f"|difference to {truth_name}|")
    atomic_write(path, lambda tmp: fig.savefig(tmp, dpi=110, bbox_inches="tight", format="png"))
    plt.close(fig)
