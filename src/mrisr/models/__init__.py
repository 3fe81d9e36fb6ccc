"""Networks: the unpaired SR generator (four modules sharing one feature space) and patch discriminators."""

from mrisr.models.discriminator import PatchDiscriminator
from mrisr.models.generator import UnpairedSR

__all__ = ["PatchDiscriminator", "UnpairedSR"]
