"""What a segmentation sees: grey matter, white matter and CSF of a volume, and their fidelity to the truth's.

People super-resolve scans to measure them (tissue volumes, cortex); a PSNR does not say whether the grey
matter of an SR has the right volume, nor whether the SR invents structure. The truth, the SR and cubic are
segmented alike inside one brain mask by ANTs' Atropos (three classes, k-means initialisation, a Markov
random field prior), a well-kept segmenter that runs offline, and compared per tissue: Dice against the
truth's segmentation and volume error in percent. Atropos stands in for what users run (FreeSurfer, SynthSeg,
FSL FAST); it is an optional extra (``pip install 'mrisr[tissues]'``, ANTsPy).
"""

from __future__ import annotations

import importlib.util
from collections.abc import Sequence

import numpy as np

from mrisr import MRISRError

TISSUES = ("csf", "gm", "wm")
"""Labels 1, 2, 3 of a segmentation (0 is outside the brain)."""
CLASS_ORDER = {"t1": ("csf", "gm", "wm"), "t2": ("wm", "gm", "csf")}
"""The tissues from the darkest class to the brightest, per contrast."""
ATROPOS = {"i": "kmeans[3]", "m": "[0.2,1x1x1]", "c": "[5,0]"}
"""Atropos settings: three classes initialised by k-means, an MRF of weight 0.2 over the 26 neighbours, five
iterations (the setting of ANTsPy's k-means segmentation, with its usual MRF weight)."""
MISSING = "tissue segmentation needs ANTsPy, an optional extra: pip install 'mrisr[tissues]'"


def dice(a: np.ndarray, b: np.ndarray) -> float:
    """The Dice overlap of two binary masks (1 when both are empty)."""
    a, b = np.asarray(a, bool), np.asarray(b, bool)
    total = int(a.sum()) + int(b.sum())
    return 1.0 if total == 0 else 2.0 * int(np.logical_and(a, b).sum()) / total


def volume_error(voxels: int, truth_voxels: int) -> float:
    """The signed error of a tissue volume, in percent of the truth's."""
    if truth_voxels == 0:
        raise MRISRError("the truth's segmentation has an empty tissue class")
    return 100.0 * (voxels - truth_voxels) / truth_voxels


def tissue_scores(labels: np.ndarray, truth_labels: np.ndarray, voxel_ml: float) -> dict[str, float]:
    """Per tissue: Dice with the truth's segmentation, volume error in percent, and volume in millilitres."""
    scores = {}
    for label, tissue in enumerate(TISSUES, start=1):
        mine, truth = labels == label, truth_labels == label
        scores[f"dice_{tissue}"] = dice(mine, truth)
        scores[f"volume_error_{tissue}"] = volume_error(int(mine.sum()), int(truth.sum()))
        scores[f"volume_ml_{tissue}"] = float(mine.sum()) * voxel_ml
    return scores


def require_segmenter() -> None:
    """Raise the one-line install hint when ANTsPy is missing (checked before any work)."""
    if importlib.util.find_spec("ants") is None:
        raise MRISRError(MISSING)


def segment(image: np.ndarray, brain: np.ndarray, spacing: Sequence[float], contrast: str = "t1") -> np.ndarray:
    """Three-class Atropos segmentation of ``image`` inside the ``brain`` mask: 0 outside, then
    :data:`TISSUES` (1 CSF, 2 grey, 3 white matter) whatever the contrast's order of brightness."""
    require_segmenter()
    import ants  # the optional extra, imported only here

    if not brain.any():
        raise MRISRError("the brain mask is empty")
    image_ants = ants.from_numpy(np.asarray(image, np.float32), spacing=tuple(float(s) for s in spacing))
    mask_ants = image_ants.new_image_like(brain.astype(np.float32))
    classes = ants.atropos(a=image_ants, x=mask_ants, **ATROPOS)["segmentation"].numpy().astype(np.int64)
    means = [image[classes == k].mean() if (classes == k).any() else np.inf for k in (1, 2, 3)]
    relabel = np.zeros(4, np.uint8)  # Atropos's class k (by k-means order) -> the label of its tissue
    for rank, k in enumerate(np.argsort(means)):
        relabel[k + 1] = TISSUES.index(CLASS_ORDER[contrast][rank]) + 1
    return relabel[classes]


def tissue_fidelity(
    truth: np.ndarray,
    volumes: dict[str, np.ndarray],
    brain: np.ndarray,
    spacing: Sequence[float],
    contrast: str = "t1",
) -> tuple[dict[str, dict[str, float]], dict[str, float]]:
    """Each volume's :func:`tissue_scores` against the truth's segmentation, and the truth's tissue volumes
    (millilitres), all segmented alike inside ``brain``."""
    if contrast not in CLASS_ORDER:
        raise MRISRError(f"unknown contrast {contrast!r} (one of {', '.join(CLASS_ORDER)})")
    voxel_ml = float(np.prod(spacing)) / 1000.0
    truth_labels = segment(truth, brain, spacing, contrast)
    truth_scores = tissue_scores(truth_labels, truth_labels, voxel_ml)
    truth_volumes = {key: value for key, value in truth_scores.items() if key.startswith("volume_ml_")}
    scores = {
        name: tissue_scores(segment(v, brain, spacing, contrast), truth_labels, voxel_ml) for name, v in volumes.items()
    }
    return scores, truth_volumes


def format_tissue_table(scores: dict[str, dict[str, float]]) -> str:
    """A plain-text table: Dice and volume error (%) per tissue, one row per method."""
    keys = [f"{kind}_{t}" for kind in ("dice", "volume_error") for t in TISSUES]
    header = f"{'method':<12}" + "".join(f"{k:>18}" for k in keys)
    rows = [header, "-" * len(header)]
    for name, s in scores.items():
        rows.append(
            f"{name:<12}" + "".join(f"{s[k]:>18.3f}" if k.startswith("dice") else f"{s[k]:>+18.2f}" for k in keys)
        )
    return "\n".join(rows)
