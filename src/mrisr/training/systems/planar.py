"""The thick-slice model as it trains: :class:`~mrisr.models.planar.PlanarSR` supervised on plane pairs made
from the scan's own sharp planes and from HR volumes of other subjects (:mod:`mrisr.sampling.planes`).

No discriminator and no contrastive term: the pairs are real (same subject, contrast and scanner for the
internal ones) once the slice profile and the noise level are known, and both are settled from the scan
before training (:mod:`mrisr.training.settle`). The training loop sees this class through
:class:`mrisr.training.loop.System`.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from mrisr.acquisition.geometry import slice_axis
from mrisr.config import Config
from mrisr.device import training_autocast
from mrisr.distributed import Replica, optimizer_step
from mrisr.losses import charbonnier
from mrisr.models.planar import PlanarSR, sample_last
from mrisr.models.registry import build_network
from mrisr.sampling.planes import PlanePairSampler, pair_sampler
from mrisr.sampling.volumes import TrainingVolume, load_training_volumes
from mrisr.training.scanner_report import acquisition_report, write_acquisition_report
from mrisr.training.settle import Settled, settle


class PlanarSystem:
    """The 2D network, its pair sampler and optimiser, built from a settled config."""

    @staticmethod
    def learning_rate(config: Config) -> float:
        """Adam's rate at the start of the cosine schedule: ``train.plane_learning_rate``."""
        return config.train.plane_learning_rate

    def __init__(
        self,
        settled: Settled,
        sampler: PlanePairSampler,
        scans: Sequence[TrainingVolume],
        device: torch.device,
    ) -> None:
        config = settled.config
        t = config.train
        self.settled, self.config, self.sampler, self.device = settled, config, sampler, device
        self.autocast = training_autocast(t.precision, device)
        self.lr_zooms = np.mean([v.zooms for v in scans], axis=0)
        self.first_lr = scans[0].data
        self.generator: PlanarSR = build_network(config).to(device)
        adam = torch.optim.Adam(self.generator.parameters(), lr=self.learning_rate(config), betas=tuple(t.betas))
        self.optimizers = {"g": adam}
        self._last: tuple[torch.Tensor, ...] = ()

    @property
    def networks(self) -> dict[str, nn.Module]:
        return {"generator": self.generator}

    def sample_batch(self, rng: np.random.Generator, replica: Replica) -> tuple[torch.Tensor, ...]:
        """This replica's share of ``plane_batch_size`` pairs per replica, drawn from the shared ``rng``, with
        the truths' positions at a non-integer factor."""
        batch = self.sampler.sample(rng, self.config.train.plane_batch_size * replica.world)
        return tuple(None if x is None else replica.shard(x).to(self.device) for x in batch)

    def train_step(self, batch: tuple[torch.Tensor, ...], replica: Replica) -> dict[str, float]:
        """One update of the plane network on its pixel loss (at the truths' positions on its fine grid)."""
        lr, hr, positions = batch
        with self.autocast:
            sr = self.generator.net(lr)
            if positions is not None:
                sr = sample_last(sr, self.generator.net.fine, positions)
            loss = charbonnier(sr, hr)
        optimizer_step(self.optimizers["g"], loss, replica)
        self._last = (lr, sr, hr)
        return {"pixel": loss.item()}

    def images(self) -> dict[str, torch.Tensor]:
        """The first LR patch of the last step, its SR and its truth (as one-slice 3D images)."""
        return {name: x[0, 0, :, :, None].detach().float().cpu() for name, x in zip(("lr", "sr", "hr"), self._last)}

    def metadata(self) -> dict[str, Any]:
        """Saved in every checkpoint next to the weights: the acquisition, which inference reports."""
        return {"noise_sigmas": self.settled.noise_sigmas, "acquisition": self.acquisition_report()}

    def acquisition_report(self) -> dict[str, Any]:
        """The acquisition the pairs were made with (:func:`mrisr.training.scanner_report.acquisition_report`)."""
        return acquisition_report(self.settled, self.settled.acquisition(self.config.model.fixed_fwhm), self.lr_zooms)

    def write_report(self, run_dir: Path) -> None:
        """``degradation.json`` and ``degradation.png``: the acquisition the pairs were made with."""
        write_acquisition_report(run_dir, self.acquisition_report(), self.first_lr)


def check_in_plane_spacing(scan: TrainingVolume, scale: Sequence[float], axis: int) -> None:
    """Warn when the finest in-plane voxels are not the size of the SR's voxels along the slice axis: the pairs
    then teach a resolution other than the one asked for (resample the scan in-plane first)."""
    target = scan.zooms[axis] / scale[axis]
    in_plane = [round(scan.zooms[a], 4) for a in range(3) if a != axis]
    if abs(min(in_plane) - target) > 0.1 * target:
        warnings.warn(
            f"{scan.path}: in-plane voxels {in_plane} mm differ from the SR's {target:g} mm along the slice axis; "
            "the planar model learns the in-plane resolution",
            stacklevel=2,
        )


def build_planar_system(config: Config, device: torch.device) -> PlanarSystem:
    """Load the scans and any HR volumes, settle the acquisition from the scans and build the system."""

    t = config.train
    scans = load_training_volumes(t.lr, t.percentile, (1, 1, 1), config.model.in_plane_mm)
    hr_volumes = load_training_volumes(t.hr, t.percentile, (1, 1, 1)) if t.hr else []
    settled = settle(config, hr_volumes, scans)
    resolved = settled.config
    axis = slice_axis(resolved.model.scale)
    for scan in scans:
        check_in_plane_spacing(scan, resolved.model.scale, axis)
    fwhm = resolved.model.fixed_fwhm[axis]
    sampler = pair_sampler(
        scans,
        hr_volumes,
        resolved.model.scale,
        fwhm,
        t.plane_patch,
        noise_sigmas=settled.noise_sigmas,
        external_fraction=t.external_fraction,
        intensity_jitter=t.intensity_jitter,
    )
    return PlanarSystem(settled, sampler, scans, device)
