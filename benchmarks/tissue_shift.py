"""Where an SR's grey matter turns white: the voxels that change class, and their intensities.

    python benchmarks/tissue_shift.py results/tissues/thick-rician-1x1x4

For a panel folder of ``benchmarks/slices.py --tissues`` (truth, SR, brain mask), the truth and the SR are
segmented as ``mrisr evaluate --tissues`` segments them. Printed: how many of the truth's grey-matter voxels
the SR's segmentation calls white, the share of them next to the truth's white matter, their median
intensity in the truth and in the SR, and each segmentation's grey/white threshold (the 99th percentile of
its grey matter's intensity), and the SR's mean difference from the truth inside each tissue, away from its
edges. Intensities are the truth's units (its 99.9th percentile is 1).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from scipy import ndimage

from mrisr.io import load_volume
from mrisr.tissues import segment


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("folder", type=Path)
    args = parser.parse_args()
    truth, sr = load_volume(args.folder / "truth.nii.gz"), load_volume(args.folder / "sr.nii.gz")
    brain = load_volume(args.folder / "brain.nii.gz").data > 0
    truth_labels, sr_labels = segment(truth.data, brain, truth.zooms), segment(sr.data, brain, truth.zooms)
    white = truth_labels == 3
    turned = (truth_labels == 2) & (sr_labels == 3)
    beside = turned & ndimage.binary_dilation(white)
    print(f"grey turned white: {int(turned.sum())} voxels, {beside.sum() / turned.sum():.0%} next to white matter")
    print(f"their median intensity: truth {np.median(truth.data[turned]):.4f}, SR {np.median(sr.data[turned]):.4f}")
    for name, image, labels in (("truth", truth.data, truth_labels), ("SR", sr.data, sr_labels)):
        print(f"{name} grey/white threshold: {np.percentile(image[labels == 2], 99):.4f}")
    for label, tissue in ((2, "grey"), (3, "white")):
        inside = ndimage.binary_erosion(truth_labels == label, iterations=2)
        difference = (sr.data - truth.data)[inside].mean()
        print(f"SR - truth inside the {tissue} matter (2 voxels from its edge): {difference:+.4f}")


if __name__ == "__main__":
    main()
