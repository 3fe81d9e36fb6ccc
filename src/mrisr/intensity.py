"""Intensity normalisation shared by training, inference and scoring: the percentile a volume is scaled by,
and the head mask of a normalised volume."""

from __future__ import annotations

import numpy as np
from scipy import ndimage


def intensity_scale(data: np.ndarray, percentile: float) -> float:
    """The value mapped to 1: a high percentile, robust to a few hot voxels."""
    peak = float(np.percentile(data, percentile))
    if peak <= 0:
        peak = float(np.max(np.abs(data)))
    return peak


def foreground_mask(normalised: np.ndarray, threshold: float = 0.1) -> np.ndarray:
    """Head/brain voxels: above ``threshold`` of the normalised range, holes filled, specks removed."""
    mask = ndimage.binary_opening(normalised > threshold, structure=np.ones((3, 3, 3)))
    return ndimage.binary_fill_holes(mask)
