"""Running a network over a whole volume: slabs along the last axis with a halo, one window or MONAI's
sliding windows per slab, and the flip ensemble."""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterator, Sequence

import numpy as np
import torch
from tqdm import tqdm

from mrisr.acquisition.forward import is_integer_factor
from mrisr.inference.memory import HALO, WHOLE_SLAB_VOXELS
from mrisr.intensity import intensity_scale
from mrisr.models.generator import UnpairedSR
from mrisr.trust.spread import FLIPS, uncertainty_passes


def flip_ensemble(
    predict: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor, flips: int, plain: torch.Tensor | None = None
) -> torch.Tensor:
    """The mean of ``predict`` over the first ``flips`` flips of :data:`mrisr.trust.spread.FLIPS` of ``(B, C, D, H, W)``
    (flip, predict, flip back): the self-ensemble of EDSR+ and nnU-Net's test-time mirroring. The networks
    are not flip-equivariant, so their errors partly average out (the gain per model is in
    the table in docs/USER_GUIDE.md). ``plain``, the unflipped prediction when it is already made, is
    reused (and accumulated into in place) rather than computed again."""
    if not 1 <= flips <= len(FLIPS):
        raise ValueError(f"flips must be 1..{len(FLIPS)}, got {flips}")
    total = predict(x) if plain is None else plain
    for axes in FLIPS[1:flips]:
        dims = [2 + a for a in axes]
        total += predict(x.flip(dims)).flip(dims)
    return total.div_(flips)


def super_resolve_slabs(
    model: UnpairedSR,
    lr: np.ndarray,
    *,
    slab_depth: int | None = None,
    percentile: float = 99.9,
    roi_size: Sequence[int] = (32, 32, 32),
    whole_slab_voxels: int = WHOLE_SLAB_VOXELS,
    overlap: float = 0.25,
    sw_batch_size: int = 1,
    device: torch.device | str = "cpu",
    dtype: torch.dtype = torch.float32,
    progress: bool = False,
    passes: int = 1,
    flips: int = 1,
) -> Iterator[tuple[np.ndarray, np.ndarray | None]]:
    """Yield the SR of ``lr`` as consecutive slabs along the last axis, in the input's intensity units, each
    with its uncertainty slab when ``passes > 1`` (else ``None``).

    Each slab of ``slab_depth`` LR slices (all of them by default) is run with ``HALO`` slices of context
    on both sides by MONAI's Gaussian-blended sliding window, and the halo cropped off, so host memory
    is bounded by one slab. The input is normalised by its own ``percentile`` as in training. Windows
    run on ``device`` (under autocast when ``dtype`` is not float32); the output is accumulated in float32
    on the CPU, so GPU memory is bounded by one window batch. A model with ``whole_slabs = True`` (the
    planar one), or a slab of at most ``whole_slab_voxels`` LR voxels, is run as one window instead. The SR
    is the mean over ``flips`` flipped passes (:func:`flip_ensemble`; 1: the plain pass). The uncertainty is
    the spread over ``passes`` test-time passes (:func:`mrisr.trust.spread.uncertainty_passes`).
    """
    from monai.inferers import sliding_window_inference  # slow import, needed only here

    peak = intensity_scale(lr, percentile)
    depth = lr.shape[2]
    fz = model.scale[2]
    slab_depth = slab_depth if slab_depth and is_integer_factor(fz) else depth
    device = torch.device(device)

    def predictor(window: torch.Tensor) -> torch.Tensor:
        with torch.autocast(device.type, dtype=dtype, enabled=dtype != torch.float32):
            return model.super_resolve(window).float()

    def slab_sr(x: torch.Tensor) -> torch.Tensor:
        if model.whole_slabs or x[0, 0].numel() <= whole_slab_voxels:  # the slab itself
            return predictor(x.to(device)).cpu()
        return sliding_window_inference(
            x,
            roi_size=tuple(int(r) for r in roi_size),
            sw_batch_size=sw_batch_size,
            predictor=predictor,
            overlap=overlap,
            mode="gaussian",
            padding_mode="replicate",
            sw_device=device,
            device=torch.device("cpu"),
        )

    bar = tqdm(total=depth, unit="slice", desc="super-resolving", disable=not progress, leave=False)
    for z0 in range(0, depth, slab_depth):
        z1 = min(z0 + slab_depth, depth)
        a, b = max(0, z0 - HALO), min(depth, z1 + HALO)
        x = torch.from_numpy(np.ascontiguousarray(lr[:, :, a:b], dtype=np.float32) / peak)[None, None]
        keep = slice((z0 - a) * round(fz), (z1 - a) * round(fz)) if is_integer_factor(fz) else slice(None)
        with torch.inference_mode(), warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="Using a non-tuple sequence", category=UserWarning)  # MONAI
            plain, spread = uncertainty_passes(slab_sr, x, passes) if passes > 1 else (None, None)
            sr = flip_ensemble(slab_sr, x, flips, plain)  # the plain pass is made once, for both
            slab = sr[0, 0, :, :, keep].clamp_(min=0).mul_(peak).numpy()
            spread_slab = None if spread is None else spread[0, 0, :, :, keep].mul_(peak).numpy()
        del x, plain, sr, spread
        yield slab, spread_slab
        bar.update(z1 - z0)
    bar.close()


def super_resolve_array(model: UnpairedSR, lr: np.ndarray, **kwargs) -> np.ndarray:
    """LR array → SR array in one piece (options as :func:`super_resolve_slabs`)."""
    return np.concatenate([sr for sr, _ in super_resolve_slabs(model, lr, **kwargs)], axis=2)
