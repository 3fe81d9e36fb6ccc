"""Shared fixtures: tiny synthetic volumes and small crops of the packaged real MRI."""

from __future__ import annotations

from pathlib import Path

import nibabel as nib
import numpy as np
import pytest

from mrisr import datasets
from mrisr.config import Config
from mrisr.io import load_volume, save_volume


def oblique_affine() -> np.ndarray:
    """A rotated, anisotropic, non-RAS voxel-to-world affine (representable as a qform)."""
    a, b = np.deg2rad(25.0), np.deg2rad(-10.0)
    rot_z = np.array([[np.cos(a), -np.sin(a), 0], [np.sin(a), np.cos(a), 0], [0, 0, 1]])
    rot_x = np.array([[1, 0, 0], [0, np.cos(b), -np.sin(b)], [0, np.sin(b), np.cos(b)]])
    affine = np.eye(4)
    affine[:3, :3] = rot_z @ rot_x @ np.diag([-1.8, 1.9, 2.1])
    affine[:3, 3] = [80.0, -110.0, -60.0]
    return affine


OBLIQUE = oblique_affine()


def blob(shape, centre, sigma=3.0) -> np.ndarray:
    """A smooth Gaussian blob: its intensity centroid is a sub-voxel position we know."""
    grids = np.meshgrid(*[np.arange(n, dtype=float) for n in shape], indexing="ij")
    r2 = sum((g - c) ** 2 for g, c in zip(grids, centre))
    return np.exp(-r2 / (2 * sigma**2)).astype(np.float32)


def world_centroid(data: np.ndarray, affine: np.ndarray) -> np.ndarray:
    """Intensity-weighted centre of mass in world millimetres."""
    index = np.argwhere(np.ones(data.shape, bool)).astype(float)
    weights = data.reshape(-1).astype(float)
    centre = (index * weights[:, None]).sum(0) / weights.sum()
    return nib.affines.apply_affine(affine, centre)


def real_crop(path: Path, out: Path, corner=(60, 70, 60), size=(40, 48, 40)) -> Path:
    """Write a central crop of a packaged volume, keeping its geometry."""
    vol = load_volume(path)
    index = tuple(slice(c, c + s) for c, s in zip(corner, size))
    affine = vol.affine.copy()
    affine[:3, 3] = nib.affines.apply_affine(vol.affine, corner)
    save_volume(out, vol.data[index], affine, vol.header)
    return out


@pytest.fixture(scope="session")
def real_data(tmp_path_factory) -> dict[str, Path]:
    """Small crops: Colin27 (test subject) and one MNI template (HR source)."""
    root = tmp_path_factory.mktemp("real")
    return {
        "colin": real_crop(datasets.colin27(), root / "colin.nii.gz"),
        "template": real_crop(datasets.template("mni2009a"), root / "mni.nii.gz", corner=(70, 80, 60)),
    }


@pytest.fixture(scope="session")
def small_templates(tmp_path_factory) -> dict[str, Path]:
    """Central crops (48 x 56 x 48 voxels) of the packaged HR templates."""
    root, size = tmp_path_factory.mktemp("templates"), (48, 56, 48)
    crops = {}
    for name in datasets.TEMPLATES:
        shape = nib.load(datasets.template(name)).shape[:3]
        corner = tuple((n - s) // 2 for n, s in zip(shape, size))
        crops[name] = real_crop(datasets.template(name), root / f"{name}.nii.gz", corner=corner, size=size)
    return crops


@pytest.fixture
def small_datasets(real_data, small_templates, monkeypatch):
    """Colin27 and the templates replaced by small crops: the demo's and the experiment's code in seconds (the
    README's commands run them on the whole volumes)."""
    monkeypatch.setattr(datasets, "colin27", lambda: real_data["colin"])
    monkeypatch.setattr(datasets, "template", lambda name: small_templates[name])


def tiny_config(hr: list[str], lr: list[str], scale=(2, 2, 2), steps=4) -> Config:
    """A model and budget small enough for a unit test (seconds)."""
    config = Config()
    config.model.scale = tuple(scale)
    config.model.width = 8
    config.model.encoder_blocks = config.model.decoder_blocks = 1
    config.model.disc_width = 8
    config.model.plane_width, config.model.plane_blocks = 8, 1
    config.loss.nce_patches = 32
    config.train.hr, config.train.lr = hr, lr
    config.train.steps, config.train.minutes = steps, None
    config.train.batch_size = 2
    config.train.lr_patch = (8, 8, 8)
    config.train.plane_batch_size, config.train.plane_patch = 2, (8, 4)
    config.train.checkpoint_every = 2
    config.train.device = "cpu"
    return config


def straight_and_resumed(config: Config, root: Path):
    """Two trainers after 4 steps: one straight through, one stopped after 2, saved, resumed and finished."""
    from mrisr.training import make_trainer

    straight = make_trainer(config, root / "straight")
    for _ in range(4):
        straight.train_step()
    first = make_trainer(config, root / "split")
    first.train_step(), first.train_step()
    first.save_state()
    resumed = make_trainer(config, root / "split", resume=True)
    assert resumed.step == 2
    resumed.train_step(), resumed.train_step()
    return straight, resumed
