"""The forward models against the simulations they stand for, and the profile shape each panel settles to.

    python benchmarks/forward_models.py [--out benchmarks/forward_models.json]

On packaged Colin27 (cropped to 2×2×2, scaled to its 99.9th percentile): PSNR of the torch forward model
(:func:`mrisr.acquisition.forward.blur_decimate`, Gaussian of FWHM 2 and sinc) against the FFT crop of
the k-space simulation, over the whole volume and 8 LR voxels from the edges; the largest difference of
the cubic SR base (:func:`mrisr.models.generator.cubic_upsample`) from SciPy's cubic B-spline zoom; and
the shape :func:`mrisr.acquisition.profile.estimate_shape` settles for the k-space and the Gaussian +
Rician 0.02 scans, against the MNI 2009a template and against the scan's own HR.
"""

import argparse
import json

import numpy as np
import torch

from mrisr import datasets
from mrisr.acquisition.forward import SimulationParams, blur_decimate, crop_to_multiple, degrade, kspace_downsample
from mrisr.acquisition.noise import estimate_noise_sigma
from mrisr.acquisition.profile import estimate_profile, estimate_shape
from mrisr.evaluation import interpolate
from mrisr.intensity import intensity_scale
from mrisr.io import load_volume
from mrisr.models.generator import cubic_upsample

SCALE = (2, 2, 2)


def normalised(data: np.ndarray) -> np.ndarray:
    data = crop_to_multiple(np.asarray(data, np.float32), SCALE)
    return data / intensity_scale(data, 99.9)


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    return float(10 * np.log10(1.0 / np.mean((a - b) ** 2)))


parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--out", default="benchmarks/forward_models.json")
args = parser.parse_args()
colin = normalised(load_volume(datasets.colin27()).data)
template = normalised(load_volume(datasets.template("mni2009a")).data)
fft_crop = kspace_downsample(colin, SCALE)
x, fwhm = torch.from_numpy(colin.astype(np.float64))[None, None], torch.tensor([2.0, 2.0, 2.0], dtype=torch.float64)
inner = (slice(8, -8),) * 3
results: dict = {"forward_model_vs_fft_crop_psnr": {}}
for shape in ("gaussian", "sinc"):
    lr = blur_decimate(x, SCALE, fwhm, shape)[0, 0].numpy()
    results["forward_model_vs_fft_crop_psnr"][shape] = {
        "whole": round(psnr(lr, fft_crop), 2),
        "inner": round(psnr(lr[inner], fft_crop[inner]), 2),
    }
cubic = cubic_upsample(torch.from_numpy(fft_crop)[None, None], SCALE)[0, 0].numpy()
results["cubic_base_vs_scipy_max_abs"] = float(np.abs(cubic - interpolate(fft_crop, SCALE, 3)).max())
scans = {
    "kspace-2x2x2": fft_crop,
    "gaussian-rician-2x2x2": degrade(colin, SimulationParams(scale=SCALE, noise_sigma=0.02, noise_seed=0)),
}
results["settled_shape"] = {}
for name, lr in scans.items():
    sigma = estimate_noise_sigma(lr)
    for reference_name, reference in (("mni2009a", template), ("own HR", colin)):
        estimate = estimate_profile([lr], [reference], SCALE, [sigma])
        shape = estimate_shape([lr], [reference], SCALE, [sigma], estimate)
        results["settled_shape"][f"{name} vs {reference_name}"] = {
            "gaussian_fwhm_estimate": [round(w, 2) for w in estimate],
            "shape": shape,
        }
print(json.dumps(results, indent=2))
with open(args.out, "w") as f:
    f.write(json.dumps(results, indent=2) + "\n")
