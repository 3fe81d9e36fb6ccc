"""Which slice profile a thick-slice scan trains with, when its sidecar is right and when it is wrong.

    python benchmarks/profile_decision.py --out results/profile_decision
    python benchmarks/profile_decision.py --train 3:1.3 3:0.7 --minutes 5 --out results/profile_decision
    python benchmarks/profile_decision.py --anatomy --out results/profile_decision

Colin27 (1 mm) is acquired as coronal slices 3 mm every 3 mm, 4.5 every 4.5 and 6 every 6 (a Gaussian
profile as thick as the slice, Rician 0.01: :func:`mrisr.acquisition.simulate.simulate_slices`), and each
scan is settled as training settles it (:func:`mrisr.training.settle.settle`) with the sidecar's
``SliceThickness`` right, 30% too thin and 30% too thick. Prints and writes, per case, the profile training
uses, the scan's own estimate and their errors against the truth's FWHM. No training: this is the decision
alone (``--out``/summary.json).

``--train THICKNESS:SIDECAR_ERROR …`` also trains on those cases for ``--minutes`` each (2-core CPU, seed 0),
once as a run does (the decided profile) and once given the true profile (``model.fixed_fwhm``), and scores
both against the truth inside the head beside cubic (``OUT/train.json``, where a run replaces the record of
the same case and arm; ``--arms`` trains one of the two).

``--anatomy`` measures what the anatomy alone does to the scan's own estimate: three heads (Colin27 and the
two 1 mm templates) acquired along each axis as slices 2, 3 and 4.5 mm thick (Gaussian, Rician 0.01), and the
self-referenced estimate over the truth per case (``OUT/anatomy.json``).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from mrisr import datasets
from mrisr.acquisition.noise import estimate_noise_sigma
from mrisr.acquisition.profile import estimate_profile
from mrisr.acquisition.simulate import SliceParams, simulate_slices
from mrisr.config import DEFAULT_FLIPS, Config, preset
from mrisr.evaluation import evaluate
from mrisr.inference.loaded import LoadedModel
from mrisr.inference.writing import super_resolve_file
from mrisr.io import load_volume, save_volume
from mrisr.sampling.volumes import prepare_volume
from mrisr.training import train
from mrisr.training.settle import settle

THICKNESSES = (3.0, 4.5, 6.0)
SIDECAR_ERRORS = (1.0, 0.7, 1.3)
AXIS = 1  # coronal: slices along anterior-posterior


def simulated(thickness: float):
    """Colin27 as coronal slices ``thickness`` mm thick every ``thickness`` mm, Rician 0.01."""
    colin = load_volume(datasets.colin27())
    return simulate_slices(colin, SliceParams(axis=AXIS, spacing=thickness, thickness=thickness, noise_sigma=0.01))


def decide(thickness: float, sidecar_error: float) -> dict:
    """Settle one simulated coronal scan whose sidecar says ``sidecar_error`` times its true thickness."""
    case = simulated(thickness)
    volume = prepare_volume(case.lr, 99.9, (1, 1, 1))
    told = round(thickness * sidecar_error, 3)
    config = Config().override({"model": {"scale": list(case.acquisition.scale), "slice_thickness": told}})
    settled = settle(config, [], [volume])
    used = settled.config.model.fixed_fwhm[AXIS]
    said = [line for line in [settled.profile_source, *settled.warnings] if "trains with" in line]
    return {
        "thickness_mm": thickness,
        "sidecar_mm": told,
        "used_fwhm_mm": round(used, 3),
        "error": round(used / thickness - 1, 3),
        "within_10_percent": abs(used / thickness - 1) <= 0.10,
        "decision": said[0] if said else settled.profile_source,
    }


def trained_gain(thickness: float, sidecar_error: float, minutes: float, folder: Path, true_profile: bool) -> dict:
    """Train on one case for ``minutes`` (the decided profile, or the true one) and score it beside cubic."""
    case = simulated(thickness)
    folder.mkdir(parents=True, exist_ok=True)
    scan = folder / "scan.nii.gz"
    save_volume(scan, case.lr.data, case.lr.affine, case.lr.header)
    told = round(thickness * sidecar_error, 3)
    (folder / "scan.json").write_text(json.dumps({"SliceThickness": told, "SpacingBetweenSlices": thickness}))
    model = {"scale": list(case.acquisition.scale)}
    if true_profile:
        model["fixed_fwhm"] = list(case.acquisition.fwhm)
    config = preset("cpu").override({"model": model, "train": {"lr": [str(scan)], "minutes": minutes, "steps": None}})
    loaded = LoadedModel.load(train(config, folder / "run"), "cpu", "fp32")
    sr = load_volume(super_resolve_file(loaded, scan, folder / "sr.nii.gz", overwrite=True, flips=DEFAULT_FLIPS))
    results = evaluate(case.truth, {"mrisr": sr.data}, lr=case.lr, fwhm=case.acquisition.fwhm)
    return {
        "thickness_mm": thickness,
        "sidecar_mm": told,
        "profile": "true" if true_profile else "decided",
        "fwhm_mm": loaded.meta["acquisition"]["fwhm_mm"][AXIS],
        "steps": loaded.meta["step"],
        "head_psnr": round(results["mrisr"]["psnr_fg"], 3),
        "cubic_head_psnr": round(results["cubic"]["psnr_fg"], 3),
        "head_psnr_gain_over_cubic": round(results["mrisr"]["psnr_fg"] - results["cubic"]["psnr_fg"], 3),
    }


def anatomy_bias() -> list[dict]:
    """The self-referenced estimate over the true FWHM, per head, slice axis and thickness."""
    rows = []
    for head in ("colin27", "mni2009a", "mni6gen"):
        volume = load_volume(datasets.colin27() if head == "colin27" else datasets.template(head))
        for axis in range(3):
            for thickness in (2.0, 3.0, 4.5):
                params = SliceParams(axis=axis, spacing=thickness, thickness=thickness, noise_sigma=0.01)
                case = simulate_slices(volume, params)
                lr = case.lr.data
                nominal = [thickness if a == axis else 1.0 for a in range(3)]
                sigma = estimate_noise_sigma(lr)
                estimate = estimate_profile([lr], [], case.acquisition.scale, [sigma], nominal=nominal)[axis]
                rows.append(
                    {"head": head, "axis": axis, "thickness_mm": thickness, "ratio": round(estimate / thickness, 3)}
                )
                print(json.dumps(rows[-1]))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default="results/profile_decision")
    parser.add_argument("--train", nargs="*", default=[], metavar="THICKNESS:ERROR", help="cases to train, e.g. 3:1.3")
    parser.add_argument("--minutes", type=float, default=5.0)
    parser.add_argument("--arms", nargs="+", choices=("decided", "true"), default=["decided", "true"])
    parser.add_argument("--anatomy", action="store_true", help="the estimate's bias from the anatomy alone")
    args = parser.parse_args()
    if args.anatomy:
        rows = anatomy_bias()
        Path(args.out).mkdir(parents=True, exist_ok=True)
        (Path(args.out) / "anatomy.json").write_text(json.dumps(rows, indent=2) + "\n")
        return
    if args.train:
        record = Path(args.out) / "train.json"
        runs = {
            (r["thickness_mm"], r["sidecar_mm"], r["profile"]): r
            for r in (json.loads(record.read_text()) if record.is_file() else [])
        }
        for case in args.train:
            thickness, error = (float(v) for v in case.split(":"))
            for arm in args.arms:
                folder = Path(args.out) / f"{thickness:g}mm_x{error:g}_{arm}"
                run = trained_gain(thickness, error, args.minutes, folder, arm == "true")
                runs[(run["thickness_mm"], run["sidecar_mm"], run["profile"])] = run
                print(json.dumps(run))
        record.write_text(json.dumps(list(runs.values()), indent=2) + "\n")
        return
    rows = [decide(t, e) for t in THICKNESSES for e in SIDECAR_ERRORS]
    for row in rows:
        print(
            f"{row['thickness_mm']:>4} mm, sidecar {row['sidecar_mm']:>5} mm -> {row['used_fwhm_mm']:.2f} mm "
            f"({row['error']:+.1%}) {'ok' if row['within_10_percent'] else 'OFF'}"
        )
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "summary.json").write_text(json.dumps(rows, indent=2) + "\n")


if __name__ == "__main__":
    main()
