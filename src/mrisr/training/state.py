"""A run's state on disk: ``checkpoints/last.pt`` to resume bit for bit, ``model.pt`` to infer with."""

from __future__ import annotations

import math
import os
import warnings
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch import nn

from mrisr import MRISRError
from mrisr.models.checkpoint import load_checkpoint, save_checkpoint

if TYPE_CHECKING:
    from mrisr.training.system import System


RECENT_STEPS = 100
"""Steps whose losses decide whether a run diverged (:func:`divergence_warning`)."""
DIVERGED = 1.5
"""A run ends diverged when its recent median loss is above this multiple of its first step's loss."""


@dataclass
class Progress:
    """Where a run stands: steps taken, training seconds spent, best validation SSIM so far, and the total
    loss of its first step and of its last :data:`RECENT_STEPS` steps."""

    step: int = 0
    elapsed: float = 0.0
    best_ssim: float = -math.inf
    first_loss: float = math.nan
    recent_losses: deque[float] = field(default_factory=lambda: deque(maxlen=RECENT_STEPS))

    def record(self, losses: dict[str, float]) -> None:
        """Count one step and keep its total loss."""
        self.step += 1
        total = float(sum(losses.values()))
        if self.step == 1:
            self.first_loss = total
        self.recent_losses.append(total)


def divergence_warning(first_loss: float | None, recent_losses: list[float]) -> str | None:
    """A warning when the median loss of the last steps is above :data:`DIVERGED` × the first step's, else ``None``.

    A run that ends clearly worse than it started has diverged (a learning rate too high for the network, as the
    ``gpu`` preset's first version did on one H100); for the planar model the first
    step's loss is that of cubic interpolation, so its output is then likely worse than cubic."""
    if first_loss is None or not math.isfinite(first_loss) or not recent_losses:
        return None
    last = float(np.median(recent_losses))
    if last <= DIVERGED * first_loss:
        return None
    return (
        f"training diverged: the median loss of the last {len(recent_losses)} steps ({last:.4g}) is above "
        f"{DIVERGED:g} x the first step's ({first_loss:.4g}), so the model is likely worse than where it "
        "started; train again with a lower train.learning_rate"
    )


def save_state(run_dir: Path, system: System, progress: Progress, rng: np.random.Generator) -> None:
    """Everything needed to continue bit for bit: weights, optimisers, progress and RNGs.

    The previous state is kept as ``previous.pt`` until the new one is complete.
    """
    folder = run_dir / "checkpoints"
    folder.mkdir(parents=True, exist_ok=True)
    if (folder / "last.pt").is_file():
        os.replace(folder / "last.pt", folder / "previous.pt")
    others = {name: _cpu_state(module) for name, module in system.networks.items() if name != "generator"}
    save_checkpoint(
        folder / "last.pt",
        system.generator,
        system.config,
        step=progress.step,
        elapsed_seconds=progress.elapsed,
        best_ssim=progress.best_ssim if math.isfinite(progress.best_ssim) else None,
        first_loss=progress.first_loss if math.isfinite(progress.first_loss) else None,
        recent_losses=list(progress.recent_losses),
        networks=others,
        optimizers={name: opt.state_dict() for name, opt in system.optimizers.items()},
        rng={"torch": torch.get_rng_state(), "numpy": rng.bit_generator.state},
        **system.metadata(),
    )


def export_model(run_dir: Path, system: System, progress: Progress, **extra: Any) -> None:
    """``model.pt``: the generator and its metadata, for inference."""
    save_checkpoint(
        run_dir / "model.pt", system.generator, system.config, step=progress.step, **system.metadata(), **extra
    )


def restore(run_dir: Path, system: System, rng: np.random.Generator) -> Progress:
    """Load the latest state of ``run_dir`` into ``system`` and ``rng``; returns the run's progress."""
    path, state = _load_latest_state(run_dir)
    scale = tuple(system.config.model.scale)
    if tuple(state["scale"]) != scale:
        raise MRISRError(f"{path}: checkpoint scale {state['scale']} differs from the config's {list(scale)}")
    system.generator.load_state_dict(state["generator"])
    for name, module_state in state["networks"].items():
        system.networks[name].load_state_dict(module_state)
    for name, optimizer in system.optimizers.items():
        optimizer.load_state_dict(state["optimizers"][name])
    torch.set_rng_state(state["rng"]["torch"])
    rng.bit_generator.state = state["rng"]["numpy"]
    best, first = state.get("best_ssim"), state.get("first_loss")
    return Progress(
        int(state["step"]),
        float(state["elapsed_seconds"]),
        -math.inf if best is None else best,
        math.nan if first is None else first,
        deque(state.get("recent_losses", []), maxlen=RECENT_STEPS),
    )


def _load_latest_state(run_dir: Path) -> tuple[Path, dict[str, Any]]:
    """``last.pt``, or ``previous.pt`` if the run was killed while replacing it or left it damaged.

    Loaded onto the CPU: the RNG state must stay there, and ``load_state_dict`` moves weights and
    optimiser moments to wherever the networks are."""
    folder = run_dir / "checkpoints"
    last, previous = folder / "last.pt", folder / "previous.pt"
    try:
        return last, load_checkpoint(last)
    except MRISRError as err:
        if not previous.is_file():
            raise MRISRError(f"{folder}: nothing to resume from ({err})") from None
        warnings.warn(f"{err}; resuming from {previous.name}", stacklevel=2)
        return previous, load_checkpoint(previous)


def _cpu_state(module: nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().cpu() for k, v in module.state_dict().items()}
