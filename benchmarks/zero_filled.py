"""A zero-filled scan: thick slices acquired at 1 mm in-plane and reconstructed on a 512 matrix.

    python benchmarks/zero_filled.py --minutes 10 --out results/zero_filled
    python benchmarks/zero_filled.py --minutes 10 --arm pixels --max-memory-gb 12 --out results/zero_filled

Colin27 (1 mm) is acquired as axial slices 5 mm thick every 6 mm (:func:`mrisr.acquisition.simulate.simulate_slices`)
in a 240 mm field of view at 1 mm in-plane, complex Gaussian noise of sigma 0.01 is added, and the image is
reconstructed on a 512 x 512 matrix by zero-filling (0.47 mm pixels; :func:`mrisr.acquisition.simulate.zero_fill`)
and its magnitude taken, as a scanner does. The file is written as dcm2niix would, with ``SliceThickness``,
``SpacingBetweenSlices``, ``AcquisitionMatrixPE`` 240 and ``ReconMatrixPE`` 512 in its sidecar
(``--no-matrix``: without the matrices, so the resolution must come from the spectrum).

Arms (``--arm``): ``resolution`` trains as ``mrisr train --lr scan.nii.gz --minutes M`` does (the scan resampled
in-plane to its resolution, the SR isotropic at it: the truth's grid); ``pixels`` trains the same way as if
the pixels were the resolution (the SR at 0.47 mm isotropic, then Fourier-resampled, the ideal anti-aliasing
filter, to the truth's 1 mm grid). Cubic B-spline interpolation of the same file, evaluated at the truth's
voxel centres, is the baseline. Scores inside the head mask first. Writes ``OUT/ARM/metrics.json`` and
``summary.json``.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import time
from pathlib import Path

import numpy as np
from scipy import ndimage, signal

from mrisr import datasets
from mrisr.acquisition.simulate import SliceParams, simulate_slices, zero_fill
from mrisr.config import DEFAULT_FLIPS
from mrisr.evaluation import write_metrics
from mrisr.inference.loaded import LoadedModel
from mrisr.inference.writing import super_resolve_file
from mrisr.intensity import foreground_mask
from mrisr.io import Volume, load_volume, refine_affine, save_volume
from mrisr.metrics import score
from mrisr.training import train
from mrisr.training.plan import TrainRequest, training_config

FIELD = 240  # mm, and voxels at the 1 mm acquired resolution
MATRIX = 512  # the reconstruction matrix
SLICES = SliceParams(axis=2, spacing=6.0, thickness=5.0)
NOISE = 0.01  # complex Gaussian sigma, relative to the truth's 99.9th percentile


def padded(volume: Volume, field: int) -> Volume:
    """``volume`` centred in a ``field`` x ``field`` in-plane field of view of air (its affine moved to match)."""
    data = volume.data
    before = [(field - n) // 2 for n in data.shape[:2]]
    out = np.zeros((field, field, data.shape[2]), np.float32)
    out[before[0] : before[0] + data.shape[0], before[1] : before[1] + data.shape[1]] = data
    shift = np.eye(4)
    shift[:2, 3] = [-b for b in before]
    return Volume(out, volume.affine @ shift, volume.header, volume.path)


def make_case(folder: Path, seed: int, matrix_in_sidecar: bool) -> tuple[Volume, Path]:
    """The 1 mm truth in the 240 mm field of view and the zero-filled scan's path."""
    case = simulate_slices(load_volume(datasets.colin27()), dataclasses.replace(SLICES, sidecar={}))
    truth, lr = padded(case.truth, FIELD), padded(case.lr, FIELD)
    rng = np.random.default_rng(seed)
    noisy = lr.data + NOISE * (rng.standard_normal(lr.data.shape) + 1j * rng.standard_normal(lr.data.shape))
    scan = np.abs(zero_fill(noisy, {0: MATRIX, 1: MATRIX})).astype(np.float32)
    affine = refine_affine(lr.affine, [MATRIX / FIELD, MATRIX / FIELD, 1])
    scan_path = folder / "scan.nii.gz"
    save_volume(scan_path, scan, affine, lr.header)
    sidecar = {"SliceThickness": SLICES.thickness, "SpacingBetweenSlices": SLICES.spacing}
    if matrix_in_sidecar:
        sidecar.update(AcquisitionMatrixPE=FIELD, ReconMatrixPE=MATRIX)
    (folder / "scan.json").write_text(json.dumps(sidecar) + "\n")
    return truth, scan_path


def cubic_on(scan: Volume, truth: Volume) -> np.ndarray:
    """Cubic B-spline interpolation of ``scan`` at the voxel centres of ``truth``'s grid."""
    to_scan = np.linalg.inv(scan.affine) @ truth.affine
    return ndimage.affine_transform(
        scan.data, to_scan[:3, :3], offset=to_scan[:3, 3], output_shape=truth.data.shape, order=3, mode="nearest"
    )


def onto(image: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """``image`` Fourier-resampled to ``shape`` over the same field of view (an SR finer than the truth)."""
    for axis, n in enumerate(shape):
        if image.shape[axis] != n:
            image = signal.resample(image, n, axis=axis)
    return np.clip(image, 0, None)


def run(
    arm: str,
    out: Path,
    *,
    minutes: float,
    seed: int,
    flips: int,
    matrix_in_sidecar: bool,
    max_memory_gb: float,
    reuse: bool,
) -> dict:
    """Simulate, train one arm (or reuse its finished model), super-resolve and score; returns its summary."""
    folder = out / arm
    folder.mkdir(parents=True, exist_ok=True)
    truth, scan_path = make_case(folder, seed, matrix_in_sidecar)
    config = training_config(TrainRequest(lr=[str(scan_path)], minutes=minutes, seed=seed))
    if arm == "pixels":
        slice_mm = float(load_volume(scan_path).zooms[2])
        pixel_mm = FIELD / MATRIX
        config = config.override({"model": {"in_plane_mm": None, "scale": [1, 1, round(slice_mm / pixel_mm, 6)]}})
    started, model_path = time.perf_counter(), folder / "run" / "model.pt"
    if not (reuse and model_path.is_file()):
        model_path = train(config, folder / "run")
    train_seconds = time.perf_counter() - started
    model = LoadedModel.load(model_path, "cpu", "fp32")
    started = time.perf_counter()
    options = {"overwrite": True, "flips": flips, "max_memory_gb": max_memory_gb}
    sr = load_volume(super_resolve_file(model, scan_path, folder / "sr.nii.gz", **options))
    infer_seconds = time.perf_counter() - started
    if arm == "resolution" and (sr.data.shape != truth.data.shape or not np.allclose(sr.affine, truth.affine)):
        raise SystemExit(f"the SR's grid {sr.data.shape} is not the truth's {truth.data.shape}")
    prediction = onto(sr.data, truth.data.shape)
    mask = foreground_mask(truth.data)
    results = {
        "mrisr": score(prediction, truth.data, mask),
        "cubic": score(cubic_on(load_volume(scan_path), truth), truth.data, mask),
    }
    write_metrics(folder / "metrics.json", results)
    summary = {
        "arm": arm,
        "matrix_in_sidecar": matrix_in_sidecar,
        "minutes": minutes,
        "steps": model.meta["step"],
        "seed": seed,
        "flips": flips,
        "in_plane_mm": config.model.in_plane_mm,
        "factors": list(config.model.scale),
        "sr_shape": list(sr.data.shape),
        "train_seconds": round(train_seconds, 1) if train_seconds > 1 else "reused",
        "infer_seconds": round(infer_seconds, 1),
        "fwhm_mm": model.meta["acquisition"]["fwhm_mm"],
        "fwhm_source": model.meta["acquisition"]["fwhm_source"],
        "head_psnr": {method: round(r["psnr_fg"], 3) for method, r in results.items()},
        "head_ssim": {method: round(r["ssim_fg"], 4) for method, r in results.items()},
        "head_psnr_gain_over_cubic": round(results["mrisr"]["psnr_fg"] - results["cubic"]["psnr_fg"], 3),
    }
    (folder / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    return summary


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--arm", nargs="+", choices=("resolution", "pixels"), default=["resolution"])
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--flips", type=int, default=DEFAULT_FLIPS)
    parser.add_argument("--no-matrix", action="store_true", help="leave the matrices out of the sidecar")
    parser.add_argument("--max-memory-gb", type=float, default=4.0, help="inference's host-memory limit")
    parser.add_argument("--reuse", action="store_true", help="an arm's finished model is used, not trained again")
    parser.add_argument("--out", default="results/zero_filled")
    args = parser.parse_args()
    for arm in args.arm:
        summary = run(
            arm,
            Path(args.out),
            minutes=args.minutes,
            seed=args.seed,
            flips=args.flips,
            matrix_in_sidecar=not args.no_matrix,
            max_memory_gb=args.max_memory_gb,
            reuse=args.reuse,
        )
        print(json.dumps(summary, indent=2))


if __name__ == "__main__":
    main()
