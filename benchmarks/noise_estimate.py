"""How well is the Rician noise σ read from a scan's air? Colin27 and the three templates, degraded.

Each head is degraded like a panel (Gaussian profile, thick 1×1×4 or isotropic 2×2×2, Rician σ in units of
its intensity peak, as ``mrisr simulate``) and its σ estimated two ways, in units of the LR's 99.9th
percentile: the Rayleigh moment ``sqrt(mean(x²) / 2)`` over the air corners alone (median over corners),
and :func:`mrisr.acquisition.noise.estimate_noise_sigma`, which reads a smooth background in the air as
signal. Colin27 and MNI 2009a have zero air; the FSL MNI152 template's air holds an averaged background.
The real EPI (epi-b0, as acquired, no noise added) has real air, with noise that is not quite white.

    python benchmarks/noise_estimate.py --out benchmarks/noise_estimate.json
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

import numpy as np

from mrisr import datasets
from mrisr.acquisition.forward import SimulationParams
from mrisr.acquisition.noise import air_corners, estimate_noise_sigma, rayleigh_sigma
from mrisr.acquisition.simulate import simulate
from mrisr.io import load_volume

SCALES = {"thick 1x1x4": (1, 1, 4), "isotropic 2x2x2": (2, 2, 2)}
NOISE = (0.005, 0.01, 0.02, 0.05)


def rayleigh_moment(image: np.ndarray) -> float:
    """The air corners' Rayleigh moment alone, median over the corners."""
    return float(np.median([rayleigh_sigma(block) for block in air_corners(image)]))


def row(head: str, panel: str, added: float | None, lr: np.ndarray) -> dict:
    """Both estimates for one LR volume, in units of its 99.9th percentile."""
    peak = float(np.percentile(lr, 99.9))
    return {
        "head": head,
        "panel": panel,
        "added": added,
        "moment": round(rayleigh_moment(lr) / peak, 5),
        "estimate": round(estimate_noise_sigma(lr) / peak, 5),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True, type=Path)
    args = parser.parse_args()
    heads = {"colin27": datasets.colin27(), **{name: datasets.template(name) for name in datasets.TEMPLATES}}
    rows = []
    for head, path in heads.items():
        volume = load_volume(path)
        for panel, scale in SCALES.items():
            for noise in NOISE:
                lr = simulate(volume, SimulationParams(scale=scale, noise_sigma=noise)).lr.data
                rows.append(row(head, panel, noise, lr))
                print(json.dumps(rows[-1]), flush=True)
    with tempfile.TemporaryDirectory() as folder:
        epi = load_volume(datasets.epi_b0_nifti(Path(folder) / "epi_b0.nii.gz")).data
    rows.append(row("epi-b0", "as acquired", None, epi))
    print(json.dumps(rows[-1]), flush=True)
    args.out.write_text(json.dumps(rows, indent=1) + "\n")


if __name__ == "__main__":
    main()
