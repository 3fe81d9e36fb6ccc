"""Networks: what inference asks of any of them (:mod:`~mrisr.models.network`), the registry by architecture
(:mod:`~mrisr.models.registry`), the unpaired 3D generator (four modules sharing one feature space), the
planar thick-slice network, patch discriminators, and their checkpoints (:mod:`~mrisr.models.checkpoint`)."""

from mrisr.models.discriminator import PatchDiscriminator
from mrisr.models.generator import UnpairedSR
from mrisr.models.planar import PlanarSR

__all__ = ["PatchDiscriminator", "PlanarSR", "UnpairedSR"]
