"""``mrisr evaluate`` and ``mrisr simulate``: score volumes against a truth, and make a low-resolution scan."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from mrisr import MRISRError
from mrisr.acquisition.forward import SimulationParams, sample_params
from mrisr.acquisition.simulate import simulate
from mrisr.console import log
from mrisr.evaluation import baseline_volumes, evaluate, format_table, write_metrics
from mrisr.io import check_output_path, load_volume, save_volume
from mrisr.tissues import format_tissue_table, require_segmenter, tissue_fidelity


def evaluate_files(
    truth: str,
    predictions: Sequence[str],
    *,
    lr: str | None = None,
    mask: str | None = None,
    degradation: str = "gaussian",
    tissues: bool = False,
    brain_mask: str | None = None,
    tissue_contrast: str = "t1",
    out: str | None = None,
    overwrite: bool = False,
) -> dict[str, dict[str, float]]:
    """PSNR/SSIM of each ``[NAME=]FILE`` of ``predictions`` against ``truth`` (with interpolation baselines and
    data consistency when ``lr`` is given), printed as a table and written to ``out`` as JSON.

    ``tissues`` adds, for every method, what a segmentation sees inside ``brain_mask`` (:mod:`mrisr.tissues`);
    ``mask`` (the head) bounds the foreground PSNR/SSIM only."""
    target = check_output_path(out, overwrite=overwrite) if out else None
    if tissues:
        require_segmenter()
        if brain_mask is None:
            raise MRISRError("--tissues needs --brain-mask: a brain mask on the truth's grid")
    named = {}
    for item in predictions:
        name, sep, path = item.partition("=")
        if not sep:
            name, path = "mrisr", item
        named[name] = load_volume(path).data
    lr_volume = load_volume(lr) if lr else None
    head = load_volume(mask).data > 0 if mask else None
    truth_volume = load_volume(truth)
    brain = load_volume(brain_mask).data > 0 if tissues else None
    if brain is not None and brain.shape != truth_volume.data.shape:  # refused before any scoring
        raise MRISRError(f"{brain_mask}: shape {brain.shape} differs from the truth's {truth_volume.data.shape}")
    if lr_volume is not None:  # the baselines made once, scored and (with tissues) segmented
        named = {**baseline_volumes(lr_volume, truth_volume), **named}
    results = evaluate(truth_volume, named, lr=lr_volume, mask=head, degradation=degradation, baselines=False)
    print(format_table(results))
    if brain is not None:
        scores, truth_ml = tissue_fidelity(truth_volume.data, named, brain, truth_volume.zooms, tissue_contrast)
        for name, tissue in scores.items():
            results[name].update(tissue)
        print(format_tissue_table(scores))
        log.info("truth's tissue volumes: " + ", ".join(f"{k[10:]} {v:.1f} ml" for k, v in truth_ml.items()))
    if target:
        write_metrics(target, results)
        log.info(f"metrics written to {target}")
    return results


def simulate_file(
    source: str,
    output: str,
    *,
    scale: Sequence[int],
    kind: str = "gaussian",
    fwhm: Sequence[float] | None = None,
    noise: float = 0.0,
    random: bool = False,
    seed: int = 0,
    volume_index: int | None = None,
    overwrite: bool = False,
) -> Path:
    """A low-resolution NIfTI acquired from ``source`` as the parameters say (or drawn at random), written in
    the input's intensity units."""
    out = check_output_path(output, overwrite=overwrite)
    volume = load_volume(source, volume_index=volume_index)
    if random:
        rng = np.random.default_rng(seed)
        ranges = {"fwhm_range": (0.75, 1.5), "noise_range": (0.0, 0.05), "bias_strength": 0.2}
        params = sample_params(rng, scale, kind=kind, **ranges)
    else:
        params = SimulationParams(scale=tuple(scale), kind=kind, fwhm=fwhm, noise_sigma=noise, noise_seed=seed)
    simulation = simulate(volume, params)
    lr = simulation.lr
    save_volume(out, lr.data * simulation.peak, lr.affine, lr.header)
    log.info(f"{source} -> {out}  ({params})")
    return out
