"""Does the uncertainty map say where the SR is wrong, and does SR ± 2u cover its error? Scored on Colin27.

Colin27 (or, as a check on another head, one of the templates: ``--subject``) is degraded like the panel
(Gaussian profile of FWHM = factor, Rician ``--noise``, as ``mrisr simulate``) and super-resolved by
``mrisr infer --uncertainty``, averaging ``--flips`` flipped passes into the SR (4 by default, as ``mrisr
infer``). The map ``u`` (:mod:`mrisr.trust.uncertainty`) is fitted and calibrated on pairs made from the scan itself,
never on the truth. Inside the truth's head mask, each map is scored against the *local* error (the squared
error smoothed by a Gaussian of σ 1.5 voxels, square root: the error at one voxel is mostly noise):
Spearman, and the area under the sparsification error (AUSE; 0 for the error itself), with the coverage of
SR ± 2u on |SR − truth| (and the coverage each pair's own conformal scale would give alone). Beside the
map: the spread over 4 test-time passes (flips, noise drawn again; the map mrisr made before, uncalibrated
here), an edge detector (the SR's gradient magnitude σ 1 smoothed by σ 1.5, a baseline any map must beat)
and the oracle (the local error itself). The cost of the map is timed against an inference of the same file
without it, with as many flips.

What limits the map, its features or the pairs it learns from? The same error model is fitted on the SR's
own true local error over one half of the head's blocks and scored on the other half, beside the map on
that half, with the spread (``truth_fitted``): what its features could rank at best; the rest of the gap
is the pairs'.

    python benchmarks/trust.py --model RUN/model.pt --scale 1 1 4 --noise 0.01 --out trust.json

The model should be the one trained on that degraded head (``mrisr simulate`` with the same factors and
noise): mrisr trains on the scan it super-resolves.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path

import numpy as np
import torch
from scipy import ndimage, stats

from mrisr import datasets
from mrisr.acquisition.forward import SimulationParams
from mrisr.acquisition.model import Acquisition
from mrisr.acquisition.simulate import simulate
from mrisr.config import DEFAULT_FLIPS
from mrisr.inference.loaded import LoadedModel
from mrisr.inference.running import super_resolve_slabs
from mrisr.inference.writing import Companions, super_resolve_file
from mrisr.intensity import foreground_mask, intensity_scale
from mrisr.io import load_volume, save_volume
from mrisr.metrics import ause, local_rms_error
from mrisr.trust.errornet import block_halves, fit_error_net, predict
from mrisr.trust.features import error_features
from mrisr.trust.pairs import sr_acquisition


def timed(run: Callable[[], Path]) -> tuple[Path, float]:
    """``run()``'s result and its wall time in seconds."""
    start = time.perf_counter()
    result = run()
    return result, time.perf_counter() - start


def ranking(score: np.ndarray, local: np.ndarray, error: np.ndarray | None = None) -> dict[str, float | None]:
    """How ``score`` ranks the local error (Spearman; AUSE on a sample of 200,000 voxels) and, for a map in
    the SR's units, how often SR ± 2·score covers ``error``."""
    sample = np.random.default_rng(0).permutation(len(local))[:200_000]
    return {
        "spearman_local": round(float(stats.spearmanr(score, local).statistic), 3),
        "ause_local": round(ause(score[sample], local[sample]), 5),
        "coverage_2u": None if error is None else round(float(np.mean(error <= 2 * score)), 3),
    }


def truth_fitted(
    model: torch.nn.Module,
    served: Acquisition,
    sr: np.ndarray,
    lr: np.ndarray,
    head: np.ndarray,
    local: np.ndarray,
    maps: dict[str, np.ndarray],
) -> dict:
    """The error model of :mod:`mrisr.trust.uncertainty` fitted on the SR's true ``local`` error over half of the
    ``head`` blocks, and how it and each of ``maps`` rank that error on the other half (``local`` and ``maps``:
    their values in the head; ``model``: turned to the scan, as inference ran it)."""
    acquisition = sr_acquisition(model, served)
    features = error_features(sr, lr, acquisition, (1.0, 1.0, 1.0), intensity_scale(lr, 99.9))[head.ravel()]
    fit = block_halves(head.shape, 0)[head]
    net = fit_error_net(features[fit], local[fit])
    held_out = ~fit
    scored = {"fitted_on_truth": predict(net, features[held_out])}
    scored |= {name: values[held_out] for name, values in maps.items()}
    return {"voxels": int(held_out.sum()), **{name: ranking(x, local[held_out]) for name, x in scored.items()}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True, type=Path)
    parser.add_argument("--scale", nargs=3, type=int, required=True)
    parser.add_argument("--noise", type=float, default=0.0)
    parser.add_argument("--subject", default="colin27", choices=["colin27", *datasets.TEMPLATES])
    parser.add_argument("--flips", type=int, default=DEFAULT_FLIPS, choices=(1, 2, 4, 8))
    parser.add_argument("--out", required=True, type=Path)
    args = parser.parse_args()
    head_path = datasets.colin27() if args.subject == "colin27" else datasets.template(args.subject)
    case = simulate(load_volume(head_path), SimulationParams(scale=tuple(args.scale), noise_sigma=args.noise))
    model = LoadedModel.load(args.model, "cpu", "fp32", "benchmarks/trust.py")
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        lr_path = folder / "lr.nii.gz"
        save_volume(lr_path, case.lr.data, case.lr.affine, case.lr.header)
        infer = partial(super_resolve_file, model, lr_path, flips=args.flips)
        _, plain_seconds = timed(partial(infer, folder / "plain.nii.gz"))
        companions = Companions(folder / "u.nii.gz")
        out, map_seconds = timed(partial(infer, folder / "sr.nii.gz", companions=companions))
        sr, u = load_volume(out).data, load_volume(folder / "u.nii.gz").data
        record = json.loads((folder / "sr.json").read_text())
    lr = case.lr.data.astype(np.float32)
    oriented = model.for_scan(case.lr.zooms, "lr")
    spread = np.concatenate(
        [s for _, s in super_resolve_slabs(oriented, lr, percentile=model.percentile, passes=4)], axis=2
    )
    truth = case.truth.data
    peak = intensity_scale(truth, 99.9)
    head = foreground_mask(truth / peak)
    local = local_rms_error(sr / peak, truth / peak)[head]
    error = np.abs(sr - truth)[head] / peak
    edges = ndimage.gaussian_filter(ndimage.gaussian_gradient_magnitude(sr / peak, 1.0), 1.5)[head]
    u_head, spread_head = u[head] / peak, spread[head] / peak
    calibration = record["Uncertainty"]["Calibration"]
    scaled = {name: scale / calibration["ConformalScale"] for name, scale in calibration["PairScales"].items()}
    result = {
        "model": str(args.model),
        "panel": {"scale": args.scale, "noise": args.noise, "scored": args.subject, "flips": args.flips},
        "head_voxels": int(head.sum()),
        "maps": {
            "uncertainty": ranking(u_head, local, error),
            "spread_4_passes": ranking(spread_head, local, error),
            "edges": ranking(edges, local),
            "oracle": ranking(local, local),
        },
        "other_half_of_the_head": truth_fitted(
            oriented,
            model.served_acquisition(oriented.scale),
            sr,
            lr,
            head,
            local,
            {"uncertainty": u_head, "spread_4_passes": spread_head},
        ),
        "coverage_2u_per_pair_scale": {  # each pair's own conformal scale, alone, on the truth
            name: round(float(np.mean(error <= 2 * factor * u_head)), 3) for name, factor in scaled.items()
        },
        "seconds": {
            "plain_inference": round(plain_seconds, 1),
            "with_uncertainty": round(map_seconds, 1),
            "ratio": round(map_seconds / plain_seconds, 2),
        },
        "uncertainty": record["Uncertainty"],
    }
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
