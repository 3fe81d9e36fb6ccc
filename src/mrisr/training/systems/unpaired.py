"""The unpaired SR model as it trains (docs/METHOD.md §2–5): the generator, its discriminators and the
projection head of the contrastive loss, with their data, losses and optimisers.

Data flows per step (paper symbols, see :mod:`mrisr.models.generator`):
``Y_s → f_s → Ŷ_s``; ``Y_s → f_s → X_{s~t} → f_{s~t~s} → Y_{s~t~s}``; ``X_t → f_t``, which the feature
discriminator aligns with ``f_s``; in the free and hybrid models also ``f_t → X̂_t``.

What trains what:

- the LR discriminator makes ``X_{s~t}`` look like ``X_t``: it is the only teacher of the learned slice
  profile and contrast curve. With the physics degradation, a frozen profile (estimated or given) and no
  contrast curve, ``X_{s~t}`` has nothing left to learn, so that discriminator is not built;
- the feature discriminator is built only when its loss weight (``loss.feature_adversarial``) is above 0;
- in the physics model the cycle sees ``X_{s~t}`` detached: through the cycle the profile would learn to blur
  less, since a milder degradation is easier to invert;
- with ``loss.internal`` the scan also teaches itself (ZSSR, Shocher et al. 2018, written from the paper):
  a patch of ``X_t`` twice the LR patch, degraded once more by the same profile and brought back to the
  scan's noise level, is super-resolved and compared with the patch (its Rician floor removed, see
  :func:`rician_debiased`). It assumes that the anatomy looks
  alike one factor coarser, and it is the only loss in which the target scan's own content is learned
  from when the profile is frozen and nothing is aligned.

The training loop (:mod:`mrisr.training.loop`) sees this class through :class:`mrisr.training.loop.System`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from mrisr.acquisition.forward import white_noise_kept
from mrisr.acquisition.noise import top_up
from mrisr.config import Config
from mrisr.device import training_autocast
from mrisr.distributed import Replica, optimizer_step
from mrisr.losses import (
    PatchNCELoss,
    ProjectionHead,
    charbonnier,
    lsgan_discriminator_loss,
    lsgan_generator_loss,
)
from mrisr.losses.contrastive import gather_locations, sample_locations
from mrisr.models.discriminator import PatchDiscriminator
from mrisr.models.generator import UnpairedSR, downsample
from mrisr.models.registry import build_network
from mrisr.sampling.volumes import PatchSampler, TrainingVolume, load_training_volumes
from mrisr.training.scanner_report import acquisition_report, write_acquisition_report
from mrisr.training.settle import Settled, settle


@dataclass
class UnpairedBatch:
    """One replica's share of a step's data."""

    hr: torch.Tensor  # Y_s, HR source patches
    lr: torch.Tensor  # X_t, LR target patches (unpaired with hr)
    sigma: torch.Tensor | None  # the Rician level of each item's degradation (None: no noise)
    normal: torch.Tensor  # two standard normal fields per item, the noise of X_{s~t}
    nce_index: torch.Tensor  # the InfoNCE locations (flat LR-grid voxels), drawn whatever the NCE weight
    internal: torch.Tensor | None = None  # X_t patches of the internal pairs (LR grid, HR-patch size)
    internal_normal: torch.Tensor | None = None  # the noise fields of their degraded copies


@dataclass
class UnpairedForward:
    """The paper's tensors of one step."""

    hr: torch.Tensor  # Y_s
    lr: torch.Tensor  # X_t
    f_s: torch.Tensor
    sr_s: torch.Tensor | None  # Ŷ_s (the reconstructions are not decoded when their loss weight ``rec`` is 0)
    hr_t: torch.Tensor  # c(Y_s), the cycle's target
    lr_st: torch.Tensor  # X_{s~t}
    f_sts: torch.Tensor
    sr_sts: torch.Tensor  # Y_{s~t~s}
    f_t: torch.Tensor | None  # only where something learns from it: the feature discriminator, or X̂_t
    rec_t: torch.Tensor | None  # X̂_t (free and hybrid models only, with ``rec`` above 0)
    nce_index: torch.Tensor  # the InfoNCE locations of this step
    internal: torch.Tensor | None = None  # X_t patches of the internal pairs
    sr_internal: torch.Tensor | None = None  # their degraded copies, super-resolved


class UnpairedSystem:
    """Everything that trains in one unpaired run, built from a settled acquisition (see
    :func:`mrisr.training.settle.settle`)."""

    @staticmethod
    def learning_rate(config: Config) -> float:
        """Adam's rate at the start of the cosine schedule, of both optimisers: ``train.learning_rate``."""
        return config.train.learning_rate

    def __init__(
        self,
        settled: Settled,
        hr_volumes: Sequence[TrainingVolume],
        lr_volumes: Sequence[TrainingVolume],
        device: torch.device,
    ) -> None:
        config = settled.config
        t, m = config.train, config.model
        self.settled, self.config, self.device = settled, config, device
        self.autocast = training_autocast(t.precision, device)
        self.scale = tuple(m.scale)
        self.lr_patch = tuple(t.lr_patch)
        self.hr_patch = tuple(p * s for p, s in zip(self.lr_patch, self.scale))
        jitter = {"intensity_jitter": t.intensity_jitter, "transpose": t.transpose}
        self.hr_sampler = PatchSampler(
            hr_volumes, self.hr_patch, gamma_range=tuple(t.hr_gamma), synthetic=t.hr_synthetic, **jitter
        )
        self.lr_sampler = PatchSampler(lr_volumes, self.lr_patch, **jitter)
        self.internal_sampler = None
        if config.loss.internal > 0:
            self.internal_sampler = PatchSampler(
                lr_volumes, internal_patch(lr_volumes, self.hr_patch, self.scale), **jitter
            )
        self.noise_sigmas = torch.tensor(settled.noise_sigmas, dtype=torch.float32)
        self.noise_lost = 0.0  # the share of white noise's std the profile removes (set once the model exists)
        self.lr_zooms = np.mean([v.zooms for v in lr_volumes], axis=0)
        self.first_lr = lr_volumes[0].data

        self.generator: UnpairedSR = build_network(config).to(device)
        if config.loss.internal > 0:
            kept = noise_kept(self.generator.slice_profile)
            self.noise_lost = top_up(kept)
        learns_degradation = m.degradation != "physics" or m.fixed_fwhm is None or m.contrast
        self.lr_disc = PatchDiscriminator(1, m.disc_width, standardise=True).to(device) if learns_degradation else None
        aligns = config.loss.feature_adversarial > 0
        self.feat_disc = PatchDiscriminator(m.width, m.disc_width, n_strided=1).to(device) if aligns else None
        self.projection = ProjectionHead(m.width).to(device)
        self.nce = PatchNCELoss(config.loss.nce_temperature, config.loss.nce_negatives_across_batch)
        self.ssim = None
        if config.loss.ssim > 0:  # off by default
            from monai.losses import SSIMLoss  # MONAI takes seconds to import: only runs with this loss pay

            self.ssim = SSIMLoss(spatial_dims=3, data_range=1.0)

        contrast = self.generator.contrast
        scalars = list(self.generator.slice_profile.parameters()) + ([] if contrast is None else [contrast.raw_slopes])
        networks = [p for p in self.generator.parameters() if all(p is not q for q in scalars)]
        g_groups = [
            {"params": networks + list(self.projection.parameters()), "lr_scale": 1.0},
            # a few scalars (slice profile, contrast curve) that must move by O(1) within a few hundred steps
            {"params": scalars, "lr_scale": t.profile_lr_scale},
        ]
        discriminators = [d for d in (self.lr_disc, self.feat_disc) if d is not None]
        d_params = [p for d in discriminators for p in d.parameters()]
        rate = self.learning_rate(config)
        self.optimizers = {"g": torch.optim.Adam(g_groups, lr=rate, betas=tuple(t.betas))}
        if d_params:  # none with a frozen profile and no feature alignment: nothing adversarial to train
            self.optimizers["d"] = torch.optim.Adam(d_params, lr=rate, betas=tuple(t.betas))
        self._last: UnpairedForward | None = None

    @property
    def networks(self) -> dict[str, nn.Module]:
        """Every module that trains, by name; ``generator`` is the one exported to ``model.pt``."""
        named = {"generator": self.generator, "lr_disc": self.lr_disc, "feat_disc": self.feat_disc}
        return {name: module for name, module in {**named, "projection": self.projection}.items() if module is not None}

    # ---- one step ------------------------------------------------------------------------------
    def sample_batch(self, rng: np.random.Generator, replica: Replica) -> UnpairedBatch:
        """This replica's share of the global batch: HR and LR patches, noise levels and normal fields.

        Each replica draws the whole global batch (``batch_size`` per replica) from the shared generators
        and keeps its rows: patches and noise differ across ranks, and the run does not depend on the split.
        """
        n, shard = self.config.train.batch_size * replica.world, replica.shard
        hr = shard(self.hr_sampler.sample(rng, n)).to(self.device)
        lr = shard(self.lr_sampler.sample(rng, n)).to(self.device)
        sigma = None
        if float(self.noise_sigmas.max()) > 0:  # each patch gets the noise level of a random LR volume
            sigma = shard(self.noise_sigmas[torch.from_numpy(rng.integers(len(self.noise_sigmas), size=n))])
            sigma = sigma.to(self.device)
        normal = shard(torch.randn(n, 2, *self.lr_patch)).to(self.device)
        # drawn every step, so that the loss-weight ablations (nce = 0) see the same patches and noise
        index = sample_locations(int(np.prod(self.lr_patch)), self.config.loss.nce_patches, rng).to(self.device)
        batch = UnpairedBatch(hr, lr, sigma, normal, index)
        if self.internal_sampler is not None:  # drawn last, so that runs without it keep their streams
            batch.internal = shard(self.internal_sampler.sample(rng, n)).to(self.device)
            coarse = [p // f for p, f in zip(self.internal_sampler.patch_size, self.scale)]
            batch.internal_normal = shard(torch.randn(n, 2, *coarse)).to(self.device)
        return batch

    def forward_train(self, batch: UnpairedBatch) -> UnpairedForward:
        """The generator's tensors of one step (see the module docstring)."""
        g, hr, lr = self.generator, batch.hr, batch.lr
        reconstructs = self.config.loss.rec > 0
        decodes_t = reconstructs and g.lr_decoder is not None
        f_s = g.hr_encoder(hr)
        sr_s = g.sr_decoder(f_s, downsample(hr, self.scale)) if reconstructs else None
        hr_t = g.target_contrast(hr)
        lr_st = g.degrade(hr_t, batch.sigma, features=f_s, normal=batch.normal)
        cycle_in = lr_st.detach() if g.degradation == "physics" else lr_st
        f_sts = g.lr_encoder(cycle_in)
        sr_sts = g.sr_decoder(f_sts, cycle_in)
        f_t = g.lr_encoder(lr) if self.feat_disc is not None or decodes_t else None
        rec_t = g.lr_decoder(f_t, lr) if decodes_t else None
        sr_internal = internal = None
        if batch.internal is not None:
            with torch.no_grad():  # the scan's own noise, mostly averaged away by the profile, is put back
                sigma = None if batch.sigma is None else batch.sigma * self.noise_lost
                coarser = g.degrade(batch.internal, sigma, normal=batch.internal_normal)
            sr_internal = g.sr_decoder(g.lr_encoder(coarser), coarser)
            internal = batch.internal if batch.sigma is None else rician_debiased(batch.internal, batch.sigma)
        return UnpairedForward(
            hr, lr, f_s, sr_s, hr_t, lr_st, f_sts, sr_sts, f_t, rec_t, batch.nce_index, internal, sr_internal
        )

    def generator_losses(self, x: UnpairedForward) -> dict[str, torch.Tensor]:
        """The generator's loss terms, by their ``config.loss`` weight names."""
        w = self.config.loss
        reconstructions = [charbonnier(y, target) for y, target in ((x.sr_s, x.hr), (x.rec_t, x.lr)) if y is not None]
        losses = {"rec": sum(reconstructions)} if reconstructions else {}
        losses["cyc"] = charbonnier(x.sr_sts, x.hr_t.detach())
        if w.ssim > 0:
            losses["ssim"] = self.ssim(x.sr_sts, x.hr_t.detach())
        if self.lr_disc is not None:
            losses["lr_adversarial"] = lsgan_generator_loss(self.lr_disc(x.lr_st))
        if self.feat_disc is not None:
            losses["feature_adversarial"] = lsgan_generator_loss(self.feat_disc(x.f_t))
        if x.sr_internal is not None:
            losses["internal"] = charbonnier(x.sr_internal, x.internal)
        if w.nce > 0:
            queries, keys = gather_locations(x.f_sts, x.nce_index), gather_locations(x.f_s, x.nce_index)
            losses["nce"] = self.nce(self.projection(queries), self.projection(keys))
        return losses

    def discriminator_loss(self, x: UnpairedForward) -> torch.Tensor:
        """LSGAN loss of the feature discriminator (``f_s`` real, ``f_t`` fake) and of the LR one, those that exist."""
        loss = torch.zeros((), device=self.device)
        if self.feat_disc is not None:
            loss = loss + lsgan_discriminator_loss(self.feat_disc(x.f_s.detach()), self.feat_disc(x.f_t.detach()))
        if self.lr_disc is not None:
            loss = loss + lsgan_discriminator_loss(self.lr_disc(x.lr), self.lr_disc(x.lr_st.detach()))
        return loss

    def train_step(self, batch: UnpairedBatch, replica: Replica) -> dict[str, float]:
        """One generator update, then one update of the discriminators if any; returns the losses and the FWHM."""
        with self.autocast:
            forward = self.forward_train(batch)
            losses = self.generator_losses(forward)
            weights = self.config.loss
            g_loss = sum(getattr(weights, name) * value for name, value in losses.items())
        optimizer_step(self.optimizers["g"], g_loss, replica)
        logged = {**{k: v.item() for k, v in losses.items()}, "g": g_loss.item()}
        if "d" in self.optimizers:
            with self.autocast:
                d_loss = self.discriminator_loss(forward)
            optimizer_step(self.optimizers["d"], d_loss, replica)
            logged["d"] = d_loss.item()
        self._last = forward
        fwhm = self.generator.slice_profile.fwhm().detach()
        return {**logged, **{f"fwhm{axis}": float(v) for axis, v in enumerate(fwhm) if self.scale[axis] > 1}}

    # ---- what the loop records -----------------------------------------------------------------
    def images(self) -> dict[str, torch.Tensor]:
        """The first item of the last step's patches, by paper symbol (3D, on the CPU)."""
        if self._last is None:
            return {}
        x = self._last
        named = {"Y_s": x.hr, "X_s~t": x.lr_st, "Y_s~t~s": x.sr_sts, "X_t": x.lr}
        return {name: image[0, 0].detach().float().cpu() for name, image in named.items()}

    def metadata(self) -> dict[str, Any]:
        """Saved in every checkpoint next to the weights: the acquisition, which inference reports."""
        return {"noise_sigmas": self.noise_sigmas.tolist(), "acquisition": self.learned_degradation()}

    def write_report(self, run_dir: Path) -> None:
        """``degradation.json`` and ``degradation.png``: what the run learned about the scanner."""
        write_acquisition_report(run_dir, self.learned_degradation(), self.first_lr)

    def learned_degradation(self) -> dict[str, Any]:
        """The degradation in physical units (:func:`mrisr.training.scanner_report.acquisition_report`) and the
        contrast curve, if learned."""
        fwhm = self.generator.slice_profile.fwhm().detach().cpu().numpy()
        report = acquisition_report(self.settled, self.settled.acquisition(fwhm), self.lr_zooms)
        return {**report, **self.learned_contrast()}

    def learned_contrast(self) -> dict[str, Any]:
        """The contrast curve at 0, 0.25, …, 1 of the HR source's 99.9th percentile (empty when not learned)."""
        if self.generator.contrast is None:
            return {}
        points = torch.linspace(0, 1, 5, device=self.device)
        values = self.generator.contrast(points).detach().cpu()
        return {"contrast_curve": {f"{float(x):.2f}": round(float(y), 4) for x, y in zip(points, values)}}


def rician_debiased(x: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
    """``sqrt(max(x² - 2σ², 0))`` per item: a Rician magnitude with its noise floor removed, so that the air of
    an internal pair's target is 0 (its median), as in the HR sources, not the Rayleigh mean."""
    floor = 2 * sigma.reshape(-1, *[1] * (x.ndim - 1)) ** 2
    return (x.square() - floor).clamp_min(0).sqrt()


def internal_patch(volumes: Sequence[TrainingVolume], hr_patch: Sequence[int], scale: Sequence[int]) -> tuple[int, ...]:
    """The patch of the internal pairs, on the LR grid: the HR patch, or less where a volume is smaller
    (a multiple of the factor, so that it degrades onto a whole coarser grid)."""
    smallest = np.min([v.data.shape for v in volumes], axis=0)
    return tuple(int(min(p, (n // f) * f)) for p, n, f in zip(hr_patch, smallest, scale))


def noise_kept(profile: nn.Module) -> float:
    """The share of white noise's std that survives the slice profile and decimation."""
    return white_noise_kept(profile.scale, profile.fwhm().detach().cpu().double().tolist(), profile.shape)


def build_unpaired_system(config: Config, device: torch.device) -> UnpairedSystem:
    """Load the run's volumes, settle its acquisition (:mod:`mrisr.training.settle`) and build the system."""

    t = config.train
    lr_patch = tuple(t.lr_patch)
    hr_patch = tuple(p * s for p, s in zip(lr_patch, config.model.scale))
    hr_volumes = load_training_volumes(t.hr, t.percentile, hr_patch)
    lr_volumes = load_training_volumes(t.lr, t.percentile, lr_patch, config.model.in_plane_mm)
    return UnpairedSystem(settle(config, hr_volumes, lr_volumes), hr_volumes, lr_volumes, device)
