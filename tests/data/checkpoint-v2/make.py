"""Write the checkpoint-compatibility fixtures of tests/test_compatibility.py: two tiny models (planar and
unpaired, format version 2), a small LR scan each, and the SR and consistency map each gives.

Run once with the mrisr version whose checkpoints later versions must keep reading:
``python tests/data/checkpoint-v2/make.py``. The models train for 4 steps on synthetic volumes (seconds).
It imports that version's modules, which later versions moved.
"""

# ruff: noqa: I001  (the import order of mrisr 0.1.0's module names, which no longer exist)

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

from mrisr.checkpoint import load_model
from mrisr.inference import Companions, super_resolve_file
from mrisr.io import load_volume, save_volume
from mrisr.training import train
from mrisr.trust import Provenance

HERE = Path(__file__).parent
sys.path.insert(0, str(HERE.parent.parent))  # tests/: the tiny model of conftest.tiny_config
from conftest import tiny_config  # noqa: E402


def phantom(shape, seed: int) -> np.ndarray:
    """Smooth random blobs over a dark background: structure at every scale, no packaged data needed."""
    rng = np.random.default_rng(seed)
    grids = np.meshgrid(*[np.arange(n, dtype=float) for n in shape], indexing="ij")
    volume = np.zeros(shape, np.float32)
    for _ in range(12):
        centre = [rng.uniform(0.2 * n, 0.8 * n) for n in shape]
        sigma = rng.uniform(1.5, 4.0)
        volume += rng.uniform(0.3, 1.0) * np.exp(-sum((g - c) ** 2 for g, c in zip(grids, centre)) / (2 * sigma**2))
    return volume + 0.01 * rng.standard_normal(shape).astype(np.float32) ** 2


def make(name: str, scale, lr_shape, hr: bool) -> None:
    folder = HERE / name
    folder.mkdir(exist_ok=True)
    affine = np.diag([*(float(s) for s in scale), 1.0])
    lr_path = folder / "lr.nii.gz"
    save_volume(lr_path, phantom(lr_shape, 0), affine)
    hr_paths = []
    if hr:
        hr_paths = [str(folder.parent / "hr.nii.gz")]
        save_volume(hr_paths[0], phantom([2 * n for n in lr_shape], 1), np.eye(4))
    run = Path("/tmp") / f"mrisr-compat-{name}"
    model_path = train(tiny_config(hr_paths, [str(lr_path)], scale), run)
    (folder / "model.pt").write_bytes(model_path.read_bytes())
    model, meta = load_model(folder / "model.pt")
    provenance = Provenance(folder / "model.pt", meta, "fixture", "float32", "cpu")
    companions = Companions(consistency=run / "consistency.nii.gz", provenance=provenance)
    out = super_resolve_file(
        model,
        lr_path,
        run / "sr.nii.gz",
        companions=companions,
        overwrite=True,
        percentile=meta["normalisation"]["percentile"],
        flips=2,
    )
    np.savez_compressed(
        folder / "expected.npz",
        sr=load_volume(out).data,
        consistency=load_volume(companions.consistency).data,
    )


if __name__ == "__main__":
    make("planar", (1, 1, 3), (24, 24, 10), hr=False)
    make("unpaired", (2, 2, 2), (16, 16, 16), hr=True)
