"""Networks: the unpaired SR generator (four modules sharing one feature space), patch discriminators, and the
planar thick-slice SR network."""

from mrisr.models.discriminator import PatchDiscriminator
from mrisr.models.generator import UnpairedSR
from mrisr.models.planar import PlanarSR

__all__ = ["PatchDiscriminator", "PlanarSR", "UnpairedSR"]
