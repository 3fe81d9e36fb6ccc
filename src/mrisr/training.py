"""Training of the unpaired SR model (METHOD.md §2–5): one generator step and one discriminator step.

Data flows per step (paper symbols, see :mod:`mrisr.models.generator`):
``Y_s → f_s → Ŷ_s``; ``Y_s → f_s → X_{s~t} → f_{s~t~s} → Y_{s~t~s}``; ``X_t → f_t → X̂_t``.
"""

from __future__ import annotations

import json
import math
import os
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from tqdm import tqdm

from mrisr import MRISRError
from mrisr.checkpoint import build_model, load_checkpoint, save_checkpoint
from mrisr.config import PROFILES, Config
from mrisr.data import PatchSampler, TrainingVolume, load_training_volumes
from mrisr.device import set_threads
from mrisr.distributed import average_gradients, broadcast_parameters, check_in_sync, finish, global_max, init_replica
from mrisr.estimation import estimate_fwhm
from mrisr.figures import degradation_figure
from mrisr.losses import (
    PatchNCELoss,
    ProjectionHead,
    charbonnier,
    lsgan_discriminator_loss,
    lsgan_generator_loss,
)
from mrisr.losses.contrastive import gather_locations, sample_locations
from mrisr.models import PatchDiscriminator
from mrisr.models.generator import downsample


class Trainer:
    """Holds the networks, optimisers, samplers and RNGs of one run; ``train()`` runs the budget."""

    def __init__(self, config: Config, run_dir: str | Path, *, resume: bool = False) -> None:
        self.config = config
        self.run_dir = Path(run_dir)
        self.replica = init_replica(config.train.device)
        self.device = self.replica.device
        set_threads(config.train.threads)
        torch.manual_seed(config.train.seed)
        self.rng = np.random.default_rng(config.train.seed)
        self.scale = tuple(config.model.scale)
        t, m = config.train, config.model
        self.lr_patch = tuple(t.lr_patch)
        self.hr_patch = tuple(p * s for p, s in zip(self.lr_patch, self.scale))

        hr_volumes = load_training_volumes(t.hr, t.percentile, self.hr_patch)
        lr_volumes = load_training_volumes(t.lr, t.percentile, self.lr_patch)
        self.hr_sampler = PatchSampler(
            hr_volumes, self.hr_patch, intensity_jitter=t.intensity_jitter, gamma_range=tuple(t.hr_gamma)
        )
        self.lr_sampler = PatchSampler(lr_volumes, self.lr_patch, intensity_jitter=t.intensity_jitter)
        sigmas = [v.noise_sigma for v in lr_volumes] if m.noise_sigma is None else [m.noise_sigma]
        self.noise_sigmas = torch.tensor(sigmas, dtype=torch.float32)
        self.lr_zooms = np.mean([v.zooms for v in lr_volumes], axis=0)
        if m.profile not in PROFILES:
            raise MRISRError(f"config: model.profile must be one of {PROFILES}, got {m.profile!r}")
        self.profile_source = "learned (LR discriminator)" if m.fixed_fwhm is None else "fixed (config)"
        if m.fixed_fwhm is None and m.profile == "estimate" and m.degradation != "free":
            m.fixed_fwhm = estimate_profile(lr_volumes, hr_volumes, self.scale)  # saved in config.yaml: resumes keep it
            reference = "the scan's own in-plane axes" if 1 in self.scale else "the HR sources"
            self.profile_source = f"estimated (power spectra vs {reference})"
        self.lr_volumes = lr_volumes

        self.generator = build_model(config).to(self.device)
        self.lr_disc = PatchDiscriminator(1, m.disc_width, standardise=True).to(self.device)
        self.feat_disc = PatchDiscriminator(m.width, m.disc_width, n_strided=1).to(self.device)
        self.projection = ProjectionHead(m.width).to(self.device)
        self.nce = PatchNCELoss(config.loss.nce_temperature, config.loss.nce_negatives_across_batch)
        contrast = self.generator.contrast
        scalars = list(self.generator.slice_profile.parameters()) + ([] if contrast is None else [contrast.raw_slopes])
        networks = [p for p in self.generator.parameters() if all(p is not q for q in scalars)]
        g_groups = [
            {"params": networks + list(self.projection.parameters()), "lr_scale": 1.0},
            # a few scalars (slice profile, contrast curve) that must move by O(1) within a few hundred steps
            {"params": scalars, "lr_scale": t.profile_lr_scale},
        ]
        d_params = list(self.lr_disc.parameters()) + list(self.feat_disc.parameters())
        self.g_opt = torch.optim.Adam(g_groups, lr=t.learning_rate, betas=tuple(t.betas))
        self.d_opt = torch.optim.Adam(d_params, lr=t.learning_rate, betas=tuple(t.betas))
        self.step = 0
        self.elapsed = 0.0
        self.best_ssim = -math.inf
        if resume:
            self._resume()
        broadcast_parameters(self.networks, self.replica)

    @property
    def networks(self) -> list[nn.Module]:
        return [self.generator, self.lr_disc, self.feat_disc, self.projection]

    # ---- one iteration -------------------------------------------------------------------------
    def sample_batch(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None, torch.Tensor]:
        """This replica's share of the global batch: HR and LR patches, noise levels and normal fields.

        Each replica draws the whole global batch (``batch_size`` per replica) from the shared generators
        and keeps its rows: patches and noise differ across ranks, and the run does not depend on the split.
        """
        n, shard = self.config.train.batch_size * self.replica.world, self.replica.shard
        hr = shard(self.hr_sampler.sample(self.rng, n)).to(self.device)
        lr = shard(self.lr_sampler.sample(self.rng, n)).to(self.device)
        sigma = None
        if float(self.noise_sigmas.max()) > 0:  # each patch gets the noise level of a random LR volume
            sigma = shard(self.noise_sigmas[torch.from_numpy(self.rng.integers(len(self.noise_sigmas), size=n))])
            sigma = sigma.to(self.device)
        normal = shard(torch.randn(n, 2, *self.lr_patch)).to(self.device)
        return hr, lr, sigma, normal

    def train_step(self) -> dict[str, float]:
        """One generator update then one discriminator update; returns the losses."""
        w = self.config.loss
        hr, lr, sigma, normal = self.sample_batch()
        g = self.generator

        f_s = g.hr_encoder(hr)
        sr_s = g.sr_decoder(f_s, downsample(hr, self.scale))  # Ŷ_s
        # the contrast curve, like the physics degradation, learns from the LR discriminator only
        hr_t = g.target_contrast(hr)  # c(Y_s): the cycle's target
        lr_st = g.degrade(hr_t, sigma, features=f_s, normal=normal)  # X_{s~t}
        # the physics degradation learns from the LR discriminator only: through the cycle it would
        # learn to blur less, since a milder degradation is easier to invert
        cycle_in = lr_st.detach() if g.degradation == "physics" else lr_st
        f_sts = g.lr_encoder(cycle_in)
        sr_sts = g.sr_decoder(f_sts, cycle_in)  # Y_{s~t~s}
        f_t = g.lr_encoder(lr)
        rec_t = g.lr_decoder(f_t, lr)  # X̂_t

        losses = {
            "rec": charbonnier(sr_s, hr) + charbonnier(rec_t, lr),
            "cyc": charbonnier(sr_sts, hr_t.detach()),
            "sty": lsgan_generator_loss(self.lr_disc(lr_st)),
            "align": lsgan_generator_loss(self.feat_disc(f_t)),
        }
        if w.nce > 0:
            index = sample_locations(f_s, w.nce_patches)
            losses["nce"] = self.nce(
                self.projection(gather_locations(f_sts, index)), self.projection(gather_locations(f_s, index))
            )
        g_loss = sum(getattr(w, name) * value for name, value in losses.items())
        self.g_opt.zero_grad(set_to_none=True)
        g_loss.backward()
        average_gradients((p for group in self.g_opt.param_groups for p in group["params"]), self.replica)
        self.g_opt.step()

        d_loss = lsgan_discriminator_loss(self.lr_disc(lr), self.lr_disc(lr_st.detach())) + lsgan_discriminator_loss(
            self.feat_disc(f_s.detach()), self.feat_disc(f_t.detach())
        )
        self.d_opt.zero_grad(set_to_none=True)
        d_loss.backward()
        average_gradients((p for group in self.d_opt.param_groups for p in group["params"]), self.replica)
        self.d_opt.step()
        self.step += 1
        self._last_images = (hr, lr_st, sr_sts, lr)
        fwhm = {
            f"fwhm{axis}": float(v) for axis, v in enumerate(g.slice_profile.fwhm().detach()) if self.scale[axis] > 1
        }
        return {**{k: v.item() for k, v in losses.items()}, "g": g_loss.item(), "d": d_loss.item(), **fwhm}

    # ---- schedule and budget -------------------------------------------------------------------
    def progress(self) -> float:
        """Fraction of the budget used: by steps, or by minutes when ``minutes`` is set."""
        t = self.config.train
        if t.minutes is not None:
            return min(1.0, self.elapsed / (60.0 * t.minutes))
        return min(1.0, self.step / max(1, t.steps))

    def set_learning_rate(self) -> None:
        """Cosine decay from ``learning_rate`` to ``min_learning_rate`` over the budget."""
        t = self.config.train
        cosine = 0.5 * (1 + math.cos(math.pi * self.progress()))
        lr = t.min_learning_rate + (t.learning_rate - t.min_learning_rate) * cosine
        for opt in (self.g_opt, self.d_opt):
            for group in opt.param_groups:
                group["lr"] = lr * group.get("lr_scale", 1.0)

    def train(self) -> Path:
        """Run until the budget is spent; write ``last.pt`` every N steps and ``model.pt`` at the end.

        Under ``torchrun`` every replica trains; rank 0 alone logs, checkpoints and exports.
        """
        from torch.utils.tensorboard import SummaryWriter

        t, main = self.config.train, self.replica.is_main
        if main:
            self.run_dir.mkdir(parents=True, exist_ok=True)
            self.config.save(self.run_dir / "config.yaml")
        writer = SummaryWriter(str(self.run_dir / "tensorboard")) if main else None
        total = t.steps if t.minutes is None else None
        bar = tqdm(total=total, initial=self.step, desc="train", unit="step", dynamic_ncols=True, disable=not main)
        for module in self.networks:
            module.train()
        while self.progress() < 1.0:
            start = time.perf_counter()
            self.set_learning_rate()
            losses = self.train_step()
            self.elapsed = global_max(self.elapsed + time.perf_counter() - start, self.replica)
            bar.update(1)
            if self.step % t.checkpoint_every == 0:
                check_in_sync(self.networks, self.replica)
            if not main:
                continue
            if self.step % t.log_every == 0 or self.step == 1:
                bar.set_postfix({k: f"{v:.3f}" for k, v in losses.items()})
                for name, value in losses.items():
                    writer.add_scalar(f"loss/{name}", value, self.step)
                writer.add_scalar("lr", self.g_opt.param_groups[0]["lr"], self.step)
            if self.step % t.checkpoint_every == 0:
                self._log_images(writer)
                self.save_state()
            if t.val_lr and self.step % t.val_every == 0:
                self._validate(writer)
        bar.close()
        check_in_sync(self.networks, self.replica)
        if main:
            self.save_state()
            report = self.learned_degradation()
            (self.run_dir / "degradation.json").write_text(json.dumps(report, indent=2) + "\n")
            degradation_figure(self.run_dir / "degradation.png", report, self.lr_volumes[0].data)
            tqdm.write(f"learned degradation: {report}")
            if t.val_lr:
                self._validate(writer)
            else:
                self.export_model()
            writer.close()
        finish(self.replica)
        return self.run_dir / "model.pt"

    def learned_degradation(self) -> dict[str, Any]:
        """The degradation in physical units: slice-profile FWHM per axis in mm, noise relative to signal."""
        hr_zooms = self.lr_zooms / np.asarray(self.scale)
        fwhm = self.generator.slice_profile.fwhm().detach().cpu().numpy()
        return {
            "model": self.config.model.degradation,
            "fwhm_source": self.profile_source if self.config.model.degradation != "free" else "unused (free model)",
            "fwhm_hr_voxels": [round(float(v), 3) for v in fwhm],
            "fwhm_mm": [round(float(v), 3) for v in fwhm * hr_zooms],
            "lr_voxel_mm": [round(float(v), 3) for v in self.lr_zooms],
            "noise_sigma": [round(float(v), 5) for v in self.noise_sigmas],
            "noise_sigma_note": "Rician sigma relative to the LR's 99.9th percentile, "
            + ("estimated in its air" if self.config.model.noise_sigma is None else "as configured"),
            **self.learned_contrast(),
        }

    def learned_contrast(self) -> dict[str, Any]:
        """The contrast curve at 0, 0.25, …, 1 of the HR source's 99.9th percentile (empty when not learned)."""
        if self.generator.contrast is None:
            return {}
        points = torch.linspace(0, 1, 5, device=self.device)
        values = self.generator.contrast(points).detach().cpu()
        return {"contrast_curve": {f"{float(x):.2f}": round(float(y), 4) for x, y in zip(points, values)}}

    # ---- checkpoints ---------------------------------------------------------------------------
    def save_state(self) -> None:
        """Everything needed to continue bit-for-bit: weights, optimisers, step, clock and RNGs.

        The previous state is kept as ``previous.pt`` until the new one is complete.
        """
        folder = self.run_dir / "checkpoints"
        folder.mkdir(parents=True, exist_ok=True)
        if (folder / "last.pt").is_file():
            os.replace(folder / "last.pt", folder / "previous.pt")
        save_checkpoint(
            folder / "last.pt",
            self.generator,
            self.config,
            step=self.step,
            elapsed_seconds=self.elapsed,
            best_ssim=self.best_ssim if math.isfinite(self.best_ssim) else None,
            noise_sigmas=self.noise_sigmas.tolist(),
            networks={name: _cpu_state(getattr(self, name)) for name in ("lr_disc", "feat_disc", "projection")},
            optimizers={"g": self.g_opt.state_dict(), "d": self.d_opt.state_dict()},
            rng={"torch": torch.get_rng_state(), "numpy": self.rng.bit_generator.state},
        )

    def export_model(self, **extra: Any) -> None:
        save_checkpoint(
            self.run_dir / "model.pt",
            self.generator,
            self.config,
            step=self.step,
            noise_sigmas=self.noise_sigmas.tolist(),
            **extra,
        )

    def _load_latest_state(self) -> tuple[Path, dict[str, Any]]:
        """``last.pt``, or ``previous.pt`` if the run was killed while replacing it or left it damaged.

        Loaded onto the CPU: the RNG state must stay there, and ``load_state_dict`` moves weights and
        optimiser moments to wherever the networks are."""
        folder = self.run_dir / "checkpoints"
        last, previous = folder / "last.pt", folder / "previous.pt"
        try:
            return last, load_checkpoint(last)
        except MRISRError as err:
            if not previous.is_file():
                raise MRISRError(f"{folder}: nothing to resume from ({err})") from None
            warnings.warn(f"{err}; resuming from {previous.name}", stacklevel=2)
            return previous, load_checkpoint(previous)

    def _resume(self) -> None:
        path, state = self._load_latest_state()
        if tuple(state["scale"]) != self.scale:
            raise MRISRError(f"{path}: checkpoint scale {state['scale']} differs from the config's {list(self.scale)}")
        self.generator.load_state_dict(state["generator"])
        for name, module_state in state["networks"].items():
            getattr(self, name).load_state_dict(module_state)
        self.g_opt.load_state_dict(state["optimizers"]["g"])
        self.d_opt.load_state_dict(state["optimizers"]["d"])
        self.step = int(state["step"])
        self.elapsed = float(state["elapsed_seconds"])
        self.best_ssim = state["best_ssim"] if state.get("best_ssim") is not None else -math.inf
        torch.set_rng_state(state["rng"]["torch"])
        self.rng.bit_generator.state = state["rng"]["numpy"]

    # ---- monitoring ----------------------------------------------------------------------------
    def _log_images(self, writer) -> None:
        hr, lr_st, sr_sts, lr = (x[0, 0].detach().float().cpu() for x in self._last_images)
        for name, img in {"Y_s": hr, "X_s~t": lr_st, "Y_s~t~s": sr_sts, "X_t": lr}.items():
            mid = img[:, :, img.shape[2] // 2]
            writer.add_image(f"patch/{name}", mid.clamp(0, 1)[None], self.step)

    def _validate(self, writer) -> None:
        """SSIM of the SR of the paired validation LR against its HR; keep the best model."""
        from mrisr.inference import super_resolve_array
        from mrisr.io import load_volume
        from mrisr.metrics import normalise_pair, ssim

        t = self.config.train
        self.generator.eval()
        scores = []
        for lr_path, hr_path in zip(t.val_lr, t.val_hr):
            sr = super_resolve_array(
                self.generator, load_volume(lr_path).data, percentile=t.percentile, device=self.device
            )
            truth, pred = normalise_pair(load_volume(hr_path).data, sr, t.percentile)
            scores.append(ssim(pred, truth))
        self.generator.train()
        score = float(np.mean(scores))
        writer.add_scalar("val/ssim", score, self.step)
        if score > self.best_ssim:
            self.best_ssim = score
            self.export_model(val_ssim=score)


def estimate_profile(
    lr_volumes: list[TrainingVolume], hr_volumes: list[TrainingVolume], scale: tuple[int, ...], most: int = 3
) -> tuple[float, float, float]:
    """Slice-profile FWHM per axis (HR voxels): the median of the spectral estimates of up to ``most`` LR
    volumes against up to ``most`` HR sources, or against their own full-resolution axes where they have
    some (:mod:`mrisr.estimation`)."""
    references = [v.data for v in hr_volumes[:most]]
    estimates = [estimate_fwhm(v.data, scale, references, noise_sigma=v.noise_sigma) for v in lr_volumes[:most]]
    median = np.median(np.asarray(estimates), axis=0)
    return float(median[0]), float(median[1]), float(median[2])


def _cpu_state(module: nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().cpu() for k, v in module.state_dict().items()}


def train(config: Config, run_dir: str | Path, *, resume: bool = False) -> Path:
    """Train a model as ``config`` says and return the path of the model to infer with."""
    return Trainer(config, run_dir, resume=resume).train()
