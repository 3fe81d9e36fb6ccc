"""The acquisition a run trains with, settled once from the config and the data, before any network exists.

Pure functions: the caller's config is never changed; the settled one is saved as the run's
``config.yaml``, so a resumed run keeps the same slice profile.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

from mrisr import MRISRError
from mrisr.acquisition.profile import estimate_profile
from mrisr.config import PROFILES, Config
from mrisr.data import TrainingVolume


def resolve(config: Config, hr_volumes: Sequence[TrainingVolume], lr_volumes: Sequence[TrainingVolume]) -> Config:
    """``config`` with its slice profile settled: estimated from power spectra (then frozen) when
    ``model.profile`` is ``"estimate"`` (always for the planar model, which makes its training pairs with it)
    and no ``model.fixed_fwhm`` is given; otherwise unchanged."""
    m = config.model
    if m.profile not in PROFILES:
        raise MRISRError(f"config: model.profile must be one of {PROFILES}, got {m.profile!r}")
    learned_or_unused = m.profile != "estimate" or m.degradation == "free"
    if m.fixed_fwhm is not None or (learned_or_unused and m.architecture != "planar"):
        return config
    fwhm = estimate_profile(
        [v.data for v in lr_volumes], [v.data for v in hr_volumes], m.scale, [v.noise_sigma for v in lr_volumes]
    )
    return dataclasses.replace(config, model=dataclasses.replace(m, fixed_fwhm=fwhm))


def noise_sigmas(config: Config, lr_volumes: Sequence[TrainingVolume]) -> list[float]:
    """The Rician sigma of the learned degradation: one per LR volume, measured in its air, unless configured."""
    if config.model.noise_sigma is not None:
        return [config.model.noise_sigma]
    return [v.noise_sigma for v in lr_volumes]


def profile_source(config: Config, resolved: Config) -> str:
    """Where the slice profile of ``resolved`` (from :func:`resolve` of ``config``) came from, for the report."""
    m = resolved.model
    if m.degradation == "free" and m.architecture != "planar":
        return "unused (free model)"
    if m.fixed_fwhm is None:
        return "learned (LR discriminator)"
    if config.model.fixed_fwhm is None:
        reference = "the scan's own in-plane axes" if 1 in m.scale else "the HR sources"
        return f"estimated (power spectra vs {reference})"
    return "fixed (config)"
