"""What the training loop needs of a trainable model: the protocol every system of
:mod:`mrisr.training.systems` follows."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Protocol

import numpy as np
import torch
from torch import nn

from mrisr.config import Config
from mrisr.distributed import Replica


class System(Protocol):
    """What the loop needs of a trainable model (:class:`mrisr.training.systems.unpaired.UnpairedSystem` is one)."""

    config: Config  # settled: saved as the run's config.yaml and in every checkpoint
    generator: nn.Module  # exported to model.pt; has ``scale`` and ``super_resolve(lr)``
    optimizers: dict[str, torch.optim.Optimizer]  # a param group's ``lr_scale`` multiplies the scheduled rate

    def learning_rate(self, config: Config) -> float:
        """Adam's rate at the start of the cosine schedule for this kind of model."""
        ...

    @property
    def networks(self) -> dict[str, nn.Module]:
        """Every module that trains, ``generator`` included: saved, restored and kept in sync across ranks."""
        ...

    def sample_batch(self, rng: np.random.Generator, replica: Replica) -> Any:
        """This replica's share of one step's data, drawn from ``rng`` (shared by all replicas)."""
        ...

    def train_step(self, batch: Any, replica: Replica) -> dict[str, float]:
        """Update every optimiser once on ``batch`` (gradients averaged over replicas); returns scalars to log."""
        ...

    def images(self) -> dict[str, torch.Tensor]:
        """3D images of the last step to show in TensorBoard (may be empty)."""
        ...

    def metadata(self) -> dict[str, Any]:
        """Extra entries of every checkpoint (e.g. the noise levels the model trained with)."""
        ...

    def write_report(self, run_dir: Path) -> None:
        """Files written next to the model at the end of the run (may write none)."""
        ...
