"""Pieces every figure of mrisr draws with: the mid-sagittal view of a volume in any orientation, a zoom window
placed inside the head, and bare panels. matplotlib is imported by :func:`pyplot` only when a figure is drawn
(it is slow to import, and most commands draw nothing)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import nibabel as nib
import numpy as np
from scipy import ndimage

if TYPE_CHECKING:
    from matplotlib.axes import Axes


ZOOM_FRACTION = 0.3  # side of the zoomed square, as a fraction of the head's larger extent on the slice


HEAD_FILL = 0.98  # a zoom window lies (almost) wholly inside the head mask, relative to the best-filled one


PANEL_INCHES = 2.1  # width of one column


BOX_COLOUR = "#00d5ff"


ERROR_CMAP = "inferno"


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
    from matplotlib.patches import Rectangle  # imported only when a figure is drawn (slow to import)

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


def pyplot():
    """matplotlib's pyplot on the Agg backend (files only, no screen), imported when a figure is drawn."""
    import matplotlib  # slow to import: only the commands that draw pay for it

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # after the backend is chosen

    return plt
