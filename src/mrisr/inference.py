"""Super-resolve whole volumes patch-wise, with bounded memory and exact output geometry."""

from __future__ import annotations

import dataclasses
import json
import warnings
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from mrisr import MRISRError
from mrisr.acquisition.degradation import is_integer_factor
from mrisr.acquisition.geometry import find_slice_axis, scan_geometry
from mrisr.console import log
from mrisr.data import foreground_mask, intensity_scale
from mrisr.errormap import ERROR_MAP_METHOD, FEATURES, self_calibrated_map
from mrisr.io import NiftiStream, atomic_files, check_output_path, load_volume, refine_affine
from mrisr.models import UnpairedSR
from mrisr.trust import (
    FLIPS,
    ConsistencyStream,
    HeadMean,
    Provenance,
    consistency_summary,
    model_fwhm,
    model_profile_shape,
    sidecar,
    uncertainty_passes,
)

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
"""Output-sized float32 buffers of the uncertainty map (:func:`mrisr.errormap.self_calibrated_map`): the
whole SR, its normalised copy, one column per feature, about four temporaries while a column is made
(cubic interpolation, a derivative and its sum, a smoothing), the prediction and the map; while the 3D
model's cycle pair is made, its truth (a copy of the SR) and its SR. The other self-pairs are the input's
size or smaller, and the pairs' kept features are bounded (:data:`mrisr.errormap.PAIR_VOXELS`). Counted,
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
            f"above the limit of {limit_gb:g} GiB (raise max_memory_gb, or crop the volume)"
        )
    return depth


def flip_ensemble(
    predict: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor, flips: int, plain: torch.Tensor | None = None
) -> torch.Tensor:
    """The mean of ``predict`` over the first ``flips`` flips of :data:`mrisr.trust.FLIPS` of ``(B, C, D, H, W)``
    (flip, predict, flip back): the self-ensemble of EDSR+ and nnU-Net's test-time mirroring. The networks
    are not flip-equivariant, so their errors partly average out (+0.1 dB inside the head for 4 flips on
    the demo's model; README, Usage). ``plain``, the unflipped prediction when it is already made, is
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
    the spread over ``passes`` test-time passes (:func:`mrisr.trust.uncertainty_passes`).
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
        if getattr(model, "whole_slabs", False) or x[0, 0].numel() <= whole_slab_voxels:  # the slab itself
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


@dataclass(frozen=True)
class Companions:
    """What is written beside an SR volume, together with it (:func:`mrisr.io.atomic_files`): the trust
    maps asked for and, with a provenance, the JSON sidecar (:mod:`mrisr.trust`)."""

    uncertainty: Path | None = None  # the std of the SR's error, learned from the scan (mrisr.errormap)
    consistency: Path | None = None  # degrade(SR) - input, on the input's grid
    provenance: Provenance | None = None

    def __post_init__(self) -> None:
        if (self.consistency or self.uncertainty) and self.provenance is None:
            raise ValueError("the trust maps need the model's provenance: its acquisition is the forward model")

    def for_input(self, input_path: Path) -> Companions:
        """The companions of one input of a folder run, where the map paths name folders: one map of each kind
        per input in them."""
        return dataclasses.replace(
            self,
            uncertainty=self.uncertainty / output_name(input_path, "_uncertainty") if self.uncertainty else None,
            consistency=self.consistency / output_name(input_path, "_consistency") if self.consistency else None,
        )


def super_resolve_file(
    model: UnpairedSR,
    input_path: str | Path,
    output_path: str | Path,
    *,
    companions: Companions = Companions(),
    percentile: float = 99.9,
    overwrite: bool = False,
    volume_index: int | None = None,
    device: torch.device | str = "cpu",
    dtype: torch.dtype = torch.float32,
    progress: bool = False,
    max_memory_gb: float = 4.0,
    allow_nonfinite: bool = False,
    flips: int = 1,
    sidecar_extra: dict | None = None,
) -> Path:
    """Read a NIfTI, super-resolve it slab by slab straight into the output file, with ``A_out = A_in @ S``
    and the header kept; host memory stays under ``max_memory_gb`` whatever the volume's size. The SR is
    the mean over ``flips`` flipped passes (:func:`flip_ensemble`).

    The ``companions`` (maps, sidecar with ``sidecar_extra`` added) are streamed beside it; the output and
    its companions appear under their names together, or not at all.
    """
    c = companions
    out = check_output_path(output_path, overwrite=overwrite)
    sidecar_path = out.parent / output_name(out, "", ".json") if c.provenance else None
    named = {"sr": out, "uncertainty": c.uncertainty, "consistency": c.consistency, "sidecar": sidecar_path}
    named = {k: check_output_path(v, overwrite=overwrite) for k, v in named.items() if v is not None}
    if len(set(named.values())) < len(named):
        raise MRISRError(f"{out}: the output, its maps and its sidecar need different names")
    volume = load_volume(input_path, volume_index=volume_index, allow_nonfinite=allow_nonfinite)
    model = fit_to_scan(model, volume.zooms, str(input_path), c.provenance.meta if c.provenance else None)
    lr, scale = volume.data, model.scale
    maps = map_buffers(c.consistency is not None, flips)
    volumes = ERROR_MAP_VOLUMES if c.uncertainty else 0
    slab_depth = check_memory(lr.shape, scale, max_memory_gb, str(input_path), maps, volumes)
    sr_shape = output_shape(lr.shape, scale)
    sr_affine = refine_affine(volume.affine, [m / n for m, n in zip(sr_shape, lr.shape)])
    run = {"percentile": percentile, "device": device, "dtype": dtype, "flips": flips}
    run["whole_slab_voxels"] = one_window_voxels(lr.shape, scale, slab_depth, max_memory_gb, maps, volumes)
    slabs = super_resolve_slabs(model, lr, slab_depth=slab_depth, progress=progress, **run)
    if c.uncertainty or c.consistency:  # the maps' summaries are taken in the input's head
        peak = intensity_scale(lr, percentile)
        head = foreground_mask(lr / peak)
    whole = np.empty(sr_shape, np.float32) if c.uncertainty else None  # the error map's features need it all
    meta = c.provenance.meta if c.provenance else None
    fwhm, shape = served_profile(meta, scale) if meta else (None, None)
    degraded = ConsistencyStream(lr.shape, sr_shape, fwhm, shape) if c.consistency else None
    with atomic_files(list(named.values())) as tmp_list:
        tmp = dict(zip(named, tmp_list))
        with NiftiStream(tmp["sr"], sr_shape, sr_affine, volume.header) as sr_file:
            z = 0
            for sr, _ in slabs:
                sr_file.write(sr)
                if whole is not None:
                    whole[:, :, z : z + sr.shape[2]] = sr
                z += sr.shape[2]
                if degraded is not None:
                    degraded.add(sr)
        summaries = {}
        if c.uncertainty:

            def pair_sr(pair_model: torch.nn.Module, pair_lr: np.ndarray) -> np.ndarray:
                return super_resolve_array(pair_model, pair_lr, **run)

            uncertainty, fitted = self_calibrated_map(model, lr, whole, fwhm, shape, pair_sr, peak)
            del whole
            with NiftiStream(tmp["uncertainty"], sr_shape, sr_affine, volume.header) as map_file:
                map_file.write(uncertainty)
            mean_head = HeadMean(head, sr_shape)
            mean_head.add(uncertainty)
            summaries["uncertainty"] = {
                "Path": str(c.uncertainty),
                "Method": ERROR_MAP_METHOD,
                "MeanHead": round(mean_head.mean() / peak, 5),
                "Calibration": fitted.record(),
            }
        if degraded is not None:
            estimate = degraded.finish()
            with NiftiStream(tmp["consistency"], lr.shape, volume.affine, volume.header) as map_file:
                map_file.write(estimate - lr)
            summaries["consistency"] = {"Path": str(c.consistency), **consistency_summary(estimate, lr, peak, head)}
        if c.provenance:
            geometry = output_geometry(input_path, volume.zooms, sr_shape, lr.shape)
            record = sidecar(input_path, c.provenance, flips=flips, geometry=geometry, extra=sidecar_extra, **summaries)
            Path(tmp["sidecar"]).write_text(json.dumps(record, indent=2) + "\n")
    return out


FACTOR_TOLERANCE = 0.05
"""How far a scan's slice spacing over the model's SR spacing may lie from the factor the model learned."""


def fit_to_scan(model: torch.nn.Module, zooms: Sequence[float], path: str, meta: dict | None = None) -> torch.nn.Module:
    """The model turned to the scan's slice axis (a planar model trained on axial slices serves a coronal scan),
    or a clear error when the scan's slices are not the ones it learned (``meta``: the checkpoint's, for its
    SR spacing)."""
    axis = find_slice_axis(zooms)
    if not hasattr(model, "oriented") or axis is None:
        return model
    factor = model.scale[model.slice_axis]
    sr_mm = ((meta or {}).get("acquisition") or {}).get("sr_voxel_mm")
    if sr_mm is not None:
        wanted = zooms[axis] / sr_mm[model.slice_axis]
        if abs(wanted - factor) > FACTOR_TOLERANCE * factor:
            raise MRISRError(
                f"{path}: slices every {zooms[axis]:.3g} mm, but the model super-resolves slices every "
                f"{factor * sr_mm[model.slice_axis]:.3g} mm to {sr_mm[model.slice_axis]:.3g} mm; train a model "
                "on scans of this protocol"
            )
    return model.oriented(axis)


def served_profile(meta: dict, scale: Sequence[float]) -> tuple[tuple[float, ...], str]:
    """The slice profile of the model of checkpoint ``meta`` on a scan of factors ``scale``: the FWHM per axis
    (a planar model's moved to the axis it now serves, :func:`profile_on_axis`) and its shape."""
    return profile_on_axis(model_fwhm(meta)[0], meta["scale"], scale), model_profile_shape(meta)


def profile_on_axis(fwhm: Sequence[float], trained_scale: Sequence[float], scale: Sequence[float]) -> tuple[float, ...]:
    """A planar model's slice profile per axis moved to the axis it now serves (``scale``'s coarse axis)."""
    if list(trained_scale) == list(scale) or sum(f > 1 for f in scale) != 1:
        return tuple(fwhm)
    source = next(a for a, f in enumerate(trained_scale) if f > 1)
    target = next(a for a, f in enumerate(scale) if f > 1)
    moved = [0.0, 0.0, 0.0]
    moved[target] = float(fwhm[source])
    return tuple(moved)


def output_geometry(
    input_path: str | Path, zooms: Sequence[float], sr_shape: Sequence[int], lr_shape: Sequence[int]
) -> dict:
    """The sidecar's record of the geometry: the input's voxels, slice axis and thickness (with where it came
    from), the factor per axis and the SR's voxels."""
    scan = scan_geometry(input_path)
    factors = [m / n for m, n in zip(sr_shape, lr_shape)]
    return {
        "InputVoxelmm": [round(float(z), 4) for z in zooms],
        "SliceAxis": scan.slice_axis,
        "SliceThicknessmm": scan.thickness,
        "SliceThicknessSource": scan.thickness_source,
        "Factors": [round(f, 6) for f in factors],
        "OutputVoxelmm": [round(float(z) / f, 4) for z, f in zip(zooms, factors)],
        "OutputShape": [int(n) for n in sr_shape],
    }


@dataclass
class BatchReport:
    """What a run over many volumes did: outputs written, outputs already there, and failures."""

    done: list[Path] = field(default_factory=list)
    skipped: list[Path] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)

    def summary(self) -> str:
        total = len(self.done) + len(self.skipped) + len(self.failed)
        return f"{len(self.done)} of {total} volumes done, {len(self.skipped)} skipped, {len(self.failed)} failed"


def super_resolve_files(
    model: UnpairedSR,
    inputs: Sequence[Path],
    output_dir: Path,
    *,
    companions: Companions = Companions(),
    skip_existing: bool = False,
    overwrite: bool = False,
    **kwargs,
) -> BatchReport:
    """Super-resolve many volumes into ``output_dir``; a bad file is recorded and the run goes on. The maps
    of ``companions`` name folders here: one map of each kind per input."""
    report = BatchReport()
    for path in inputs:
        target = Path(output_dir) / output_name(Path(path))
        if skip_existing and target.exists():
            report.skipped.append(target)
            continue
        try:
            mine = companions.for_input(Path(path))
            report.done.append(super_resolve_file(model, path, target, companions=mine, overwrite=overwrite, **kwargs))
        except MRISRError as err:
            report.failed.append(str(err))
            log.error(str(err))
    return report


def select_shard(inputs: Sequence[Path], shard: str) -> list[Path]:
    """Files ``i, i+n, i+2n, …`` of the list for ``shard = "i/n"`` (0-based), e.g. a Slurm array task's share."""
    index, sep, count = shard.partition("/")
    if not (sep and index.isdigit() and count.isdigit() and 0 <= int(index) < int(count)):
        raise MRISRError(f"--shard {shard}: expected i/n with 0 <= i < n, e.g. 0/4")
    return list(inputs[int(index) :: int(count)])


def output_name(input_path: Path, suffix: str = "_sr", extension: str = ".nii.gz") -> str:
    """``sub-01_T1w.nii.gz`` → ``sub-01_T1w_sr.nii.gz`` (or another suffix and extension)."""
    name = input_path.name
    stem = name[: -len(".nii.gz")] if name.endswith(".nii.gz") else name.removesuffix(".nii")
    return f"{stem}{suffix}{extension}"
