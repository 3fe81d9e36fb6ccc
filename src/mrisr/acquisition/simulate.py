"""One simulated acquisition of a real volume, used by ``mrisr simulate``, the demo and the experiment."""

from __future__ import annotations

from dataclasses import dataclass

from mrisr.acquisition.degradation import DegradationParams, crop_to_multiple, degrade
from mrisr.data import intensity_scale
from mrisr.io import Volume, coarsen_affine


@dataclass
class Simulation:
    """A high-resolution volume and its simulated low-resolution scan, in the same units."""

    truth: Volume  # the input cropped to a multiple of the scale, scaled so its 99.9th percentile is 1
    lr: Volume  # the simulated scan, on the coarse grid (block-centred affine)
    peak: float  # the input's 99.9th percentile: multiply by it to return to the input's units


def simulate(volume: Volume, params: DegradationParams) -> Simulation:
    """Crop ``volume`` to the scale, scale it to about [0, 1] by its 99.9th percentile and degrade it."""
    hr = crop_to_multiple(volume.data, params.scale)
    peak = intensity_scale(hr, 99.9)
    hr = hr / peak
    lr = degrade(hr, params)
    return Simulation(
        truth=Volume(hr, volume.affine, volume.header, volume.path),
        lr=Volume(lr, coarsen_affine(volume.affine, params.scale), volume.header, volume.path),
        peak=peak,
    )
