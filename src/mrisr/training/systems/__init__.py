"""The trainable systems, by ``model.architecture``: a network with its losses, optimisers and data (the loop
in :mod:`mrisr.training.loop` drives any of them). A new network's system is one entry here."""

from __future__ import annotations

from collections.abc import Callable

import torch

from mrisr.config import Config
from mrisr.training.system import System
from mrisr.training.systems.planar import build_planar_system
from mrisr.training.systems.unpaired import build_unpaired_system

SYSTEMS: dict[str, Callable[[Config, torch.device], System]] = {
    "unpaired": build_unpaired_system,
    "planar": build_planar_system,
}
"""How each ``model.architecture`` is trained: a builder of its :class:`~mrisr.training.loop.System`."""
