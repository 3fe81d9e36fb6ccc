"""The memory plan of a super-resolution: how many input slices a slab may hold within a bound on host
memory, and a clear refusal, before any work, when none fits."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from mrisr import MRISRError
from mrisr.acquisition.forward import is_integer_factor
from mrisr.trust.features import FEATURES

HALO = 8
"""LR voxels of context added on each side of a slab, so that slab seams look like window seams."""


MIN_SLAB = 8
"""The thinnest slab worth running: thinner ones spend most of their time on the halo."""


RUNTIME_BYTES = 0.75 * 2**30
"""Resident memory of the interpreter, PyTorch, MONAI and the model before any volume is read."""


WHOLE_SLAB_VOXELS = 2**20
"""The 3D model runs a slab (with its halo) of up to this many LR voxels as one window, not as 32³ sliding
windows, whose quarter overlaps and border padding compute a Colin27 2×2×2 scan about three times over,
when the memory plan leaves room for it (:data:`WINDOW_BYTES_PER_VOXEL`)."""


WINDOW_BYTES_PER_VOXEL = 4 * (3 * 32 + 4 * 8)
"""Memory of a window per LR voxel: three feature maps of 32 channels and four SR-sized temporaries at 2×2×2
(counted, not measured)."""


def output_shape(shape: Sequence[int], scale: Sequence[float]) -> tuple[int, int, int]:
    """The SR's shape: ``round(n * f)`` voxels per axis over the input's field of view."""
    return tuple(int(round(n * float(f))) for n, f in zip(shape, scale))


def memory_needed(
    shape: Sequence[int], scale: Sequence[float], slab_depth: int, maps: int = 0, volumes: int = 0
) -> float:
    """Bytes of host memory to super-resolve ``shape`` in slabs of ``slab_depth`` LR slices.

    Counted: the runtime (``RUNTIME_BYTES``), the input twice (read, converted), ``volumes`` float32
    buffers of the whole output's size (the error map's, :data:`ERROR_MAP_VOLUMES`) and, per slab with its
    halo, four float32 buffers of the output's size (MONAI's accumulator and weight map, the clamped
    result, the bytes written) and ``maps`` more (the trust maps' accumulators, :func:`map_buffers`).
    """
    per_slice = (4 + maps) * 4 * int(np.prod(shape[:2])) * float(np.prod(np.ceil(np.asarray(scale, float))))
    whole = volumes * 4 * float(np.prod(output_shape(shape, scale)))
    return RUNTIME_BYTES + 2 * 4 * int(np.prod(shape)) + whole + per_slice * (slab_depth + 2 * HALO)


ERROR_MAP_VOLUMES = len(FEATURES) + 10
"""Output-sized float32 buffers of the uncertainty map (:func:`mrisr.trust.uncertainty.self_calibrated_map`): the
whole SR, its normalised copy, one column per feature, about four temporaries while a column is made
(cubic interpolation, a derivative and its sum, a smoothing), the prediction and the map; while the 3D
model's cycle pair is made, its truth (a copy of the SR) and its SR. The other self-pairs are the input's
size or smaller, and the pairs' kept features are bounded (:data:`mrisr.trust.errornet.PAIR_VOXELS`). Counted,
not measured."""


def map_buffers(consistency: bool, flips: int = 1) -> int:
    """Extra slab-sized float32 buffers: the consistency's float64 slab and its in-plane blur (6); a flip
    ensemble keeps its sum beside each pass (2). Counted, not measured on their own."""
    return 6 * consistency + 2 * (flips > 1)


def plan_slab_depth(
    shape: Sequence[int], scale: Sequence[float], limit_bytes: float, maps: int = 0, volumes: int = 0
) -> int:
    """The most LR slices per slab (along the last axis) that fit in ``limit_bytes``, or 0 if none does. A
    non-integer factor along that axis takes the whole volume in one slab (its SR voxels do not split into
    whole slabs)."""
    fixed = memory_needed(shape, scale, 0, maps, volumes)
    per_slice = memory_needed(shape, scale, 1, maps, volumes) - fixed
    depth = int((limit_bytes - fixed) // per_slice)
    return min(depth, int(shape[2])) if depth >= thinnest_slab(shape, scale) else 0


def one_window_voxels(
    shape: Sequence[int], scale: Sequence[float], slab_depth: int, limit_gb: float, maps: int = 0, volumes: int = 0
) -> int:
    """The largest slab, in LR voxels, to run as one window: up to :data:`WHOLE_SLAB_VOXELS`, within what the
    plan of ``slab_depth`` leaves of ``limit_gb``."""
    spare = limit_gb * 2**30 - memory_needed(shape, scale, slab_depth, maps, volumes)
    return int(min(WHOLE_SLAB_VOXELS, max(spare, 0) // WINDOW_BYTES_PER_VOXEL))


def thinnest_slab(shape: Sequence[int], scale: Sequence[float]) -> int:
    """The fewest LR slices a slab may hold: :data:`MIN_SLAB`, or all of them at a non-integer last factor."""
    return min(MIN_SLAB, int(shape[2])) if is_integer_factor(scale[2]) else int(shape[2])


def check_memory(
    shape: Sequence[int], scale: Sequence[float], limit_gb: float, path: str, maps: int = 0, volumes: int = 0
) -> int:
    """The slab depth to use; refuses, before any work, a volume whose SR cannot fit in ``limit_gb``."""
    depth = plan_slab_depth(shape, scale, limit_gb * 2**30, maps, volumes)
    if depth == 0:
        need = memory_needed(shape, scale, thinnest_slab(shape, scale), maps, volumes) / 2**30
        raise MRISRError(
            f"{path}: super-resolving shape {tuple(shape)} by {tuple(scale)} needs at least {need:.1f} GiB, "
            f"above the limit of {limit_gb:g} GiB (raise --max-memory-gb, or crop the volume)"
        )
    return depth
