"""What a segmentation sees of known changes: tissue Dice and volume error of a head blurred or made noisy.

    python benchmarks/tissue_calibration.py --out results/tissues/calibration.json

The truth (a packaged 1 mm head, scaled so its 99.9th percentile is 1) is changed in one known way at a time
(Rician noise; an isotropic Gaussian blur; a Gaussian slice profile along one axis) and segmented inside its
brain mask as ``mrisr evaluate --tissues`` segments an SR (:mod:`mrisr.tissues`). The table says which way
each change moves the tissue volumes, so that an SR's volume errors can be read: residual blur or noise.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
from scipy import ndimage

from mrisr import datasets
from mrisr.acquisition.noise import rician
from mrisr.intensity import intensity_scale
from mrisr.io import atomic_write, load_volume
from mrisr.tissues import TISSUES, segment, tissue_scores

FWHM_TO_SIGMA = 1.0 / (2.0 * np.sqrt(2.0 * np.log(2.0)))


def noisy(image: np.ndarray, sigma: float, seed: int = 0) -> np.ndarray:
    """``image`` with Rician noise of ``sigma``, as :func:`mrisr.acquisition.simulate.simulate_slices` adds it."""
    noise = np.random.default_rng(seed).standard_normal((2, *image.shape)) * sigma
    return rician(image, noise[0], noise[1])


CHANGES = {
    "rician 0.01": lambda x: noisy(x, 0.01),
    "rician 0.02": lambda x: noisy(x, 0.02),
    "blur sigma 0.5 mm": lambda x: ndimage.gaussian_filter(x, 0.5),
    "blur sigma 1 mm": lambda x: ndimage.gaussian_filter(x, 1.0),
    "slice profile 2 mm (axis 2)": lambda x: ndimage.gaussian_filter1d(x, 2.0 * FWHM_TO_SIGMA, axis=2),
    "slice profile 4 mm (axis 2)": lambda x: ndimage.gaussian_filter1d(x, 4.0 * FWHM_TO_SIGMA, axis=2),
}
"""Each change of the 1 mm truth, by name."""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--head", choices=datasets.HEADS, default="colin27")
    parser.add_argument("--out", default="results/tissues/calibration.json")
    args = parser.parse_args()
    volume = load_volume(datasets.head(args.head))
    truth = volume.data / intensity_scale(volume.data, 99.9)
    brain = datasets.brain_mask(args.head)
    spacing = tuple(volume.zooms)
    truth_labels = segment(truth, brain, spacing)
    rows = {}
    print(
        f"{'change':<30}"
        + "".join(f"{'dice_' + t:>10}" for t in TISSUES)
        + "".join(f"{'vol_' + t:>10}" for t in TISSUES)
    )
    for name, change in CHANGES.items():
        scores = tissue_scores(segment(change(truth), brain, spacing), truth_labels, float(np.prod(spacing)) / 1000)
        rows[name] = {k: round(v, 4) for k, v in scores.items()}
        dices = "".join(f"{scores['dice_' + t]:>10.3f}" for t in TISSUES)
        print(f"{name:<30}" + dices + "".join(f"{scores['volume_error_' + t]:>+10.2f}" for t in TISSUES))
    result = {"head": args.head, "changes": rows}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    atomic_write(args.out, lambda tmp: Path(tmp).write_text(json.dumps(result, indent=2) + "\n"))


if __name__ == "__main__":
    main()
