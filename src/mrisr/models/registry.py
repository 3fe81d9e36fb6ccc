"""The networks mrisr can train, by ``model.architecture``: a new network is its module and one entry here
(its training system is one entry of :data:`mrisr.training.systems.SYSTEMS`)."""

from __future__ import annotations

from collections.abc import Callable

from mrisr import MRISRError
from mrisr.config import Config
from mrisr.models.generator import UnpairedSR
from mrisr.models.network import SRNetwork
from mrisr.models.planar import PlanarSR

NETWORKS: dict[str, Callable[[Config], SRNetwork]] = {
    "unpaired": UnpairedSR.from_config,
    "planar": PlanarSR.from_config,
}
"""The network of each ``model.architecture``: the module exported to ``model.pt``."""

ARCHITECTURES = ("auto", *NETWORKS)
"""What ``model.architecture`` may say: a network, or ``auto`` (:func:`settle_architecture`)."""


def settle_architecture(config: Config) -> Config:
    """``config`` with ``model.architecture = "auto"`` replaced by what its factors call for: ``planar`` when
    exactly one axis is coarse (thick slices: the scan is sharp within each slice), else ``unpaired``."""
    m = config.model
    if m.architecture not in ARCHITECTURES:
        raise MRISRError(f"config: model.architecture must be one of {ARCHITECTURES}, got {m.architecture!r}")
    if m.architecture == "auto":
        coarse = sum(1 for f in m.scale if f > 1)
        config = config.override({"model": {"architecture": "planar" if coarse == 1 else "unpaired"}})
    if config.model.architecture == "unpaired" and any(abs(f - round(f)) > 1e-6 for f in m.scale):
        raise MRISRError(
            f"factors {[round(float(f), 3) for f in m.scale]} are not all whole numbers, and the 3D model (needed "
            "where more than one axis is coarse) takes whole factors only: give --spacing so that each factor is "
            "one (e.g. half the voxel size) or --scale 2 2 2"
        )
    return config


def build_network(config: Config) -> SRNetwork:
    """A freshly initialised network of ``config.model.architecture`` ("auto": :func:`settle_architecture`)."""
    config = settle_architecture(config)  # refuses an unknown architecture
    return NETWORKS[config.model.architecture](config)
