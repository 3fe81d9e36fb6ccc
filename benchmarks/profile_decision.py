"""Which slice profile a thick-slice scan trains with, when its sidecar is right and when it is wrong.

    python benchmarks/profile_decision.py --out results/profile_decision

Colin27 (1 mm) is acquired as coronal slices 3 mm every 3 mm, 4.5 every 4.5 and 6 every 6 (a Gaussian
profile as thick as the slice, Rician 0.01: :func:`mrisr.acquisition.simulate.simulate_slices`), and each
scan is settled as training settles it (:func:`mrisr.training.settle.settle`) with the sidecar's
``SliceThickness`` right, 30% too thin and 30% too thick. Prints and writes, per case, the profile training
uses, the scan's own estimate and their errors against the truth's FWHM. No training: this is the decision
alone (``--out``/summary.json).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from mrisr import datasets
from mrisr.acquisition.simulate import SliceParams, simulate_slices
from mrisr.config import Config
from mrisr.io import load_volume
from mrisr.sampling.volumes import prepare_volume
from mrisr.training.settle import settle

THICKNESSES = (3.0, 4.5, 6.0)
SIDECAR_ERRORS = (1.0, 0.7, 1.3)
AXIS = 1  # coronal: slices along anterior-posterior


def decide(thickness: float, sidecar_error: float) -> dict:
    """Settle one simulated coronal scan whose sidecar says ``sidecar_error`` times its true thickness."""
    colin = load_volume(datasets.colin27())
    case = simulate_slices(colin, SliceParams(axis=AXIS, spacing=thickness, thickness=thickness, noise_sigma=0.01))
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default="results/profile_decision")
    args = parser.parse_args()
    rows = [decide(t, e) for t in THICKNESSES for e in SIDECAR_ERRORS]
    for row in rows:
        print(f"{row['thickness_mm']:>4} mm, sidecar {row['sidecar_mm']:>5} mm -> {row['used_fwhm_mm']:.2f} mm "
              f"({row['error']:+.1%}) {'ok' if row['within_10_percent'] else 'OFF'}")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "summary.json").write_text(json.dumps(rows, indent=2) + "\n")


if __name__ == "__main__":
    main()
