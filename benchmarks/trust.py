"""Does the uncertainty map say where the SR is wrong? Spearman correlation with |SR - truth| and the coverage of
SR ± 2·c·uncertainty inside the head, with the one scale ``c`` fitted on a different volume (a degraded template).

Where the SR is wrong is scored against the *local* error (the squared error smoothed by a Gaussian of σ 1.5
voxels, square root: the error at one voxel is mostly noise): Spearman with it, and the area under the
sparsification error (AUSE; 0 for the error itself), each beside an edge detector (the SR's gradient
magnitude smoothed alike), a baseline any map must beat.

    python benchmarks/trust.py --model RUN/model.pt --scale 1 1 4 --noise 0.01 --out trust.json

Colin27 (scored) and a template (calibration, ``--calibration``) are degraded alike (Gaussian profile of
FWHM = factor, Rician ``--noise``, as ``mrisr simulate``) and super-resolved with the trust maps of
``mrisr infer --uncertainty --consistency`` (the default 4 passes). The scale ``c`` makes
±2·c·uncertainty cover 95% of the calibration volume's head voxels (a Gaussian's ±2σ); the coverage it
gives on Colin27 is reported.
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

import numpy as np
from scipy import ndimage, stats

from mrisr import datasets
from mrisr.acquisition.degradation import DegradationParams
from mrisr.acquisition.simulate import simulate
from mrisr.checkpoint import load_model
from mrisr.data import foreground_mask, intensity_scale
from mrisr.inference import Companions, super_resolve_file
from mrisr.io import load_volume, save_volume
from mrisr.metrics import ause, local_rms_error
from mrisr.trust import Provenance


def scored_maps(model_path: Path, hr: Path, params: DegradationParams, folder: Path):
    """|SR - truth| and the uncertainty in the truth's head mask (units of the truth's 99.9th percentile), and
    the sidecar, for ``hr`` degraded by ``params``."""
    case = simulate(load_volume(hr), params)
    save_volume(folder / "lr.nii.gz", case.lr.data, case.lr.affine, case.lr.header)
    model, meta = load_model(model_path)
    provenance = Provenance(model_path, meta, "benchmarks/trust.py", "float32", "cpu")
    companions = Companions(folder / "u.nii.gz", folder / "c.nii.gz", provenance=provenance)
    out = super_resolve_file(
        model, folder / "lr.nii.gz", folder / "sr.nii.gz", companions=companions, percentile=99.9, overwrite=True
    )
    sr, uncertainty = load_volume(out).data, load_volume(folder / "u.nii.gz").data
    truth = case.truth.data
    peak = intensity_scale(truth, 99.9)
    head = foreground_mask(truth / peak)
    record = json.loads((folder / "sr.json").read_text())
    local = local_rms_error(sr / peak, truth / peak)[head]
    edges = ndimage.gaussian_filter(ndimage.gaussian_gradient_magnitude(sr / peak, 1.0), 1.5)[head]
    return np.abs(sr - truth)[head] / peak, uncertainty[head] / peak, record, local, edges


def ranking(name: str, score: np.ndarray, local: np.ndarray) -> dict[str, float]:
    """How ``score`` ranks the local error: Spearman and AUSE (a sample of 200,000 head voxels for AUSE)."""
    sample = np.random.default_rng(0).permutation(len(local))[:200_000]
    return {
        f"spearman_local_{name}": round(float(stats.spearmanr(score, local).statistic), 3),
        f"ause_local_{name}": round(ause(score[sample], local[sample]), 5),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True, type=Path)
    parser.add_argument("--scale", nargs=3, type=int, required=True)
    parser.add_argument("--noise", type=float, default=0.0)
    parser.add_argument("--calibration", default="mni2009a", choices=sorted(datasets.TEMPLATES))
    parser.add_argument("--out", required=True, type=Path)
    args = parser.parse_args()
    params = DegradationParams(scale=tuple(args.scale), noise_sigma=args.noise)
    with tempfile.TemporaryDirectory() as tmp:
        error, spread, record, local, edges = scored_maps(args.model, datasets.colin27(), params, Path(tmp))
        cal = scored_maps(args.model, datasets.template(args.calibration), params, Path(tmp))
        cal_error, cal_spread = cal[0], cal[1]
    scale = float(np.quantile(cal_error / np.maximum(cal_spread, 1e-8), 0.95)) / 2
    result = {
        "model": str(args.model),
        "panel": {"scale": args.scale, "noise": args.noise, "scored": "colin27", "calibration": args.calibration},
        "spearman_head": round(float(stats.spearmanr(spread, error).statistic), 3),
        "scale_c": round(scale, 3),
        "coverage_head": round(float(np.mean(error <= 2 * scale * spread)), 3),
        "calibration_coverage_head": round(float(np.mean(cal_error <= 2 * scale * cal_spread)), 3),
        **ranking("uncertainty", spread, local),
        **ranking("edges", edges, local),
        "consistency": record["Consistency"],
        "uncertainty": record["Uncertainty"],
    }
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
