"""What inference needs of any super-resolving network, so that it asks nothing of a network's class."""

from __future__ import annotations

import torch
from torch import nn


class SRNetwork(nn.Module):
    """A network that super-resolves ``(B, 1, D, H, W)`` LR patches by ``scale`` per axis.

    ``whole_slabs``: inference runs it on whole slabs rather than small windows. ``planar``: it learned one
    slice axis (``slice_axis``) and serves scans sliced along any axis through :meth:`oriented`."""

    scale: tuple[float, ...]
    whole_slabs: bool = False
    planar: bool = False
    slice_axis: int | None = None

    def super_resolve(self, lr: torch.Tensor) -> torch.Tensor:
        """The SR of ``lr``, on the grid ``scale`` times finer over the same field of view."""
        raise NotImplementedError

    def oriented(self, axis: int) -> SRNetwork:
        """The network for a scan sliced along voxel ``axis``; a 3D network serves every orientation as it is."""
        return self
