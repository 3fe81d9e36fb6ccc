"""Scans as they come: thick slices at any spacing, thickness, orientation, read from the header alone.

    python benchmarks/slices.py --panel oblique-coronal --steps 5000 --out results/slices
    python benchmarks/slices.py --head mni6gen --panel thick-rician-1x1x4 --tissues --out results/tissues

A packaged head (1 mm: Colin27 by default, or one of the MNI templates) is acquired as a panel says
(:class:`mrisr.acquisition.simulate.SliceParams`: slice axis, spacing, thickness, Rician noise, tilt of the
slice stack) and written as a scanner would, with a JSON sidecar holding ``SliceThickness`` and
``SpacingBetweenSlices``. mrisr then trains on that file alone with no ``--scale`` (the factors, the slice
axis and the thickness come from the header and the sidecar, as ``mrisr train --lr scan.nii.gz``), super-
resolves it (``mrisr infer`` defaults: 4 flips) and is scored against the truth beside cubic B-spline
interpolation of the same scan, both on the truth's grid (their affines are checked to match it). Head mask
first. ``--tissues`` adds what a segmentation sees (:mod:`mrisr.tissues`: Atropos inside the head's packaged
brain mask, carried through the same tilt and crop as the truth). Writes ``OUT/PANEL/metrics.json`` and
``summary.json`` (``OUT/HEAD/PANEL`` for an MNI head).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import time
from pathlib import Path

import numpy as np

from mrisr import datasets
from mrisr.acquisition.forward import gaussian_downsample
from mrisr.acquisition.geometry import protocol_factors
from mrisr.acquisition.simulate import SliceParams, simulate_slices, tilt_volume
from mrisr.config import DEFAULT_FLIPS, preset
from mrisr.evaluation import baseline_volumes, evaluate, format_table, write_metrics
from mrisr.inference.loaded import LoadedModel
from mrisr.inference.writing import super_resolve_file
from mrisr.io import Volume, coarsen_affine, load_volume, save_volume
from mrisr.tissues import format_tissue_table, tissue_fidelity
from mrisr.training import train

PANELS: dict[str, tuple[SliceParams, float]] = {
    "oblique-coronal": (SliceParams(axis=1, spacing=5.0, thickness=4.0, noise_sigma=0.01, tilt=15.0), 1.0),
    "axial-4.5": (SliceParams(axis=2, spacing=4.5, thickness=4.5), 1.0),
    "coronal-1.5": (SliceParams(axis=1, spacing=3.0, thickness=3.0), 2.0),
    "thick-1x1x4": (SliceParams(axis=2, spacing=4.0, thickness=4.0), 1.0),
    "thick-rician-1x1x4": (SliceParams(axis=2, spacing=4.0, thickness=4.0, noise_sigma=0.01), 1.0),
}
"""Each panel's acquisition and the truth's voxel size in mm (2: Colin27 acquired at 2 mm isotropic first)."""


def truth_volume(volume: Volume, voxel_mm: float) -> Volume:
    """A packaged head at 1 mm, or acquired at ``voxel_mm`` isotropic (Gaussian profile as thick as the voxel)."""
    if voxel_mm == 1.0:
        return volume
    f = int(voxel_mm)
    cropped = volume.data[tuple(slice(0, (n // f) * f) for n in volume.data.shape)]
    return Volume(gaussian_downsample(cropped, (f, f, f)), coarsen_affine(volume.affine, (f, f, f)), volume.header)


def brain_on_truth(head: str, source: Volume, params: SliceParams, truth: Volume) -> np.ndarray:
    """The brain mask of the packaged ``head`` (read as ``source``) tilted and cropped as :func:`simulate_slices`
    tilts and crops the truth."""
    mask = Volume(datasets.brain_mask(head).astype(np.float32), source.affine, source.header)
    tilted = tilt_volume(mask, params.axis, params.tilt)
    keep = [slice(None)] * 3
    keep[params.axis] = slice(0, truth.data.shape[params.axis])
    brain = tilted.data[tuple(keep)] > 0.5
    if not np.allclose(tilted.affine, truth.affine, atol=1e-4) or brain.shape != truth.data.shape:
        raise SystemExit("the brain mask did not land on the truth's grid")
    return brain


def run_panel(name: str, out: Path, *, head: str, steps: int, seed: int, hr: list[str], tissues: bool) -> dict:
    """Simulate, train from the header, super-resolve and score one panel; returns its summary."""
    params, voxel_mm = PANELS[name]
    params = dataclasses.replace(params, noise_seed=seed, sidecar={})
    folder = out / name if head == "colin27" else out / head / name
    folder.mkdir(parents=True, exist_ok=True)
    source = load_volume(datasets.head(head))
    case = simulate_slices(truth_volume(source, voxel_mm), params)
    truth_path, lr_path = folder / "truth.nii.gz", folder / "scan.nii.gz"
    save_volume(truth_path, case.truth.data, case.truth.affine, case.truth.header)
    save_volume(lr_path, case.lr.data, case.lr.affine, case.lr.header)
    (folder / "scan.json").write_text(json.dumps(params.sidecar) + "\n")
    factors, described = protocol_factors([str(lr_path)])
    print(described)
    config = preset("cpu").override(
        {"model": {"scale": list(factors)}, "train": {"lr": [str(lr_path)], "hr": hr, "steps": steps, "seed": seed}}
    )
    started = time.perf_counter()
    model_path = train(config, folder / "run")
    train_seconds = time.perf_counter() - started
    model = LoadedModel.load(model_path, "cpu", "fp32")
    started = time.perf_counter()
    sr_path = super_resolve_file(model, lr_path, folder / "sr.nii.gz", overwrite=True, flips=DEFAULT_FLIPS)
    infer_seconds = time.perf_counter() - started
    truth, lr, sr = load_volume(truth_path), load_volume(lr_path), load_volume(sr_path)
    if not np.allclose(sr.affine, truth.affine, atol=1e-4) or sr.data.shape != truth.data.shape:
        raise SystemExit(f"{name}: the SR's grid {sr.data.shape} is not the truth's {truth.data.shape}")
    fwhm = [0.0, 0.0, 0.0]
    fwhm[params.axis] = params.thickness / float(truth.zooms[params.axis])
    volumes = {**baseline_volumes(lr, truth), "mrisr": sr.data}
    results = evaluate(truth, volumes, lr=lr, fwhm=fwhm, baselines=False)
    if tissues:
        if voxel_mm != 1.0:
            raise SystemExit(f"{name}: tissues are scored on 1 mm truths only")
        brain = brain_on_truth(head, source, params, truth)
        save_volume(folder / "brain.nii.gz", brain.astype(np.uint8), truth.affine, truth.header)
        compared = {method: volumes[method] for method in ("mrisr", "cubic")}
        scores, truth_volumes = tissue_fidelity(truth.data, compared, brain, truth.zooms)
        for method, tissue in scores.items():
            results[method].update(tissue)
        print(format_tissue_table(scores))
    write_metrics(folder / "metrics.json", results)
    print(format_table(results))
    summary = {
        "panel": name,
        "head": head,
        "acquisition": {k: v for k, v in dataclasses.asdict(params).items() if k != "sidecar"},
        "truth_voxel_mm": voxel_mm,
        "factors": list(factors),
        "steps": steps,
        "seed": seed,
        "hr": hr,
        "train_seconds": round(train_seconds, 1),
        "infer_seconds": round(infer_seconds, 1),
        "estimated_fwhm_mm": model.meta["acquisition"]["fwhm_mm"],
        "head_psnr_gain_over_cubic": round(results["mrisr"]["psnr_fg"] - results["cubic"]["psnr_fg"], 3),
    }
    if tissues:
        summary["truth_tissue_ml"] = {k: round(v, 1) for k, v in truth_volumes.items()}
    (folder / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    return summary


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--head", choices=datasets.HEADS, default="colin27")
    parser.add_argument("--panel", nargs="+", choices=sorted(PANELS), default=["oblique-coronal"])
    parser.add_argument("--steps", type=int, default=5000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--hr", nargs="*", default=[], help="HR volumes of other subjects (default: the scan alone)")
    parser.add_argument("--tissues", action="store_true", help="add what a segmentation sees (needs mrisr[tissues])")
    parser.add_argument("--out", default="results/slices")
    args = parser.parse_args()
    for name in args.panel:
        summary = run_panel(
            name, Path(args.out), head=args.head, steps=args.steps, seed=args.seed, hr=args.hr, tissues=args.tissues
        )
        print(json.dumps(summary, indent=2))


if __name__ == "__main__":
    main()
