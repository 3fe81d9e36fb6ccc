"""The training loop: steps under a budget with a cosine schedule, logging, checkpoints and resume, validation
and export. It knows nothing of a model's losses: it drives any :class:`System`."""

from __future__ import annotations

import math
import time
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from mrisr.config import TrainConfig
from mrisr.console import log, showing_progress, warn
from mrisr.distributed import Replica, broadcast_parameters, check_in_sync, finish, global_max
from mrisr.training.monitor import Monitor, validation_ssim
from mrisr.training.state import Progress, divergence_warning, export_model, restore, save_state
from mrisr.training.system import System


def budget_used(train: TrainConfig, progress: Progress) -> float:
    """Fraction of the budget used: by steps, or by training minutes when ``minutes`` is set."""
    if train.minutes is not None:
        return min(1.0, progress.elapsed / (60.0 * train.minutes))
    return min(1.0, progress.step / max(1, train.steps))


def cosine_learning_rate(peak: float, train: TrainConfig, used: float) -> float:
    """Cosine decay from ``peak`` to ``min_learning_rate`` as the budget is used."""
    cosine = 0.5 * (1 + math.cos(math.pi * used))
    return train.min_learning_rate + (peak - train.min_learning_rate) * cosine


def describe_budget(train: TrainConfig) -> str:
    """The budget in words: ``2000 steps`` or ``20 minutes``."""
    return f"{train.steps} steps" if train.minutes is None else f"{train.minutes:g} minutes"


def describe_device(system: System) -> str:
    """Where the generator's weights live, and the CPU threads PyTorch uses."""
    device = next(system.generator.parameters()).device
    return f"{device} ({torch.get_num_threads()} CPU threads)"


def finished_run(run_dir: Path, progress: Progress) -> str:
    """What a finished run left, as a few aligned lines for the console."""
    lines = [
        f"trained {progress.step} steps in {progress.elapsed / 60:.1f} minutes",
        f"  model   {run_dir / 'model.pt'}",
        f"  report  {run_dir / 'degradation.json'} (mrisr report {run_dir})",
        f"  logs    {run_dir / 'tensorboard'} (tensorboard --logdir {run_dir / 'tensorboard'})",
    ]
    return "\n".join(lines)


class Trainer:
    """Runs one system through its budget; rank 0 alone logs, checkpoints and exports."""

    def __init__(self, system: System, run_dir: str | Path, replica: Replica, *, resume: bool = False) -> None:
        self.system, self.run_dir, self.replica = system, Path(run_dir), replica
        self.train_config = system.config.train
        self.peak_rate = system.learning_rate(system.config)
        self.rng = np.random.default_rng(self.train_config.seed)
        self.progress = restore(self.run_dir, system, self.rng) if resume else Progress()
        broadcast_parameters(list(system.networks.values()), replica)

    @property
    def step(self) -> int:
        return self.progress.step

    def train_step(self) -> dict[str, float]:
        """Set the learning rate, draw a batch and take one step of the system."""
        rate = cosine_learning_rate(self.peak_rate, self.train_config, budget_used(self.train_config, self.progress))
        for optimizer in self.system.optimizers.values():
            for group in optimizer.param_groups:
                group["lr"] = rate * group.get("lr_scale", 1.0)
        losses = self.system.train_step(self.system.sample_batch(self.rng, self.replica), self.replica)
        self.progress.record(losses)
        return losses

    def save_state(self) -> None:
        save_state(self.run_dir, self.system, self.progress, self.rng)

    def train(self) -> Path:
        """Run until the budget is spent; write ``last.pt`` every N steps and ``model.pt`` at the end
        (with validation volumes: the best-SSIM model)."""
        t, main = self.train_config, self.replica.is_main
        networks = list(self.system.networks.values())
        monitor = None
        if main:
            self.run_dir.mkdir(parents=True, exist_ok=True)
            self.system.config.save(self.run_dir / "config.yaml")
            monitor = Monitor(self.run_dir)
        total = t.steps if t.minutes is None else None
        if main:
            log.debug(f"training {describe_budget(t)} on {describe_device(self.system)}, seed {t.seed}")
        visible = main and showing_progress()
        bar = tqdm(total=total, initial=self.step, desc="train", unit="step", dynamic_ncols=True, disable=not visible)
        for module in networks:
            module.train()
        while budget_used(t, self.progress) < 1.0:
            start = time.perf_counter()
            losses = self.train_step()
            self.progress.elapsed = global_max(self.progress.elapsed + time.perf_counter() - start, self.replica)
            bar.update(1)
            if self.step % t.checkpoint_every == 0:
                check_in_sync(networks, self.replica)
            if monitor is None:
                continue
            if self.step % t.log_every == 0 or self.step == 1:
                bar.set_postfix({k: f"{v:.3f}" for k, v in losses.items()})
                rate = next(iter(self.system.optimizers.values())).param_groups[0]["lr"]
                monitor.log_losses(self.step, losses, rate)
            if self.step % t.checkpoint_every == 0:
                monitor.log_images(self.step, self.system.images())
                self.save_state()
            if t.val_lr and self.step % t.val_every == 0:
                self._validate(monitor)
        bar.close()
        check_in_sync(networks, self.replica)
        if monitor is not None:
            warning = divergence_warning(self.progress.first_loss, list(self.progress.recent_losses))
            if warning:
                warn(warning)
            self.save_state()
            self.system.write_report(self.run_dir)
            if t.val_lr:
                self._validate(monitor)
            else:
                export_model(self.run_dir, self.system, self.progress)
            monitor.close()
            log.info(finished_run(self.run_dir, self.progress))
        finish(self.replica)
        return self.run_dir / "model.pt"

    def _validate(self, monitor: Monitor) -> None:
        """Score the validation pairs; export the model when it is the best so far."""
        device = next(self.system.generator.parameters()).device
        score = validation_ssim(self.system.generator, self.train_config, device)
        monitor.log_validation(self.step, score)
        if score > self.progress.best_ssim:
            self.progress.best_ssim = score
            export_model(self.run_dir, self.system, self.progress, val_ssim=score)
