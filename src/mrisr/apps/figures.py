"""The figures of the demo and the experiments: slices with error maps (the paper's Fig. 2) and the trust maps."""

from __future__ import annotations

import textwrap
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from mrisr import MRISRError
from mrisr.evaluation import interpolate
from mrisr.intensity import foreground_mask, intensity_scale
from mrisr.io import atomic_write
from mrisr.metrics import score
from mrisr.plotting import (
    BOX_COLOUR,
    ERROR_CMAP,
    PANEL_INCHES,
    SagittalView,
    bare,
    mark_window,
    pyplot,
    upsampling_factors,
    zoom_size,
    zoom_window,
)

LR_NAME, CUBIC_NAME = "LR", "cubic"
"""The two baseline columns of a comparison: the LR upsampled by nearest neighbour, and cubic interpolation."""

if TYPE_CHECKING:
    from matplotlib.figure import Figure


def comparison_panels(
    truth: np.ndarray,
    images: dict[str, np.ndarray],
    *,
    lr: np.ndarray | None = None,
    truth_name: str = "truth",
) -> dict[str, np.ndarray]:
    """The panels in drawing order: LR (nearest) and cubic when ``lr`` is given, the images, the reference last."""
    panels: dict[str, np.ndarray] = {}
    if lr is not None:
        factors = upsampling_factors(truth.shape, lr.shape)
        panels[LR_NAME] = interpolate(lr, factors, order=0)
        panels[CUBIC_NAME] = interpolate(lr, factors, order=3)
    panels.update(images)
    panels.pop(truth_name, None)
    panels[truth_name] = truth
    for name, image in panels.items():
        if image.shape != truth.shape:
            raise MRISRError(f"{name}: shape {image.shape} differs from the {truth_name}'s {truth.shape}")
    return panels


def has_head_scores(scores: dict[str, float] | None) -> bool:
    """Whether a metrics entry carries the head-mask PSNR and SSIM."""
    return scores is not None and "psnr_fg" in scores and "ssim_fg" in scores


def head_scores(
    panels: dict[str, np.ndarray],
    reference: str,
    mask: np.ndarray,
    metrics: dict[str, dict[str, float]] | None,
) -> dict[str, dict[str, float]]:
    """Every non-reference panel's scores: the caller's when they hold ``psnr_fg``/``ssim_fg``, else computed."""
    truth = panels[reference]
    given = metrics or {}
    return {
        name: given[name] if has_head_scores(given.get(name)) else score(image, truth, mask)
        for name, image in panels.items()
        if name != reference
    }


def panel_title(name: str, scores: dict[str, float] | None) -> str:
    """The panel's name over its head-mask PSNR and SSIM."""
    if not has_head_scores(scores):
        return name
    return f"{name}\n{scores['psnr_fg']:.2f} dB · SSIM {scores['ssim_fg']:.3f}"


def draw_comparison(
    truth: np.ndarray,
    images: dict[str, np.ndarray],
    *,
    affine: np.ndarray,
    metrics: dict[str, dict[str, float]] | None = None,
    error_max: float = 0.2,
    truth_name: str = "truth",
    lr: np.ndarray | None = None,
) -> Figure:
    """The figure of :func:`comparison_figure`, not yet written (see there)."""
    from matplotlib.figure import Figure  # imported only when a figure is drawn (slow to import)

    scale = intensity_scale(truth, 99.9)
    raw = comparison_panels(truth, images, lr=lr, truth_name=truth_name)
    panels = {name: np.asarray(image, np.float32) / scale for name, image in raw.items()}
    mask3d = foreground_mask(panels[truth_name])
    scores = head_scores(panels, truth_name, mask3d, metrics)
    view = SagittalView.of(truth.shape, affine)
    slices = {name: view.cut(v) for name, v in panels.items()}
    ref, mask = slices[truth_name], view.cut(mask3d)
    errors = {name: np.abs(s - ref) for name, s in slices.items() if name != truth_name}
    compared = [e for name, e in errors.items() if name != LR_NAME] or list(errors.values())
    window = zoom_window(compared, mask, zoom_size(mask, view))
    zoom = ref.shape[1] / (window[1].stop - window[1].start)  # columns share the width: the magnification

    n = len(panels)
    height = ref.shape[0] * view.row_mm / (ref.shape[1] * view.col_mm)  # of a slice, per unit width
    crop_height = (window[0].stop - window[0].start) * view.row_mm / ((window[1].stop - window[1].start) * view.col_mm)
    fig = Figure(
        figsize=(PANEL_INCHES * (n + 0.12) + 0.5, PANEL_INCHES * (2 * height + crop_height) + 0.75),
        layout="constrained",
    )
    fig.get_layout_engine().set(w_pad=0.01, h_pad=0.01, wspace=0.0, hspace=0.0)
    grid = fig.add_gridspec(3, n + 1, width_ratios=[1] * n + [0.06], height_ratios=[height, crop_height, height])
    shown = dict(cmap="gray", vmin=0.0, vmax=1.0, aspect=view.aspect())
    error_image = None
    for col, (name, image) in enumerate(slices.items()):
        top, middle, bottom = (fig.add_subplot(grid[row, col]) for row in range(3))
        top.imshow(image, **shown)
        mark_window(top, window)
        top.set_title(panel_title(name, scores.get(name)) if name != truth_name else f"{name}\n(reference)", fontsize=9)
        middle.imshow(image[window], interpolation="nearest", **shown)
        if name in errors:
            error_image = bottom.imshow(errors[name], cmap=ERROR_CMAP, vmin=0.0, vmax=error_max, aspect=view.aspect())
        else:  # the reference's own error is zero everywhere: show the head mask the scores are taken over instead
            bottom.imshow(image, cmap="gray", vmin=0.0, vmax=2.0, aspect=view.aspect())
            bottom.contour(mask.astype(np.float32), levels=[0.5], colors=BOX_COLOUR, linewidths=0.8)
            bottom.text(0.03, 0.97, "head mask", color=BOX_COLOUR, fontsize=8, va="top", transform=bottom.transAxes)
        mark_window(bottom, window)
        bare(top), bare(middle, BOX_COLOUR), bare(bottom)
        if col == 0:
            top.set_ylabel(f"sagittal {view.index}", fontsize=9)
            middle.set_ylabel(f"zoom ×{zoom:.1f}", fontsize=9)
            bottom.set_ylabel(f"|image − {truth_name}|", fontsize=9)
    if error_image is not None:
        fig.colorbar(error_image, cax=fig.add_subplot(grid[2, n]), extend="max")
    caption = f"PSNR / SSIM over the whole 3D head mask, not this slice, vs {truth_name}; intensities in its 99.9th pct"
    fig.suptitle(textwrap.fill(caption, width=36 * n), fontsize=8)
    return fig


def comparison_figure(
    truth: np.ndarray,
    images: dict[str, np.ndarray],
    path: str | Path,
    *,
    affine: np.ndarray,
    metrics: dict[str, dict[str, float]] | None = None,
    error_max: float = 0.2,
    truth_name: str = "truth",
    lr: np.ndarray | None = None,
) -> None:
    """The paper's Fig. 2 as a PNG: per image the mid-sagittal slice, a zoom, and its error to the reference.

    Columns: "LR" (nearest neighbour) and "cubic" when ``lr`` is given (upsampled by ``truth.shape //
    lr.shape``), then ``images``, then ``truth`` last. Rows: the slice (superior up, anterior left, in
    units of the truth's 99.9th percentile), a zoom of the boxed square, and |image − truth| on
    [0, ``error_max``]; the reference's own (all-zero) error cell shows the head mask instead. Titles give
    the head-mask PSNR/SSIM of the whole volume: ``metrics[name]["psnr_fg"/"ssim_fg"]`` when given, else
    :func:`mrisr.metrics.score` inside :func:`mrisr.intensity.foreground_mask` of the truth, as in ``evaluate``.

    The zoom is chosen automatically, the same square in every panel: its side is ZOOM_FRACTION of the
    head's larger extent on the slice (about 6 cm on an adult head: gyri and ventricles stay recognisable
    at 3x), and it is placed, among the squares lying inside the head mask, where the local mean absolute
    error differs most between the methods (standard deviation over them), i.e. where the eye should
    compare. The nearest-neighbour LR is left out of that choice when other methods are there: its
    blocks differ from everything at every edge and would always pull the box onto the scalp.

    Without a ground truth, pass the SR as ``truth`` with ``truth_name="mrisr"``: the error row then
    shows how each image differs from it.
    """
    fig = draw_comparison(
        truth, images, affine=affine, metrics=metrics, error_max=error_max, truth_name=truth_name, lr=lr
    )
    atomic_write(path, lambda tmp: fig.savefig(tmp, dpi=150, format="png"))


def uncertainty_window(spread: np.ndarray, mask: np.ndarray, view: SagittalView) -> tuple[slice, slice]:
    """The trust figure's zoom: the square of :func:`zoom_size`, in the head, where u is highest on average."""
    return zoom_window([spread], mask, zoom_size(mask, view))


def on_grid(window: tuple[slice, slice], shape: Sequence[int], other: Sequence[int]) -> tuple[slice, slice]:
    """The same region of a slice of ``shape`` on a slice of ``other`` over the same field of view."""
    return tuple(
        slice(int(w.start * m / n), max(int(np.ceil(w.stop * m / n)), int(w.start * m / n) + 1))
        for w, n, m in zip(window, shape, other)
    )


def trust_figure(
    path: str | Path,
    sr: np.ndarray,
    uncertainty: np.ndarray,
    consistency: np.ndarray,
    *,
    affine: np.ndarray,
    lr_affine: np.ndarray,
    truth: np.ndarray | None = None,
) -> None:
    """The trust maps on the mid-sagittal slice: the SR, its uncertainty u, |SR − truth| beside it on the same
    scale when a truth is known, and the data-consistency residual degrade(SR) − input on the input's grid;
    below, a zoom of each where u is highest in the head (the same region of the head on the input's grid).
    Intensities in units of the SR's 99.9th percentile; the panels keep the slice's proportions."""
    plt = pyplot()
    peak = intensity_scale(sr, 99.9)
    view, lr_view = SagittalView.of(sr.shape, affine), SagittalView.of(consistency.shape, lr_affine)
    image, spread = view.cut(sr) / peak, view.cut(uncertainty) / peak
    shown = {"SR": image, "uncertainty u": spread}
    if truth is not None:
        shown["|SR − truth|"] = np.abs(image - view.cut(truth) / peak)
    top = max(float(np.percentile(m, 99.5)) for name, m in shown.items() if name != "SR") or 1.0
    styles = {name: dict(cmap="magma", vmin=0, vmax=top) for name in shown}
    styles["SR"] = dict(cmap="gray", vmin=0, vmax=1)
    window = uncertainty_window(spread, view.cut(foreground_mask(sr / peak)), view)
    residual = lr_view.cut(consistency) / peak
    lr_window = on_grid(window, image.shape, residual.shape)
    limit = float(np.percentile(np.abs(residual), 99.5)) or 1.0
    n = len(shown) + 1
    height = PANEL_INCHES * image.shape[0] * view.row_mm / (image.shape[1] * view.col_mm)
    size = (PANEL_INCHES * n + 1.6, height + PANEL_INCHES + 0.5)
    fig, axes = plt.subplots(2, n, figsize=size, layout="constrained", height_ratios=[height, PANEL_INCHES])
    for col, (name, cut) in enumerate(shown.items()):
        drawn = axes[0, col].imshow(cut, aspect=view.aspect(), **styles[name])
        mark_window(axes[0, col], window)
        axes[0, col].set_title(name, fontsize=9)
        axes[1, col].imshow(cut[window], aspect=view.aspect(), interpolation="nearest", **styles[name])
        bare(axes[0, col]), bare(axes[1, col], BOX_COLOUR)
    fig.colorbar(drawn, ax=axes[:, 1 : len(shown)], shrink=0.6, label="units of the SR's 99.9th percentile")
    axes[1, 0].set_ylabel("zoom: highest u", fontsize=9)
    drawn = axes[0, -1].imshow(residual, aspect=lr_view.aspect(), cmap="RdBu_r", vmin=-limit, vmax=limit)
    mark_window(axes[0, -1], lr_window)
    axes[0, -1].set_title("degrade(SR) − input", fontsize=9)
    axes[1, -1].imshow(
        residual[lr_window], aspect=lr_view.aspect(), interpolation="nearest", cmap="RdBu_r", vmin=-limit, vmax=limit
    )
    bare(axes[0, -1]), bare(axes[1, -1], BOX_COLOUR)
    fig.colorbar(drawn, ax=axes[:, -1], shrink=0.6)
    atomic_write(path, lambda tmp: fig.savefig(tmp, dpi=110, format="png"))
    plt.close(fig)
