"""The HR training sources of the experiment: the packaged templates, then synthetic subjects made from them."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from mrisr import datasets
from mrisr.intensity import intensity_scale
from mrisr.io import load_volume, save_volume

HR_POOL = ("mni2009a", "mni6gen", "pydeface-mean")  # the real HR sources; beyond three, synthetic subjects


def hr_sources(n: int, folder: Path) -> list[Path]:
    """The first ``n`` HR training volumes: the real templates of ``HR_POOL``, then synthetic subjects."""
    real = [datasets.template(name) for name in HR_POOL[:n]]
    return real + [synthetic_subject(k, folder) for k in range(n - len(real))]


def synthetic_subject(index: int, folder: Path) -> Path:
    """``synthetic-K.nii.gz``: a *synthetic* HR subject, not a person. A real template (taken in turn) under a
    random smooth deformation (MONAI ``Rand3DElastic``: rotation up to ±6°, scaling ±8%, elastic displacement
    of a few voxels) and a gamma in [0.85, 1.15], seeded by ``index``; written once into ``folder``."""
    path = folder / f"synthetic-{index}.nii.gz"
    if path.is_file():
        return path
    from monai.transforms import Rand3DElastic  # slow import, needed only here

    source = load_volume(datasets.template(HR_POOL[index % len(HR_POOL)]))
    warp = Rand3DElastic(
        sigma_range=(6, 9),
        magnitude_range=(80, 160),
        prob=1.0,
        rotate_range=(0.1, 0.1, 0.1),
        scale_range=(0.08, 0.08, 0.08),
        mode="bilinear",
        padding_mode="zeros",
    )
    warp.set_random_state(index)
    data = np.asarray(warp(source.data[None]))[0].clip(min=0)
    peak = intensity_scale(data, 99.9)
    gamma = np.random.default_rng(index).uniform(0.85, 1.15)
    save_volume(path, (peak * (data / peak) ** gamma).astype(np.float32), source.affine, source.header)
    return path
