"""The acquisition a run trains with, settled once from the config and the data, before any network exists.

Pure functions: the caller's config is never changed; the settled one is saved as the run's
``config.yaml``, so a resumed run keeps the same slice profile. What the estimate could not pin down is
said, in :attr:`Settled.warnings`, and never used silently.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mrisr import MRISRError
from mrisr.acquisition.forward import default_fwhm
from mrisr.acquisition.geometry import find_slice_axis, scan_geometry
from mrisr.acquisition.model import Acquisition
from mrisr.acquisition.noise import air_voxels
from mrisr.acquisition.profile import (
    SEARCH,
    estimate_profile,
    estimate_shape,
    on_search_bound,
    self_referenced,
    self_referenced_misfit,
    sharper_than_any_gaussian,
)
from mrisr.acquisition.resolution import describe_in_plane, scan_resolution
from mrisr.config import PROFILE_SETTINGS, PROFILES, Config
from mrisr.sampling.volumes import TrainingVolume

NOMINAL_TOLERANCE = 0.1
"""How far below the nominal FWHM an estimate against other subjects may lie and still be used."""

THICKNESS_TOLERANCE = 0.25
"""How far an estimated FWHM may lie from the header's slice thickness before the report warns: a slice
profile's FWHM is close to its nominal thickness, but not equal (the excitation pulse is not a box)."""

AGREEMENT = 0.15
"""How far below the scan's own estimate a reading of the protocol's slice thickness may lie and still be taken
over it: from the anatomy alone, the self-referenced estimate lies up to about 15% from the truth, depending on
the slice axis (three heads, slices 2-4.5 mm; results/REPORT.md, "The slice profile the scan agrees with")."""

AGREEMENT_WIDER = 0.05
"""How far above the estimate a reading may lie and still be taken: less than below it, because a profile too
wide costs far more than the estimate's error (3 mm slices trained as 3.9 mm: 2.4 dB of 3.9 lost)."""

BOX_FWHM = float(np.sqrt(8 * np.log(2) / 12))
"""The FWHM of the Gaussian with the variance of a box one slice thick, per unit thickness (0.68)."""

MIN_AIR_VOXELS = 1000
"""Fewer air voxels than this and the Rician sigma is estimated from the signal or from a few voxels."""


@dataclass(frozen=True)
class Settled:
    """What a run trains with: the config with its slice profile settled, the noise, and what is uncertain."""

    config: Config
    noise_sigmas: list[float]  # Rician sigma per LR volume (one when configured)
    profile_source: str  # where the slice profile came from, in words
    warnings: list[str]  # what the estimates could not pin down, for the report and the end of training
    thickness_source: str = "not given: taken as the spacing"  # where model.slice_thickness came from
    in_plane: str | None = None  # the first scan's pixel size beside its in-plane resolution, in words

    def acquisition(self, fwhm: Sequence[float]) -> Acquisition:
        """The run's acquisition with the slice profile ``fwhm`` (HR voxels: the settled one, or what a learned
        profile reached) and the first scan's noise."""
        m = self.config.model
        shape = "gaussian" if m.profile_shape == "auto" else m.profile_shape
        return Acquisition(tuple(m.scale), tuple(float(w) for w in fwhm), shape, float(self.noise_sigmas[0]))


def settle(config: Config, hr_volumes: Sequence[TrainingVolume], lr_volumes: Sequence[TrainingVolume]) -> Settled:
    """The :class:`Settled` acquisition of a run on these volumes (see :func:`resolve`), its slice thickness taken
    from the first scan's JSON sidecar when the config does not give one."""
    thickness, source = slice_thickness(config, lr_volumes)
    config = _with_model(config, slice_thickness=thickness)
    resolved, warnings, notes = resolve(config, hr_volumes, lr_volumes)
    return Settled(
        resolved,
        noise_sigmas(resolved, lr_volumes),
        "; ".join(notes) or profile_source(config, resolved),
        warnings + noise_warnings(config, lr_volumes),
        source,
        in_plane_note(lr_volumes),
    )


def in_plane_note(lr_volumes: Sequence[TrainingVolume]) -> str | None:
    """The first scan's pixel size beside its in-plane resolution (:mod:`mrisr.acquisition.resolution`), for a
    scan with a slice axis read from a file."""
    if not lr_volumes or not Path(lr_volumes[0].path).is_file():
        return None
    first = lr_volumes[0]
    pixels = first.pixel_mm or first.zooms
    axis = find_slice_axis(pixels)
    if axis is None:
        return None
    note = describe_in_plane(scan_resolution(first.path, pixels, axis), pixels, axis)
    if first.pixel_mm is not None:
        note += f"; trained on it resampled in-plane to {[round(first.zooms[a], 3) for a in range(3) if a != axis]} mm"
    return note


def slice_thickness(config: Config, lr_volumes: Sequence[TrainingVolume]) -> tuple[float | None, str]:
    """The slice thickness (mm) of a run and where it came from: the config (``--slice-thickness``), else the
    first scan's sidecar (:func:`mrisr.acquisition.geometry.scan_geometry`), else unknown."""
    if config.model.slice_thickness is not None:
        return float(config.model.slice_thickness), "model.slice_thickness (the config or --slice-thickness)"
    if not lr_volumes or not Path(lr_volumes[0].path).is_file():
        return None, "not given: taken as the spacing"
    geometry = scan_geometry(lr_volumes[0].path)
    return geometry.thickness, geometry.thickness_source


def nominal_fwhm(scale: Sequence[float], hr_mm: Sequence[float], thickness: float | None) -> list[float]:
    """The nominal slice profile per axis in HR voxels: the thickness along the slice axis (the one coarse
    axis, or the one with the coarsest LR spacing) when it is known, else the factor (a slice as thick as
    its spacing)."""
    nominal = [float(f) for f in scale]
    axis = find_slice_axis([f * mm for f, mm in zip(scale, hr_mm)])
    if thickness is not None and axis is not None and scale[axis] > 1:
        nominal[axis] = float(thickness) / float(hr_mm[axis])
    return nominal


def resolve(
    config: Config, hr_volumes: Sequence[TrainingVolume], lr_volumes: Sequence[TrainingVolume]
) -> tuple[Config, list[str], list[str]]:
    """``config`` with its slice profile settled, warnings about it, and notes on how it was decided.

    The profile is estimated from power spectra (then frozen) when ``model.profile`` is ``"estimate"``
    (always for the planar model, which makes its training pairs with it) and no ``model.fixed_fwhm`` is
    given; otherwise ``config`` is returned with an ``"auto"`` shape settled to Gaussian. An ``"auto"``
    shape is settled by :func:`mrisr.acquisition.profile.estimate_shape`: a sinc profile (k-space
    truncation) has no width to estimate. A Gaussian axis whose estimate sits on an end of the search, or
    (without a sharp axis of the scan's own, and with ``model.nominal_floor``) below the nominal FWHM
    (:func:`below_nominal`), is a bound, not a measurement: it trains with the nominal FWHM (the factor: a
    slice as thick as its spacing) and a warning says so. A thick-slice scan whose slice thickness is known
    trains with the profile :func:`decide_profile` takes, the decision noted (or warned, where the scan
    contradicts its protocol or the estimate is a bound).
    """
    m = config.model
    if m.profile not in PROFILES:
        raise MRISRError(f"config: model.profile must be one of {PROFILES}, got {m.profile!r}")
    if m.profile_shape not in PROFILE_SETTINGS:
        raise MRISRError(f"config: model.profile_shape must be one of {PROFILE_SETTINGS}, got {m.profile_shape!r}")
    if m.profile_shape == "sinc" and (m.profile == "learn" or m.architecture == "planar"):
        raise MRISRError(
            "config: model.profile_shape sinc needs the 3D model with model.profile estimate "
            "(a sinc profile has no width to learn; the planar model's slice profile is Gaussian)"
        )
    learned_or_unused = m.profile != "estimate" or m.degradation == "free"
    if m.fixed_fwhm is not None or (learned_or_unused and m.architecture != "planar"):
        return _with_model(config, profile_shape="gaussian" if m.profile_shape == "auto" else m.profile_shape), [], []
    if m.profile_shape == "sinc":
        return _with_model(config, fixed_fwhm=default_fwhm(m.scale)), [], []
    lr_data, hr_data = [v.data for v in lr_volumes], [v.data for v in hr_volumes]
    sigmas = [v.noise_sigma for v in lr_volumes]
    hr_mm = np.asarray(lr_volumes[0].zooms) / np.asarray(m.scale, dtype=float)
    nominal = nominal_fwhm(m.scale, hr_mm, m.slice_thickness)
    estimate = estimate_profile(lr_data, hr_data, m.scale, sigmas, nominal=nominal)
    shape = m.profile_shape
    if shape == "auto":
        shape = estimate_shape(lr_data, hr_data, m.scale, sigmas, estimate)  # Gaussian for thick slices
    if shape == "sinc":
        warnings = []
        if m.profile_shape == "auto" and sharper_than_any_gaussian(estimate, m.scale):
            warnings.append(
                "slice profile: the scan is sharper along every axis than any Gaussian profile of the search, "
                "so training uses k-space truncation (sinc), the sharpest physical profile; HR references much "
                "smoother than the scan do the same (set model.profile_shape gaussian and model.fixed_fwhm if "
                "the protocol says so)"
            )
        return _with_model(config, profile_shape=shape, fixed_fwhm=default_fwhm(m.scale)), warnings, []
    fwhm, warnings, notes = list(estimate), [], []
    bounds = set(on_search_bound(estimate, m.scale, nominal))
    below = below_nominal(estimate, m.scale, nominal) if m.nominal_floor else []
    decided = (
        next(a for a, f in enumerate(m.scale) if f > 1) if m.slice_thickness is not None and 1 in m.scale else None
    )
    for axis in sorted((bounds | set(below)) - {decided}):  # the decided axis: the scan decides (decide_profile)
        f, mm = nominal[axis], hr_mm[axis]
        if axis in bounds:
            low, high = SEARCH[0] * f * mm, SEARCH[1] * f * mm
            found = f"sits on an end of the search ({low:.2f}-{high:.2f} mm), so it is a bound, not a measurement"
            cause = _bound_cause(m.scale, estimate[axis] < f)
        else:
            found = f"is below the nominal {f * mm:.2f} mm, so it is a lower bound, not a measurement"
            cause = "references of other subjects bias it low when their anatomy is smoother (templates are averages)"
        fwhm[axis] = float(f)
        warnings.append(
            f"slice profile along axis {axis}: the estimate {estimate[axis] * mm:.2f} mm {found}; {cause}; "
            f"training uses the nominal {f * mm:.2f} mm (set model.fixed_fwhm if the protocol says otherwise)"
        )
    if decided is not None:
        on_bound = decided in bounds
        decision = decide_profile(lr_data[0], m.scale, estimate[decided], nominal[decided], on_bound, sigmas[0])
        fwhm[decided], said = decision.fwhm, decision.format(mm=hr_mm[decided])
        notes.append(f"decided by the scan: {said}")
        if decision.chosen == "estimate" or on_bound:
            warnings.append(f"slice profile along axis {decided}: {said}")
    elif m.slice_thickness is not None:
        for axis in (a for a, f in enumerate(m.scale) if f > 1 and a not in bounds | set(below)):
            if abs(estimate[axis] - nominal[axis]) > THICKNESS_TOLERANCE * nominal[axis]:
                warnings.append(
                    f"slice profile along axis {axis}: the estimate {estimate[axis] * hr_mm[axis]:.2f} mm differs "
                    f"from the slice thickness {m.slice_thickness:g} mm by more than {THICKNESS_TOLERANCE:.0%}; "
                    "training uses the estimate (set model.fixed_fwhm to use the thickness)"
                )
    return _with_model(config, profile_shape=shape, fixed_fwhm=tuple(fwhm)), warnings, notes


@dataclass(frozen=True)
class ProfileDecision:
    """Which slice profile a thick-slice scan trains with, and why, in words (FWHMs in HR voxels)."""

    chosen: str  # "estimate", "box" or "gaussian"
    estimate: float
    readings: dict[str, float]  # the protocol's thickness read as a box and as a Gaussian
    reason: str

    @property
    def fwhm(self) -> float:
        """The FWHM (HR voxels) training uses."""
        return self.estimate if self.chosen == "estimate" else self.readings[self.chosen]

    def format(self, mm: float) -> str:
        """The decision in words, FWHMs in mm (``mm``: the SR voxel size along the slice axis)."""
        box, gaussian = self.readings["box"] * mm, self.readings["gaussian"] * mm
        return (
            f"trains with {self.chosen if self.chosen == 'estimate' else f'the thickness read as a {self.chosen}'} "
            f"(Gaussian FWHM {self.fwhm * mm:.2f} mm): the scan's estimate is {self.estimate * mm:.2f} mm, the "
            f"thickness read as a box {box:.2f} mm and as a Gaussian {gaussian:.2f} mm; {self.reason}"
        )


def decide_profile(
    lr: np.ndarray, scale: Sequence[float], estimate: float, thickness: float, on_bound: bool, noise_sigma: float
) -> ProfileDecision:
    """The slice profile (HR voxels) a thick-slice scan trains with, decided by the scan where the protocol's
    ``thickness`` (HR voxels) and the scan's own ``estimate`` disagree.

    The thickness is read two ways: as a box (a slice-selective excitation, soft-edged: the Gaussian of the
    same variance, :data:`BOX_FWHM`) and as a Gaussian FWHM. A reading within :data:`AGREEMENT` below the
    estimate or :data:`AGREEMENT_WIDER` above it is taken (the nearer one): the estimate confirms the protocol,
    and the protocol is the more exact.
    None within it: the scan contradicts the protocol, and the estimate is taken. An estimate on an end of its
    search is no measurement: the reading whose profile best explains the scan's slice-axis spectrum from its
    own in-plane lines (:func:`mrisr.acquisition.profile.self_referenced_misfit`) is taken. A scan with too few
    slices for any of this takes the box.
    """
    readings = {"box": BOX_FWHM * thickness, "gaussian": float(thickness)}
    if not self_referenced(lr.shape, scale):
        reason = (
            f"the scan has too few slices ({lr.shape[next(a for a, f in enumerate(scale) if f > 1)]}) for a "
            "measurement, and a "
            "slice-selective excitation is closer to a box than to a Gaussian"
        )
        return ProfileDecision("box", estimate, readings, reason)
    if on_bound:
        misfits = {}
        for name, width in readings.items():
            fwhm = [width if f > 1 else 0.0 for f in scale]
            misfits[name] = self_referenced_misfit(lr, scale, fwhm, noise_sigma=noise_sigma)
        chosen = min(misfits, key=misfits.get)
        reason = (
            "the estimate sits on an end of its search, so it is no measurement; the scan's slice-axis spectrum "
            f"is explained better by the {chosen} (spectral misfit {misfits[chosen]:.4f} against "
            f"{max(misfits.values()):.4f})"
        )
        return ProfileDecision(chosen, estimate, readings, reason)
    gaps = {name: (width - estimate) / estimate for name, width in readings.items()}
    agree = {name: abs(gap) for name, gap in gaps.items() if -AGREEMENT <= gap <= AGREEMENT_WIDER}
    if agree:
        nearest = min(agree, key=agree.get)
        reason = (
            f"the {nearest} lies within {AGREEMENT:.0%} below or {AGREEMENT_WIDER:.0%} above the estimate, which "
            "confirms the protocol"
        )
        return ProfileDecision(nearest, estimate, readings, reason)
    reason = (
        f"neither reading lies within {AGREEMENT:.0%} below or {AGREEMENT_WIDER:.0%} above the estimate, so the "
        "scan contradicts its protocol (a wrong SliceThickness?); set model.fixed_fwhm if the protocol is right"
    )
    return ProfileDecision("estimate", estimate, readings, reason)


def below_nominal(fwhm: Sequence[float], scale: Sequence[float], nominal: Sequence[float] | None = None) -> list[int]:
    """The axes of a scan decimated along every axis whose estimate is more than :data:`NOMINAL_TOLERANCE`
    below the ``nominal`` FWHM (default: the factor).

    Such a scan has no sharp axis of its own, so its profile is estimated against other subjects, and
    smoother references make a scan look sharper than it is (Colin27, 2 mm Gaussian slices, against three
    templates: 1.00 / 1.65 / 1.00 mm). An estimate above the nominal is used: that bias only makes it low.
    """
    if 1 in scale:
        return []
    nominal = scale if nominal is None else nominal
    return [axis for axis, (w, n) in enumerate(zip(fwhm, nominal)) if w < (1 - NOMINAL_TOLERANCE) * n]


def _with_model(config: Config, **changes: object) -> Config:
    return dataclasses.replace(config, model=dataclasses.replace(config.model, **changes))


def _bound_cause(scale: Sequence[int], low: bool) -> str:
    """Why an estimate ends on a bound, in words."""
    if 1 in scale:
        if low:
            return "the slices look thinner than half their spacing (a slice gap?) or the in-plane axes are blurred"
        return "the slices look thicker than twice their spacing, or the in-plane axes are sharper than the SR's"
    if low:
        return (
            "the HR references do not suit this scan: smoother anatomy (templates are averages), another "
            "contrast, or a profile that is not Gaussian (k-space truncation)"
        )
    return "the HR references are sharper than this scan or of another contrast"


def noise_sigmas(config: Config, lr_volumes: Sequence[TrainingVolume]) -> list[float]:
    """The Rician sigma of the learned degradation: one per LR volume, measured in its air, unless configured."""
    if config.model.noise_sigma is not None:
        return [config.model.noise_sigma]
    return [v.noise_sigma for v in lr_volumes]


def noise_warnings(config: Config, lr_volumes: Sequence[TrainingVolume]) -> list[str]:
    """A warning per LR volume whose noise estimate rests on fewer than :data:`MIN_AIR_VOXELS` air voxels."""
    if config.model.noise_sigma is not None:
        return []
    warnings = []
    for volume in lr_volumes:
        count = air_voxels(volume.data)
        if count < MIN_AIR_VOXELS:
            basis = f"only {count} air voxels" if count else "the signal (no air in the corners of the field of view)"
            warnings.append(
                f"{volume.path}: the noise sigma {volume.noise_sigma:.4f} is estimated from {basis}; "
                "set model.noise_sigma if it is known"
            )
    return warnings


def profile_source(config: Config, resolved: Config) -> str:
    """Where the slice profile of ``resolved`` (from :func:`resolve` of ``config``) came from, for the report."""
    m = resolved.model
    if m.degradation == "free" and m.architecture != "planar":
        return "unused (free model)"
    if m.fixed_fwhm is None:
        return "learned (LR discriminator)"
    sinc = "k-space truncation (sinc), " if m.profile_shape == "sinc" else ""
    if config.model.fixed_fwhm is None:
        reference = "the scan's own in-plane axes" if 1 in m.scale else "the HR sources"
        return f"{sinc}estimated (power spectra vs {reference})"
    return f"{sinc}fixed (config)"
