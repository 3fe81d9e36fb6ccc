"""Real scans, real slices: predict a scan's own slices from the scan with its slices binned in pairs.

    python benchmarks/real_slices.py --scan colin27 epi-b0 bold-nibabel --minutes 5 --out results/real_slices

A real scan (Colin27, 1 mm T1w; the 3 T b≈0 EPI, 1.5 mm; the BOLD EPI in nibabel's test data, 2 x 2 x 2.2 mm:
docs/DATA.md) has no truth finer than its
slices, but its slices are themselves a truth for a coarser scan: pairs of consecutive slices along
``--axis`` are averaged into slices twice as thick (contiguous: ``SliceThickness`` twice the spacing, in
the sidecar), mrisr trains on that binned file alone (geometry from the header, ``--minutes`` of
training) and super-resolves it back to the real slice spacing, and cubic B-spline interpolation of the
same binned scan is the baseline. The slice profile is decided as in any run (the scan's estimate against
the sidecar's thickness read as a box or a Gaussian: :func:`mrisr.training.settle.decide_profile`).

The real slices are thick themselves: a sharper prediction is not a worse one. So the SR and cubic are
first *acquired as the real slices were* — blurred along the slice axis by one real slice, a Gaussian
profile as thick as the spacing (:func:`mrisr.acquisition.forward.acquire`) — and then scored against
them inside the head mask (``psnr_fg``, ``ssim_fg``); the scores without that step are reported beside.
Writes ``OUT/SCAN/metrics.json`` and ``summary.json``.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from mrisr import datasets
from mrisr.acquisition.forward import acquire
from mrisr.acquisition.resolution import protocol_grid
from mrisr.config import DEFAULT_FLIPS, preset
from mrisr.evaluation import interpolate, write_metrics
from mrisr.inference.loaded import LoadedModel
from mrisr.inference.writing import super_resolve_file
from mrisr.intensity import foreground_mask, intensity_scale
from mrisr.io import Volume, coarsen_affine, load_volume, save_volume
from mrisr.metrics import score
from mrisr.training import train

SLICE_AXES = {"colin27": 2, "epi-b0": 2, "bold-nibabel": 2}
"""The axis binned: Colin27's axial (inferior-superior) axis; the EPIs' acquired slice axis (the mosaic's third,
the BOLD file's slice dimension)."""


def real_scan(name: str, folder: Path) -> Volume:
    """The real scan ``name`` as a volume."""
    if name == "colin27":
        return load_volume(datasets.colin27())
    if name == "bold-nibabel":
        return load_volume(datasets.package_file("nibabel", "tests/data/example4d.nii.gz"), volume_index=0)
    return load_volume(datasets.epi_b0_nifti(folder / "epi_b0.nii.gz"))


def bin_pairs(volume: Volume, axis: int) -> tuple[np.ndarray, Volume]:
    """The scan cropped to an even number of slices along ``axis``, and its pairs of slices averaged."""
    n = (volume.data.shape[axis] // 2) * 2
    real = np.take(volume.data, np.arange(n), axis=axis)
    pairs = real.reshape(*real.shape[:axis], n // 2, 2, *real.shape[axis + 1 :]).mean(axis=axis + 1)
    scale = [1, 1, 1]
    scale[axis] = 2
    return real, Volume(pairs.astype(np.float32), coarsen_affine(volume.affine, scale), volume.header, volume.path)


def as_acquired(image: np.ndarray, axis: int) -> np.ndarray:
    """``image`` blurred along ``axis`` by one real slice (a Gaussian profile as thick as the spacing)."""
    fwhm = [0.0, 0.0, 0.0]
    fwhm[axis] = 1.0
    return acquire(image, (1, 1, 1), fwhm, image.shape)


def run_scan(name: str, out: Path, *, minutes: float, seed: int, fixed_fwhm_mm: float | None = None) -> dict:
    """Bin, train on the binned scan alone, super-resolve and score one real scan; returns its summary. With
    ``fixed_fwhm_mm`` the slice profile is given, not estimated (a check of what the estimate costs)."""
    folder = out / (name if fixed_fwhm_mm is None else f"{name}_fwhm{fixed_fwhm_mm:g}")
    folder.mkdir(parents=True, exist_ok=True)
    axis = SLICE_AXES[name]
    volume = real_scan(name, folder)
    real, binned = bin_pairs(volume, axis)
    spacing = round(float(binned.zooms[axis]), 4)
    scan_path = folder / "binned.nii.gz"
    save_volume(scan_path, binned.data, binned.affine, binned.header)
    (folder / "binned.json").write_text(json.dumps({"SliceThickness": spacing, "SpacingBetweenSlices": spacing}))
    grid = protocol_grid([str(scan_path)], spacing=[float(z) for z in volume.zooms])  # back to the real slices
    print(grid.described)
    factors = grid.factors
    train_config = {"lr": [str(scan_path)], "minutes": minutes, "steps": None, "seed": seed}
    model_config: dict = {"scale": list(factors), "in_plane_mm": grid.in_plane_mm}
    if fixed_fwhm_mm is not None:
        fixed = [0.0, 0.0, 0.0]
        fixed[axis] = fixed_fwhm_mm / (spacing / 2)  # in SR voxels
        model_config["fixed_fwhm"] = fixed
    config = preset("cpu").override({"model": model_config, "train": train_config})
    started = time.perf_counter()
    model_path = train(config, folder / "run")
    train_seconds = time.perf_counter() - started
    model = LoadedModel.load(model_path, "cpu", "fp32")
    sr = load_volume(super_resolve_file(model, scan_path, folder / "sr.nii.gz", overwrite=True, flips=DEFAULT_FLIPS))
    if sr.data.shape != real.shape:
        raise SystemExit(f"{name}: the SR's shape {sr.data.shape} is not the real slices' {real.shape}")
    cubic = interpolate(binned.data, factors, order=3)
    peak = intensity_scale(real, 99.9)
    mask = foreground_mask(real / peak)
    results = {}
    for method, image in {"mrisr": sr.data, "cubic": cubic}.items():
        acquired = score(as_acquired(image, axis) / peak, real / peak, mask)
        raw = score(image / peak, real / peak, mask)
        results[method] = {**acquired, **{f"{key}_not_reacquired": value for key, value in raw.items()}}
    write_metrics(folder / "metrics.json", results)
    summary = {
        "scan": name,
        "axis": axis,
        "real_voxel_mm": [round(float(z), 3) for z in volume.zooms],
        "binned_slice_mm": spacing,
        "minutes": minutes,
        "fixed_fwhm_mm": fixed_fwhm_mm,
        "steps": model.meta["step"],
        "seed": seed,
        "train_seconds": round(train_seconds, 1),
        "fwhm_mm": model.meta["acquisition"]["fwhm_mm"],
        "fwhm_source": model.meta["acquisition"]["fwhm_source"],
        "head_psnr_gain_over_cubic": round(results["mrisr"]["psnr_fg"] - results["cubic"]["psnr_fg"], 3),
        "head_psnr_gain_not_reacquired": round(
            results["mrisr"]["psnr_fg_not_reacquired"] - results["cubic"]["psnr_fg_not_reacquired"], 3
        ),
    }
    (folder / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    return summary


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scan", nargs="+", choices=sorted(SLICE_AXES), default=sorted(SLICE_AXES))
    parser.add_argument("--minutes", type=float, default=5.0)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--fixed-fwhm-mm", type=float, help="give the slice profile's FWHM instead of estimating it")
    parser.add_argument("--out", default="results/real_slices")
    args = parser.parse_args()
    for name in args.scan:
        summary = run_scan(name, Path(args.out), minutes=args.minutes, seed=args.seed, fixed_fwhm_mm=args.fixed_fwhm_mm)
        print(json.dumps(summary, indent=2))


if __name__ == "__main__":
    main()
