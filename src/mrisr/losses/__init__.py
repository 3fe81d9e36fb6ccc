"""Losses: pixel (Charbonnier), least-squares adversarial, and PatchNCE contrastive."""

from mrisr.losses.adversarial import lsgan_discriminator_loss, lsgan_generator_loss
from mrisr.losses.contrastive import PatchNCELoss, ProjectionHead
from mrisr.losses.pixel import charbonnier

__all__ = ["PatchNCELoss", "ProjectionHead", "charbonnier", "lsgan_discriminator_loss", "lsgan_generator_loss"]
