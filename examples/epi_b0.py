"""Qualitative pass on real low-resolution data with no truth: a 3 T b≈0 diffusion EPI (docs/DATA.md, epi-b0).

Converts the two Siemens mosaic repeats shipped in heudiconv to NIfTI, trains mrisr 2×2×2 with them as the LR
target and the MNI templates as the unpaired HR source, super-resolves the first repeat with its trust maps
(uncertainty, data consistency, sidecar), and reports data consistency (degrade(SR) against the LR) next
to cubic B-spline. Writes a sagittal comparison figure and the trust figure.

    python examples/epi_b0.py --out epi-b0 --minutes 4

Needs ``pip install --no-deps heudiconv==1.5.1`` and ``pip install pydicom``.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from mrisr import datasets
from mrisr.apps.demo import paper_request
from mrisr.apps.figures import comparison_figure, trust_figure
from mrisr.evaluation import consistency, interpolate
from mrisr.inference.loaded import LoadedModel
from mrisr.inference.writing import Companions, super_resolve_file
from mrisr.intensity import intensity_scale
from mrisr.io import load_volume
from mrisr.training.plan import ensure_model, plan_training

SCALE = (2, 2, 2)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="epi-b0")
    parser.add_argument("--minutes", type=float, default=4.0)
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    lr_paths = [datasets.epi_b0_nifti(out / f"b0_{i}.nii.gz", i) for i in (1, 2)]

    request = paper_request(lr_paths, seed=0, minutes=args.minutes)
    model_path = ensure_model(plan_training(request, out / "run", on_existing="replace"))
    model = LoadedModel.load(model_path, "cpu", "fp32", "python examples/epi_b0.py")
    maps = Companions(out / "b0_1_uncertainty.nii.gz", out / "b0_1_consistency.nii.gz")
    sr_path = super_resolve_file(model, lr_paths[0], out / "b0_1_sr.nii.gz", companions=maps, overwrite=True)

    lr, sr = load_volume(lr_paths[0]), load_volume(sr_path)
    cubic = interpolate(lr.data, SCALE, order=3)
    peak = intensity_scale(lr.data, 99.9)
    report = {
        "lr_shape": list(lr.data.shape),
        "lr_voxel_mm": [round(float(z), 3) for z in lr.zooms],
        "sr_shape": list(sr.data.shape),
        "consistency_psnr": {
            name: round(consistency(img / peak, lr.data / peak, SCALE, "gaussian"), 2)
            for name, img in {"mrisr": sr.data, "cubic": cubic}.items()
        },
        "learned_degradation": json.loads((out / "run" / "degradation.json").read_text()),
        "sidecar": json.loads((out / "b0_1_sr.json").read_text()),
    }
    (out / "report.json").write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report, indent=2))
    comparison_figure(
        sr.data / peak,
        {},
        out / "comparison.png",
        affine=sr.affine,
        truth_name="mrisr",
        error_max=0.1,
        lr=lr.data / peak,
    )
    uncertainty, residual = load_volume(maps.uncertainty), load_volume(maps.consistency)
    trust_figure(out / "trust.png", sr.data, uncertainty.data, residual.data, affine=sr.affine, lr_affine=lr.affine)


if __name__ == "__main__":
    main()
