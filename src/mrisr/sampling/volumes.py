"""Training volumes: loaded, normalised and held in memory, with foreground-aware unpaired patch sampling."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from mrisr import MRISRError
from mrisr.acquisition.noise import estimate_noise_sigma
from mrisr.acquisition.resolution import on_working_grid
from mrisr.intensity import foreground_mask, intensity_scale
from mrisr.io import Volume, load_volume
from mrisr.sampling.synthesis import random_paint, tissue_labels


@dataclass
class TrainingVolume:
    """A normalised volume kept in memory, with the voxel indices patches may be centred on."""

    data: np.ndarray
    centres: np.ndarray  # (n, 3) foreground voxel indices
    peak: float  # the intensity mapped to 1
    noise_sigma: float
    zooms: tuple[float, float, float]  # of the grid it is held on
    path: str
    pixel_mm: tuple[float, float, float] | None = None  # the file's voxels, where it was resampled in-plane


def prepare_volume(volume: Volume, percentile: float, min_shape: Sequence[int]) -> TrainingVolume:
    """Normalise a volume, pad it to at least ``min_shape`` and list its foreground voxels."""
    peak = intensity_scale(volume.data, percentile)
    data = volume.data / peak
    pad = [(0, max(0, m - n)) for n, m in zip(data.shape, min_shape)]
    data = np.pad(data, pad).astype(np.float32)
    centres = np.argwhere(foreground_mask(data))
    if len(centres) == 0:
        centres = np.argwhere(np.ones(data.shape, bool))
    zooms = tuple(float(z) for z in volume.zooms)
    return TrainingVolume(data, centres, peak, estimate_noise_sigma(data), zooms, volume.path)


def load_training_volumes(
    paths: Sequence[str], percentile: float, min_shape: Sequence[int], in_plane_mm: float | None = None
) -> list[TrainingVolume]:
    """The volumes of ``paths`` prepared for training, each resampled in-plane to ``in_plane_mm`` first where
    given (:func:`mrisr.acquisition.resolution.on_working_grid`)."""
    if not paths:
        raise MRISRError("no training volumes given")
    volumes = []
    for path in paths:
        file = load_volume(path)
        volume = prepare_volume(on_working_grid(file, in_plane_mm), percentile, min_shape)
        if volume.zooms != tuple(float(z) for z in file.zooms):
            volume.pixel_mm = tuple(float(z) for z in file.zooms)
        volumes.append(volume)
    return volumes


class PatchSampler:
    """Draws random foreground patches from a set of volumes, with flips, axis transposes, gain and gamma jitter,
    and a share of them repainted from tissue labels (:mod:`mrisr.sampling.synthesis`).

    HR (source) and LR (target) batches come from two independent samplers: the data are unpaired.
    """

    def __init__(
        self,
        volumes: Sequence[TrainingVolume],
        patch_size: Sequence[int],
        *,
        flip: bool = True,
        transpose: bool = False,
        intensity_jitter: float = 0.1,
        gamma_range: tuple[float, float] = (1.0, 1.0),
        synthetic: float = 0.0,
    ) -> None:
        self.volumes = list(volumes)
        self.patch_size = tuple(int(p) for p in patch_size)
        self.flip = flip
        self.transpose = transpose
        self.intensity_jitter = intensity_jitter
        self.gamma_range = gamma_range
        self.synthetic = synthetic
        self.labels = [tissue_labels(v.data, foreground_mask(v.data)) for v in self.volumes] if synthetic else []

    def sample(self, rng: np.random.Generator, batch_size: int) -> torch.Tensor:
        """A batch ``(B, 1, *patch_size)``; each patch is centred near a foreground voxel."""
        patches = [self._one(rng) for _ in range(batch_size)]
        return torch.from_numpy(np.stack(patches)[:, None])

    def _one(self, rng: np.random.Generator) -> np.ndarray:
        index = rng.integers(len(self.volumes))
        vol = self.volumes[index]
        centre = vol.centres[rng.integers(len(vol.centres))]
        start = [int(np.clip(c - p // 2, 0, n - p)) for c, p, n in zip(centre, self.patch_size, vol.data.shape)]
        crop = tuple(slice(s, s + p) for s, p in zip(start, self.patch_size))
        patch = vol.data[crop]
        if self.synthetic and rng.random() < self.synthetic:
            patch = random_paint(self.labels[index][crop], patch, rng)
        if self.flip:
            axes = tuple(a for a in range(3) if rng.random() < 0.5)
            patch = np.flip(patch, axis=axes) if axes else patch
        if self.transpose:
            patch = patch.transpose(shuffled_axes(rng, self.patch_size, vol.zooms))
        gain = 1.0 + rng.uniform(-self.intensity_jitter, self.intensity_jitter)
        gamma = rng.uniform(*self.gamma_range)
        return np.ascontiguousarray(np.clip(patch, 0, None) ** gamma * gain, dtype=np.float32)


def shuffled_axes(rng: np.random.Generator, patch_size: Sequence[int], zooms: Sequence[float]) -> list[int]:
    """A random order of the three axes that moves an axis only onto one of the same patch size and voxel
    size: a transposed patch is then one the scan could have had (an isotropic head seen from another side)."""
    order = list(range(3))
    groups: dict[tuple[int, float], list[int]] = {}
    for axis in range(3):
        groups.setdefault((int(patch_size[axis]), round(float(zooms[axis]), 3)), []).append(axis)
    for axes in groups.values():
        for axis, moved in zip(axes, rng.permutation(axes)):
            order[axis] = int(moved)
    return order
