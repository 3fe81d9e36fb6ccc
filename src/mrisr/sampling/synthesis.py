"""HR sources that look like one person rather than an average (the idea of SynthSR, Iglesias et al. 2023,
written from its paper): a template's tissue labels, each given a random intensity, with sharp edges.

A population template is smoother than any one head: its tissue boundaries are spread over the subjects it
averages. Its labels are not: a label map painted with one intensity per label has edges as sharp as the
HR grid allows, and random intensities per label make the network see many contrasts of the same anatomy.
The labels come from the template itself (k-means of its foreground intensities), so no atlas is needed.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage
from scipy.cluster.vq import kmeans2

LABELS = 6
"""Intensity classes of a template's foreground (about: CSF, grey matter, white matter, fat, and the scalp's
darker and brighter parts); the background is label 0."""


def tissue_labels(data: np.ndarray, foreground: np.ndarray, classes: int = LABELS, seed: int = 0) -> np.ndarray:
    """Label map of a normalised volume: 0 outside ``foreground``, 1..``classes`` by intensity inside (k-means
    of the foreground intensities, labels sorted from dark to bright)."""
    values = data[foreground].astype(np.float64)
    sample = np.random.default_rng(seed).choice(values, size=min(len(values), 200_000), replace=False)
    centres, _ = kmeans2(sample[:, None], classes, seed=seed, minit="++")
    centres = np.sort(centres[:, 0])
    edges = (centres[1:] + centres[:-1]) / 2
    labels = np.zeros(data.shape, np.uint8)
    labels[foreground] = 1 + np.searchsorted(edges, values)
    return labels


def paint(labels: np.ndarray, image: np.ndarray, gains: np.ndarray, texture: float, blur: float) -> np.ndarray:
    """``image`` repainted: each label's voxels take ``gains[label]`` times their class's mean in ``image``,
    keeping the share ``texture`` (0–1, as an exponent) of the variation within the class, then a Gaussian
    partial-volume blur of ``blur`` voxels (a boundary that falls inside a voxel)."""
    classes = len(gains)
    sums = np.bincount(labels.ravel(), weights=image.ravel(), minlength=classes)
    means = sums / np.maximum(np.bincount(labels.ravel(), minlength=classes), 1)
    relative = np.where(means[labels] > 0, image / np.maximum(means[labels], 1e-6), 1.0)
    painted = (means * gains)[labels] * relative**texture
    return ndimage.gaussian_filter(painted, blur).astype(np.float32)


def random_paint(labels: np.ndarray, image: np.ndarray, rng: np.random.Generator, classes: int = LABELS) -> np.ndarray:
    """A synthetic HR patch (:func:`paint`): gains 0.5–1.5 per label (the air's kept at 1), a random share of the
    texture, and a blur of σ 0.3–0.7 HR voxels, so that edges are sharp but not aliased."""
    gains = np.concatenate([[1.0], rng.uniform(0.5, 1.5, size=classes)])
    return paint(labels, image, gains, rng.uniform(0.0, 1.0), rng.uniform(0.3, 0.7))
