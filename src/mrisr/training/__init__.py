"""Training: :func:`train` builds the system of ``config.model.architecture`` and runs the loop on it.

- :mod:`mrisr.training.loop`: the budget, the schedule and the :class:`~mrisr.training.loop.System` protocol;
- :mod:`mrisr.training.state`: checkpoints, resume and export;
- :mod:`mrisr.training.monitor`: TensorBoard and validation.
"""

from __future__ import annotations

from pathlib import Path

import torch

from mrisr import MRISRError
from mrisr.config import Config
from mrisr.device import set_threads
from mrisr.distributed import init_replica
from mrisr.io import first_line
from mrisr.models.checkpoint import load_checkpoint
from mrisr.models.registry import settle_architecture
from mrisr.training.loop import Trainer
from mrisr.training.system import System
from mrisr.training.systems import SYSTEMS


def warm_start(system: System, path: str | Path) -> None:
    """Start ``system`` from the generator weights of another run's ``model.pt`` (``train.init``)."""

    try:
        system.generator.load_state_dict(load_checkpoint(path)["generator"])
    except RuntimeError as err:
        raise MRISRError(f"{path}: its network is not this run's ({first_line(err)})") from None


def make_trainer(config: Config, run_dir: str | Path, *, resume: bool = False) -> Trainer:
    """Seed, build the system that ``config`` describes and wrap it in a :class:`Trainer` (resumed if asked,
    else started from ``train.init`` when it names a model)."""
    config = settle_architecture(config)  # refuses an unknown architecture
    replica = init_replica(config.train.device)
    set_threads(config.train.threads)
    torch.manual_seed(config.train.seed)
    system = SYSTEMS[config.model.architecture](config, replica.device)
    if config.train.init and not resume:
        warm_start(system, config.train.init)
    return Trainer(system, run_dir, replica, resume=resume)


def train(config: Config, run_dir: str | Path, *, resume: bool = False) -> Path:
    """Train a model as ``config`` says and return the path of the model to infer with."""
    return make_trainer(config, run_dir, resume=resume).train()


__all__ = ["SYSTEMS", "Trainer", "make_trainer", "train"]
