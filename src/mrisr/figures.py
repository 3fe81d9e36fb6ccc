"""Figures a person would rather look at than read: slices with error maps (the paper's Fig. 2), the scanner report."""

from __future__ import annotations

import textwrap
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import nibabel as nib
import numpy as np
from scipy import ndimage

from mrisr import MRISRError
from mrisr.evaluation import interpolate
from mrisr.intensity import foreground_mask, intensity_scale
from mrisr.io import atomic_write
from mrisr.metrics import score

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

ZOOM_FRACTION = 0.3  # side of the zoomed square, as a fraction of the head's larger extent on the slice
HEAD_FILL = 0.98  # a zoom window lies (almost) wholly inside the head mask, relative to the best-filled one
PANEL_INCHES = 2.1  # width of one column
BOX_COLOUR = "#00d5ff"
ERROR_CMAP = "inferno"
LR_NAME, CUBIC_NAME = "LR", "cubic"


def sagittal_axis(affine: np.ndarray) -> int:
    """The voxel axis that runs left-right, whatever the orientation of the volume."""
    return next(i for i, code in enumerate(nib.aff2axcodes(affine)) if code in "LR")


@dataclass(frozen=True)
class SagittalView:
    """The middle sagittal slice, turned to the radiological display: superior up, anterior to the left."""

    axis: int
    index: int
    flip_rows: bool
    flip_cols: bool
    transpose: bool
    row_mm: float
    col_mm: float

    @classmethod
    def of(cls, shape: Sequence[int], affine: np.ndarray) -> SagittalView:
        """The view of a volume of ``shape`` on the grid of ``affine``."""
        codes = nib.aff2axcodes(affine)
        axis = sagittal_axis(affine)
        rest = [i for i in range(3) if i != axis]
        si = next((i for i in rest if codes[i] in "SI"), rest[1])
        ap = next(i for i in rest if i != si)
        zooms = np.linalg.norm(np.asarray(affine)[:3, :3], axis=0)
        return cls(
            axis=axis,
            index=shape[axis] // 2,
            flip_rows=codes[si] == "S",  # row 0 is drawn at the top
            flip_cols=codes[ap] == "A",  # column 0 is drawn at the left
            transpose=si > ap,  # after removing ``axis``, the first remaining axis must become the rows
            row_mm=float(zooms[si]),
            col_mm=float(zooms[ap]),
        )

    def cut(self, volume: np.ndarray) -> np.ndarray:
        """The slice of ``volume`` as a 2D array in display orientation."""
        plane = np.take(volume, self.index, axis=self.axis)
        plane = plane.T if self.transpose else plane
        return plane[:: -1 if self.flip_rows else 1, :: -1 if self.flip_cols else 1]

    def aspect(self) -> float:
        """Height over width of one pixel, for ``imshow(aspect=...)``."""
        return self.row_mm / self.col_mm


def upsampling_factors(hr_shape: Sequence[int], lr_shape: Sequence[int]) -> tuple[float, ...]:
    """The per-axis factors that take ``lr_shape`` to ``hr_shape`` over the same field of view (``hr / lr``)."""
    return tuple(int(h) / int(lr) for h, lr in zip(hr_shape, lr_shape))


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


def zoom_size(mask: np.ndarray, view: SagittalView) -> tuple[int, int]:
    """Rows and columns of a square of ZOOM_FRACTION of the head's larger extent (in mm) on the slice."""
    rows, cols = np.nonzero(mask)
    if rows.size:
        extent_mm = max((np.ptp(rows) + 1) * view.row_mm, (np.ptp(cols) + 1) * view.col_mm)
    else:
        extent_mm = max(mask.shape[0] * view.row_mm, mask.shape[1] * view.col_mm)
    side_mm = ZOOM_FRACTION * extent_mm
    return (
        int(np.clip(round(side_mm / view.row_mm), 2, mask.shape[0])),
        int(np.clip(round(side_mm / view.col_mm), 2, mask.shape[1])),
    )


def zoom_window(errors: Sequence[np.ndarray], mask: np.ndarray, size: tuple[int, int]) -> tuple[slice, slice]:
    """The crop (rows, columns), lying in the head, where the methods' local mean absolute errors spread most."""
    inside = ndimage.uniform_filter(mask.astype(np.float64), size, mode="constant")
    valid = inside >= HEAD_FILL * inside.max()
    local = [ndimage.uniform_filter(np.asarray(e, np.float64), size, mode="constant") for e in errors]
    spread = np.std(local, axis=0) if len(local) > 1 else local[0] if local else np.zeros(mask.shape)
    spread = np.where(valid, spread, -1.0)
    if spread.max() > 0:
        centre = np.unravel_index(int(np.argmax(spread)), spread.shape)
    else:  # nothing to compare: the valid position nearest the head's centre
        target = np.argwhere(mask).mean(axis=0) if mask.any() else np.asarray(mask.shape) / 2
        candidates = np.argwhere(valid)
        centre = candidates[np.argmin(((candidates - target) ** 2).sum(axis=1))]
    starts = [int(np.clip(c - s // 2, 0, n - s)) for c, s, n in zip(centre, size, mask.shape)]
    return slice(starts[0], starts[0] + size[0]), slice(starts[1], starts[1] + size[1])


def mark_window(ax: Axes, window: tuple[slice, slice]) -> None:
    """Outline the zoomed region on a full slice."""
    from matplotlib.patches import Rectangle

    rows, cols = window
    ax.add_patch(
        Rectangle(
            (cols.start - 0.5, rows.start - 0.5),
            cols.stop - cols.start,
            rows.stop - rows.start,
            fill=False,
            edgecolor=BOX_COLOUR,
            linewidth=1.0,
        )
    )


def bare(ax: Axes, frame: str | None = None) -> None:
    """No ticks; a coloured frame when ``frame`` is given, none otherwise."""
    ax.set_xticks([])
    ax.set_yticks([])
    for spine in ax.spines.values():
        spine.set_visible(frame is not None)
        if frame is not None:
            spine.set_edgecolor(frame)
            spine.set_linewidth(1.5)


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
    from matplotlib.figure import Figure

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


def degradation_figure(path: str | Path, report: dict, lr: np.ndarray) -> None:
    """The scanner report: the slice profile per axis in mm, the LR air histogram with its Rayleigh fit, and
    the report's warnings underneath."""
    import textwrap

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from mrisr.acquisition.degradation import FWHM_TO_SIGMA
    from mrisr.acquisition.noise import air_corners

    warnings = report.get("warnings", [])
    notes = [textwrap.fill(f"warning: {w}", 150) for w in warnings]
    lines = sum(n.count("\n") + 1 for n in notes)
    fig, (left, right) = plt.subplots(1, 2, figsize=(9, 3.4 + 0.16 * lines))
    sinc = report.get("profile_shape") == "sinc"
    for axis, (fwhm, voxel) in enumerate(zip(report["fwhm_mm"], report["lr_voxel_mm"])):
        if fwhm <= 0:
            continue
        x = np.linspace(-1.5 * voxel, 1.5 * voxel, 301)
        if sinc:  # k-space truncation: the ideal low-pass at the LR's Nyquist frequency
            left.plot(x, np.sinc(x / voxel), label=f"axis {axis}: sinc, k-space truncation (LR voxel {voxel:g} mm)")
            continue
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
    fig.tight_layout(rect=(0, 0.16 * lines / (3.4 + 0.16 * lines), 1, 1))
    if notes:
        fig.text(0.01, 0.01, "\n".join(notes), fontsize=6, color="firebrick", va="bottom", ha="left")
    atomic_write(path, lambda tmp: fig.savefig(tmp, dpi=110, format="png"))
    plt.close(fig)


def uncertainty_window(spread: np.ndarray, mask: np.ndarray, view: SagittalView) -> tuple[slice, slice]:
    """The trust figure's zoom: the square of :func:`zoom_size`, in the head, where u is highest on average."""
    return zoom_window([spread], mask, zoom_size(mask, view))


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
    below, a zoom of the first three where u is highest in the head. Intensities in units of the SR's 99.9th
    percentile."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    peak = intensity_scale(sr, 99.9)
    view, lr_view = SagittalView.of(sr.shape, affine), SagittalView.of(consistency.shape, lr_affine)
    image, spread = view.cut(sr) / peak, view.cut(uncertainty) / peak
    shown = {"SR": image, "uncertainty u": spread}
    if truth is not None:
        shown["|SR − truth|"] = np.abs(image - view.cut(truth) / peak)
    top = max(float(np.percentile(m, 99.5)) for name, m in shown.items() if name != "SR") or 1.0
    styles = {name: dict(cmap="magma", vmin=0, vmax=top) for name in shown}
    styles["SR"] = dict(cmap="gray", vmin=0, vmax=1)
    mask = view.cut(foreground_mask(sr / peak))
    window = uncertainty_window(spread, mask, view)
    residual = lr_view.cut(consistency) / peak
    limit = float(np.percentile(np.abs(residual), 99.5)) or 1.0
    n = len(shown) + 1
    fig, axes = plt.subplots(2, n, figsize=(3.0 * n, 6.4), layout="constrained", height_ratios=[1, 0.8])
    for col, (name, cut) in enumerate(shown.items()):
        drawn = axes[0, col].imshow(cut, aspect=view.aspect(), **styles[name])
        mark_window(axes[0, col], window)
        axes[0, col].set_title(name, fontsize=9)
        axes[1, col].imshow(cut[window], aspect=view.aspect(), interpolation="nearest", **styles[name])
        bare(axes[0, col]), bare(axes[1, col], BOX_COLOUR)
        if name != "SR":
            fig.colorbar(drawn, ax=axes[:, col], shrink=0.6)
    axes[1, 0].set_ylabel("zoom: highest u", fontsize=9)
    drawn = axes[0, -1].imshow(residual, aspect=lr_view.aspect(), cmap="RdBu_r", vmin=-limit, vmax=limit)
    axes[0, -1].set_title("degrade(SR) − input", fontsize=9)
    fig.colorbar(drawn, ax=axes[0, -1], shrink=0.7)
    bare(axes[0, -1])
    axes[1, -1].axis("off")
    atomic_write(path, lambda tmp: fig.savefig(tmp, dpi=110, format="png"))
    plt.close(fig)


def cohort_overview(rows: Sequence[dict], path: str | Path, flagged: int = 5) -> None:
    """A cohort at a glance: each scan's consistency PSNR (how well its SR explains the scan) by protocol,
    scans with warnings hollow, failed scans as red crosses below, and the ``flagged`` lowest named."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    protocols = sorted({r["protocol"] for r in rows if r["status"] == "done"}) or ["none"]
    done = [r for r in rows if r["status"] == "done" and r["consistency_psnr"] not in (None, "")]
    failed = [r for r in rows if r["status"] == "failed"]
    fig, ax = plt.subplots(figsize=(max(6.0, 1.6 * len(protocols) + 3), 4.5))
    rng = np.random.default_rng(0)  # horizontal jitter, the same at every run
    floor = min((float(r["consistency_psnr"]) for r in done), default=30.0) - 1
    where = {}
    for x, protocol in enumerate(protocols):
        mine = [r for r in done if r["protocol"] == protocol]
        for r, jitter in zip(mine, x + rng.uniform(-0.2, 0.2, len(mine))):
            where[r["scan"]] = (jitter, float(r["consistency_psnr"]))
            warned = int(r["warnings"] or 0) > 0
            style = {"facecolors": "none", "edgecolors": "tab:orange"} if warned else {"color": "tab:blue"}
            ax.scatter([jitter], [where[r["scan"]][1]], s=20, **style)
    for r in sorted(done, key=lambda r: float(r["consistency_psnr"]))[:flagged]:
        ax.annotate(Path(r["scan"]).name, where[r["scan"]], fontsize=6, xytext=(5, -2), textcoords="offset points")
    if failed:
        ax.scatter(rng.uniform(-0.2, 0.2, len(failed)), [floor] * len(failed), marker="x", color="red", s=30)
        ax.text(0.01, 0.02, f"{len(failed)} failed: see group/summary.tsv", color="red", transform=ax.transAxes)
    ax.set_xticks(range(len(protocols)), protocols, rotation=15, ha="right", fontsize=7)
    ax.set_xlim(-0.6, len(protocols) - 0.4)
    ax.set_ylabel("consistency PSNR, dB (degraded SR vs the scan)")
    ax.set_title(f"{len(done)} scans super-resolved, {len(failed)} failed; hollow: with warnings")
    fig.tight_layout()
    atomic_write(path, lambda tmp: fig.savefig(tmp, dpi=110, format="png"))
    plt.close(fig)
