"""The one description of how a scan is acquired from a finer grid, shared by the simulation, the training
pairs, the consistency and error maps and the scanner report."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from mrisr import MRISRError
from mrisr.acquisition.forward import PROFILE_SHAPES


@dataclass(frozen=True)
class Acquisition:
    """A scan acquired from a finer grid: the factor per axis, the slice profile per axis (FWHM in voxels of
    the finer grid; 0 for none) and its shape (``"gaussian"``, or ``"sinc"``: k-space truncation), and the
    Rician noise sigma (in units of the intensity peak). Its finer grid's voxels are as sharp as their size: a
    scan whose pixels are finer than its resolution is resampled to it first (:mod:`mrisr.acquisition.resolution`)."""

    scale: tuple[float, float, float]
    fwhm: tuple[float, float, float]
    shape: str = "gaussian"
    noise_sigma: float = 0.0

    def __post_init__(self) -> None:
        if self.shape not in PROFILE_SHAPES:
            raise MRISRError(f"unknown slice-profile shape {self.shape!r}; choose one of {PROFILE_SHAPES}")
        object.__setattr__(self, "scale", tuple(float(f) if f % 1 else int(f) for f in self.scale))
        object.__setattr__(self, "fwhm", tuple(float(w) for w in self.fwhm))

    @classmethod
    def slices(
        cls, axis: int, factor: float, fwhm: float, noise_sigma: float = 0.0, shape: str = "gaussian"
    ) -> Acquisition:
        """Slices along voxel ``axis`` every ``factor`` voxels, ``fwhm`` voxels thick; the other axes as they are."""
        scale, profile = [1, 1, 1], [0.0, 0.0, 0.0]
        scale[axis], profile[axis] = factor, fwhm
        return cls(tuple(scale), tuple(profile), shape, noise_sigma)

    @property
    def slice_axis(self) -> int | None:
        """The one coarse axis of a thick-slice scan; ``None`` when no axis or several are coarse."""
        coarse = [axis for axis, f in enumerate(self.scale) if f > 1]
        return coarse[0] if len(coarse) == 1 else None

    def on_axes(self, scale: Sequence[float]) -> Acquisition:
        """The same slices for a scan of factors ``scale`` sliced along another axis (a planar model's profile
        moved to the axis it serves); unchanged unless both are thick-slice acquisitions."""
        target = [a for a, f in enumerate(scale) if f > 1]
        if self.slice_axis is None or len(target) != 1 or list(self.scale) == list(scale):
            return Acquisition(tuple(scale), self.fwhm, self.shape, self.noise_sigma)
        return Acquisition.slices(target[0], scale[target[0]], self.fwhm[self.slice_axis], self.noise_sigma, self.shape)
