"""Thick-slice SR from the scan's own sharp planes: a 2D network that sharpens one axis of a plane.

A thick-slice scan (factor ``f`` along one axis, 1 along the two others) is sharp inside each slice. A
plane cut *across* the slices (sagittal or coronal for axial slices) is sharp along its in-plane axis and
blurred along the slice axis; :class:`PlaneSR` learns to undo that blur, from planes *inside* the slices
that were blurred and decimated along one of their axes the way the scanner blurred the slice axis
(:mod:`mrisr.sampling.planes`). This is internal learning in the manner of SMORE (Zhao et al. 2020) and ECLARE
(Remedios et al. 2025), written from their papers; other people's HR volumes can add more such pairs.

:class:`PlanarSR` applies the 2D network to every plane of a volume that contains the slice axis, in
both such orientations, and averages the two results: each orientation alone sees the anatomy from one
side only, and their errors are partly independent (no committed experiment measures the average against
either orientation alone).

Any factor ``r`` along the slice axis, integer or not (5 mm slices to 0.9 mm: 5.56): the network makes
``F = ceil(r)`` samples per LR slice (the *fine* grid, edges aligned with the slices), and when ``r`` is not
an integer the SR's voxels are read off that grid by bicubic interpolation at their own positions
(:func:`sample_last`). Training compares those same samples with sharp pixels, so the network learns to
make a fine grid that reads well at every phase; at integer factors the fine grid *is* the SR grid.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from mrisr.acquisition.forward import is_integer_factor
from mrisr.acquisition.geometry import slice_axis
from mrisr.models.blocks import ResidualBlock, zero_init
from mrisr.models.network import SRNetwork

if TYPE_CHECKING:
    from mrisr.config import Config


def upsample_last(x: torch.Tensor, factor: int) -> torch.Tensor:
    """Cubic interpolation of ``(N, C, A, b)`` along the last axis only, voxel edges aligned (block centres)."""
    return F.interpolate(x, scale_factor=(1.0, float(factor)), mode="bicubic", align_corners=False)


def shuffle_last(x: torch.Tensor, factor: int) -> torch.Tensor:
    """``(N, C*f, A, b) → (N, C, A, b*f)``: channel ``k`` of column ``j`` becomes column ``f*j + k``."""
    n, cf, a, b = x.shape
    c = cf // factor
    return x.reshape(n, c, factor, a, b).permute(0, 1, 3, 4, 2).reshape(n, c, a, b * factor)


def fine_factor(factor: float) -> int:
    """Samples per LR slice of the network's fine grid: the factor, or the next integer above it."""
    return int(round(factor)) if is_integer_factor(factor) else int(np.ceil(factor))


def output_positions(n_lr: int, factor: float) -> tuple[torch.Tensor, int]:
    """Centres of the SR voxels along an axis of ``n_lr`` slices, in LR-index units (slice ``j`` at ``j``), and
    how many there are: ``round(n_lr * factor)`` voxels over the slices' field of view, edges aligned."""
    n_out = int(round(n_lr * float(factor)))
    return (torch.arange(n_out, dtype=torch.float64) + 0.5) * (n_lr / n_out) - 0.5, n_out


def sample_last(fine: torch.Tensor, factor: int, positions: torch.Tensor) -> torch.Tensor:
    """Bicubic samples of a fine grid ``(N, C, A, b*factor)`` at ``positions`` ``(N, W)`` along the last axis
    (LR-index units, as :func:`output_positions`): ``(N, C, A, W)``. Rows are read at their own centres."""
    n, _, a, width = fine.shape
    index = (positions.to(fine.device, torch.float32) + 0.5) * factor - 0.5  # fine-grid index
    x = ((2 * index + 1) / width - 1)[:, None, :].expand(n, a, -1)
    y = ((2 * torch.arange(a, device=fine.device, dtype=torch.float32) + 1) / a - 1)[None, :, None].expand_as(x)
    grid = torch.stack([x, y], dim=-1).to(fine.dtype)
    return F.grid_sample(fine, grid, mode="bicubic", padding_mode="border", align_corners=False)


class PlaneSR(nn.Module):
    """EDSR-like 2D network: ``(N, 1, A, b) → (N, 1, A, b*F)``, sharper along the last axis (the fine grid of
    :func:`fine_factor`; the SR grid itself at integer factors).

    Residual on cubic interpolation along that axis, with a zero-initialised head, so training starts
    from the cubic baseline; all convolutions run on the coarse grid, the factor is a 1D pixel shuffle.
    """

    def __init__(self, factor: float, width: int = 64, blocks: int = 4) -> None:
        super().__init__()
        self.factor = float(factor)
        self.fine = fine_factor(factor)
        self.stem = nn.Conv2d(1, width, 3, padding=1)
        body = [ResidualBlock(width, dims=2) for _ in range(blocks)]
        self.body = nn.Sequential(*body, nn.Conv2d(width, width, 3, padding=1))
        self.head = zero_init(nn.Conv2d(width, self.fine, 3, padding=1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        features = self.stem(x)
        residual = shuffle_last(self.head(features + self.body(features)), self.fine)
        return upsample_last(x, self.fine) + residual

    def to_grid(self, x: torch.Tensor) -> torch.Tensor:
        """``(N, 1, A, b) → (N, 1, A, round(b*r))``: the SR on the grid of :func:`output_positions`."""
        fine = self(x)
        if is_integer_factor(self.factor):
            return fine
        positions, _ = output_positions(x.shape[-1], self.factor)
        return sample_last(fine, self.fine, positions[None].expand(x.shape[0], -1))


class PlanarSR(SRNetwork):
    """A 3D super-resolver made of :class:`PlaneSR` run over the planes that contain the slice axis.

    ``super_resolve(lr)`` takes ``(B, 1, D, H, W)`` like :class:`mrisr.models.generator.UnpairedSR` does, so the
    same sliding-window, slab-streamed inference serves both.
    """

    whole_slabs = True
    planar = True
    """Inference runs it on whole slabs, not on small windows: planes are cheap, and window overlap is not."""
    planes_per_pass = 32
    """Planes run through the 2D network at once: bounds the activations when a window is a whole slab."""

    def __init__(self, scale: Sequence[float], width: int = 64, blocks: int = 4, net: PlaneSR | None = None) -> None:
        super().__init__()
        self.scale = tuple(int(round(s)) if is_integer_factor(s) else float(s) for s in scale)
        self.slice_axis = slice_axis(self.scale)
        self.net = PlaneSR(self.scale[self.slice_axis], width, blocks) if net is None else net

    @classmethod
    def from_config(cls, config: Config) -> PlanarSR:
        m = config.model
        return cls(m.scale, m.plane_width, m.plane_blocks)

    def along(self, lr: torch.Tensor, stack_axis: int) -> torch.Tensor:
        """SR of every plane ``lr[..., i, ...]`` along ``stack_axis`` (an in-plane axis), back in 3D."""
        s, k = 2 + self.slice_axis, 2 + stack_axis
        other = 9 - s - k  # the remaining spatial axis of 2, 3, 4
        order = (0, k, 1, other, s)  # (B, n, 1, A, b): one plane per index along k, the slice axis last
        planes = lr.permute(*order)
        b, n, _, a = planes.shape[:4]
        flat = planes.reshape(b * n, 1, *planes.shape[3:])
        sr = torch.cat([self.net.to_grid(chunk) for chunk in flat.split(self.planes_per_pass)])
        return sr.reshape(b, n, 1, a, -1).permute(*[order.index(d) for d in range(5)])

    def super_resolve(self, lr: torch.Tensor) -> torch.Tensor:
        """The mean of the SR over both orientations of planes that contain the slice axis."""
        if lr.ndim != 5 or lr.shape[1] != 1:
            raise ValueError(f"lr must have shape (B, 1, D, H, W), got {tuple(lr.shape)}")
        stack_axes = [a for a in range(3) if a != self.slice_axis]
        return 0.5 * (self.along(lr, stack_axes[0]) + self.along(lr, stack_axes[1]))

    def forward(self, lr: torch.Tensor) -> torch.Tensor:
        return self.super_resolve(lr)

    def oriented(self, axis: int) -> PlanarSR:
        """The same network with its slice axis on voxel axis ``axis`` (a scan acquired in another plane)."""
        if axis == self.slice_axis:
            return self
        scale = [1, 1, 1]
        scale[axis] = self.scale[self.slice_axis]
        return PlanarSR(scale, net=self.net).train(self.training)
