"""Figures a person would rather look at than read: slices with error maps (the paper's Fig. 2), the scanner report."""

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


def degradation_figure(path: str | Path, report: dict, lr: np.ndarray) -> None:
    """The scanner report: the slice profile per axis in mm, and the LR air histogram with its Rayleigh fit."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from mrisr.degradation import FWHM_TO_SIGMA, air_corners

    fig, (left, right) = plt.subplots(1, 2, figsize=(9, 3.4))
    for axis, (fwhm, voxel) in enumerate(zip(report["fwhm_mm"], report["lr_voxel_mm"])):
        if fwhm <= 0:
            continue
        x = np.linspace(-1.5 * voxel, 1.5 * voxel, 301)
        sigma = fwhm * FWHM_TO_SIGMA
        left.plot(x, np.exp(-0.5 * (x / sigma) ** 2), label=f"axis {axis}: FWHM {fwhm:.2f} mm (LR voxel {voxel:g} mm)")
    left.set(xlabel="mm from the slice centre", ylabel="relative sensitivity", title=report["fwhm_source"])
    left.legend(fontsize=7)
    blocks = air_corners(lr)
    air = np.concatenate([b.ravel() for b in blocks]) if blocks else np.zeros(0)
    sigma = float(np.median(report["noise_sigma"]))
    if air.size and sigma > 0:
        right.hist(air, bins=80, density=True, color="0.7", label=f"LR air ({air.size} voxels)")
        x = np.linspace(0, air.max(), 200)
        right.plot(x, x / sigma**2 * np.exp(-(x**2) / (2 * sigma**2)), "k", label=f"Rayleigh, sigma {sigma:.4f}")
        right.legend(fontsize=7)
    else:
        right.text(0.5, 0.5, "no air in the corners: sigma from the signal", ha="center", transform=right.transAxes)
    right.set(xlabel="intensity (normalised to the 99.9th percentile)", title="noise")
    fig.tight_layout()
    atomic_write(path, lambda tmp: fig.savefig(tmp, dpi=110, format="png"))
    plt.close(fig)
