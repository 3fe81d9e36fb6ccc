"""A trained model ready to super-resolve scans: its network on a device, the checkpoint's metadata, the
precision it runs at and where it came from. Every command that super-resolves loads one
(:meth:`LoadedModel.load`) and hands it to :func:`mrisr.inference.writing.super_resolve_file`."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from mrisr.acquisition.model import Acquisition
from mrisr.device import resolve_device, resolve_precision
from mrisr.inference.orient import fit_to_scan, model_fwhm, model_profile_shape
from mrisr.inference.running import super_resolve_array
from mrisr.models.checkpoint import load_model

DEFAULT_PERCENTILE = 99.9
"""The intensity-normalisation percentile of a network that comes without a checkpoint (benchmarks, tests)."""


@dataclass(frozen=True)
class LoadedModel:
    """A network in eval mode on ``device`` with its checkpoint's ``meta`` (``None`` for an untrained network,
    which can super-resolve but has no slice profile for the trust maps and no provenance for a sidecar)."""

    network: nn.Module
    meta: dict[str, Any] | None = None
    path: Path | None = None
    device: torch.device = torch.device("cpu")
    dtype: torch.dtype = torch.float32
    command: str | None = None  # the command line that runs it, for the sidecar

    @classmethod
    def load(
        cls, path: str | Path, device: str = "auto", precision: str = "auto", command: str | None = None
    ) -> LoadedModel:
        """The model of checkpoint ``path`` on ``device`` (auto: CUDA when present) at ``precision`` (auto: see
        :func:`mrisr.device.resolve_precision`)."""
        target = resolve_device(device)
        network, meta = load_model(path, target)
        return cls(network, meta, Path(path), target, resolve_precision(precision, target), command)

    @property
    def scale(self) -> tuple[float, ...]:
        """The factor per axis the network learned."""
        return tuple(self.network.scale)

    @property
    def in_plane_mm(self) -> float | None:
        """The in-plane voxel size (mm) the model's scans were resampled to before it learned from them, which
        its inputs are resampled to as well; ``None``: their pixels."""
        return self.meta["config"]["model"].get("in_plane_mm") if self.meta else None

    @property
    def percentile(self) -> float:
        """The percentile the training normalised intensities by, which inference must use too."""
        return self.meta["normalisation"]["percentile"] if self.meta else DEFAULT_PERCENTILE

    @property
    def precision(self) -> str:
        """``"float32"`` or ``"bfloat16"``, as the sidecar records it."""
        return str(self.dtype).removeprefix("torch.")

    def checkpoint(self, need: str) -> dict[str, Any]:
        """The checkpoint's metadata, or a clear error naming what ``need`` s it."""
        if self.meta is None:
            raise ValueError(f"{need} needs a trained model's checkpoint (its slice profile and provenance)")
        return self.meta

    def for_scan(self, zooms: Sequence[float], path: str) -> nn.Module:
        """The network turned to the scan's slice axis, or a clear error when the scan's slices are not the ones
        it learned (:func:`mrisr.inference.orient.fit_to_scan`)."""
        return fit_to_scan(self.network, zooms, path, self.meta)

    def served_acquisition(self, scale: Sequence[float]) -> Acquisition:
        """The acquisition the model serves on a scan of factors ``scale``: the slice profile it trained with
        (a planar model's moved to the axis it now serves) and its shape."""
        meta = self.checkpoint("the slice profile")
        trained = Acquisition(tuple(meta["scale"]), model_fwhm(meta)[0], model_profile_shape(meta))
        return trained.on_axes(scale)

    def super_resolve(self, lr: np.ndarray, **options: Any) -> np.ndarray:
        """LR array → SR array in one piece, normalised as in training (options as
        :func:`mrisr.inference.running.super_resolve_slabs`)."""
        run = {"percentile": self.percentile, "device": self.device, "dtype": self.dtype, **options}
        return super_resolve_array(self.network, lr, **run)
