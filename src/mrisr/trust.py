"""What a user needs to trust an SR volume without a ground truth: where the network is unsure, how well
the SR explains the measured scan, and where it all came from.

- uncertainty: the map ``mrisr infer --uncertainty`` writes is learned from the scan's own pairs
  (:mod:`mrisr.errormap`, which uses :func:`local_noise_sigma`); the per-voxel spread of the SR over
  test-time passes (:func:`uncertainty_passes`: flipped inputs with their noise drawn again) is the map
  it replaced, kept to be compared with it (``benchmarks/trust.py``).
- consistency: the SR degraded by the model's own estimated acquisition, minus the input, on the LR grid
  (:class:`ConsistencyStream`, streamed slab by slab like the SR itself).
- provenance: the JSON sidecar (:func:`sidecar`), BIDS-derivative style."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from mrisr import __version__
from mrisr.acquisition.degradation import (
    acquire,
    acquire_axis,
    blur_decimate,
    default_fwhm,
    is_integer_factor,
    profile_weights,
)
from mrisr.metrics import psnr

FLIPS: tuple[tuple[int, ...], ...] = ((), (0,), (1,), (0, 1), (2,), (0, 2), (1, 2), (0, 1, 2))
"""Spatial axes flipped in each test-time pass; the first pass is the plain SR."""

POOL = 3
"""The spread of a few passes is a noisy estimate: its variance is pooled over POOL³ SR voxels (the ranking of
the errors it gives: ``benchmarks/trust.py``, results/REPORT.md "Trust maps")."""


def local_noise_sigma(x: torch.Tensor) -> torch.Tensor:
    """Per-voxel noise std of ``(B, 1, D, H, W)``: the RMS over 7³ of the residual from the 3³ mean, corrected
    for the residual's variance gain on white noise. Edges count as noise too: detail there is uncertain.

    An edge-blind estimate (the smallest per-axis RMS of second differences) was tried and ranked the
    errors worse on both panels of results/REPORT.md "Trust maps": they are largest at edges."""
    mean = F.avg_pool3d(F.pad(x, (1,) * 6, mode="replicate"), 3, stride=1)
    power = F.avg_pool3d(F.pad((x - mean) ** 2, (3,) * 6, mode="replicate"), 7, stride=1)
    return (power / (1 - 1 / 27)).sqrt()


def uncertainty_passes(
    predict: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor, passes: int, seed: int = 0
) -> tuple[torch.Tensor, torch.Tensor]:
    """The plain prediction of ``x`` (``(B, C, D, H, W)``) and the per-voxel standard deviation over ``passes``
    predictions: the plain one, then the flips of :data:`FLIPS`, each of ``x`` with its noise drawn again
    (Gaussian, :func:`local_noise_sigma`). The spread is what a rescan, or a network choice the data do not
    constrain, would change; its variance is pooled over :data:`POOL`³ voxels. Accumulated one pass at a
    time (Welford) to bound memory; seeded, so repeatable.
    """
    if not 1 <= passes <= len(FLIPS):
        raise ValueError(f"passes must be 1..{len(FLIPS)}, got {passes}")
    plain = predict(x)
    if passes == 1:
        return plain, torch.zeros_like(plain)
    generator = torch.Generator(device=x.device).manual_seed(seed)
    sigma = local_noise_sigma(x)
    mean, m2 = plain.clone(), torch.zeros_like(plain)
    for k, axes in enumerate(FLIPS[1:passes], start=2):
        dims = [2 + a for a in axes]
        noisy = x + sigma * torch.randn(x.shape, generator=generator, device=x.device, dtype=x.dtype)
        y = predict(noisy.flip(dims)).flip(dims)
        delta = y - mean
        mean += delta / k
        m2 += delta * (y - mean)
    pad = (POOL // 2,) * 6
    return plain, F.avg_pool3d(F.pad(m2 / passes, pad, mode="replicate"), POOL, stride=1).sqrt()


class ConsistencyStream:
    """The SR degraded by the slice profile + decimation (the training forward model,
    :func:`mrisr.acquisition.degradation.blur_decimate`, or :func:`~mrisr.acquisition.degradation.acquire`
    at non-integer factors), fed SR slabs along the last axis in order.

    In-slab axes are reduced as each slab arrives; the last axis waits in a small buffer until the kernel
    support of the next LR slices is in, so memory stays at about one slab (at a non-integer factor along
    the last axis the SR comes as one slab anyway). The result equals the forward model of the whole SR
    (edges replicated).
    """

    def __init__(
        self, lr_shape: Sequence[int], sr_shape: Sequence[int], fwhm: Sequence[float], shape: str = "gaussian"
    ) -> None:
        self.lr_shape, self.fwhm, self.shape = tuple(int(n) for n in lr_shape), tuple(float(w) for w in fwhm), shape
        factors = [m / n for m, n in zip(sr_shape, self.lr_shape)]
        self.scale = tuple(int(round(f)) if is_integer_factor(f) else f for f in factors)
        self.lr_depth = self.lr_shape[2]
        f, w = self.scale[2], self.fwhm[2]
        self.weights, self.radius = np.ones(1), 0  # an axis left alone by blur_decimate
        if isinstance(f, int) and (f > 1 or w > 0):
            along = shape if f > 1 else "gaussian"
            weights, self.radius = profile_weights(f, torch.tensor(w, dtype=torch.float64), along)
            self.weights = weights.numpy()
        self.buffer: np.ndarray | None = None
        self.start = 0  # HR index of the buffer's first slice (negative while it holds the edge padding)
        self.done: list[np.ndarray] = []

    def add(self, sr_slab: np.ndarray) -> None:
        """Take the next SR slab (HR slices along the last axis)."""
        if all(isinstance(f, int) for f in self.scale[:2]):
            x = torch.from_numpy(np.asarray(sr_slab, dtype=np.float64))[None, None]
            fwhm = torch.tensor((*self.fwhm[:2], 0.0), dtype=torch.float64)
            partial = blur_decimate(x, (*self.scale[:2], 1), fwhm, self.shape)[0, 0].numpy()
        else:
            in_slab = (*self.lr_shape[:2], sr_slab.shape[2])
            partial = acquire(sr_slab, (*self.scale[:2], 1), (*self.fwhm[:2], 0.0), in_slab).astype(np.float64)
        if not isinstance(self.scale[2], int):  # one slab: the whole SR
            self.done.append(acquire_axis(partial, 2, self.scale[2], self.fwhm[2], self.lr_depth))
            return
        if self.buffer is None:
            self.buffer, self.start = np.repeat(partial[..., :1], self.radius, axis=2), -self.radius
        self.buffer = np.concatenate([self.buffer, partial], axis=2)
        self._emit()

    def finish(self) -> np.ndarray:
        """The degraded SR on the LR grid, once every slab is in."""
        if not isinstance(self.scale[2], int):
            return np.concatenate(self.done, axis=2).astype(np.float32)
        self.buffer = np.concatenate([self.buffer, np.repeat(self.buffer[..., -1:], self.radius, axis=2)], axis=2)
        self._emit()
        out = np.concatenate(self.done, axis=2).astype(np.float32)
        if out.shape[2] != self.lr_depth:
            raise ValueError(f"the SR slabs made {out.shape[2]} LR slices, not {self.lr_depth}")
        return out

    def _emit(self) -> None:
        """Every LR slice whose kernel support is now in the buffer; drop what no later slice needs."""
        f, n = self.scale[2], len(self.weights)
        j = sum(s.shape[2] for s in self.done)
        slices = []
        while j < self.lr_depth and f * j - self.radius + n - self.start <= self.buffer.shape[2]:
            first = f * j - self.radius - self.start
            slices.append(self.buffer[..., first : first + n] @ self.weights)
            j += 1
        if slices:
            self.done.append(np.stack(slices, axis=2))
        keep_from = f * j - self.radius - self.start
        self.buffer, self.start = self.buffer[..., keep_from:], self.start + keep_from


def model_fwhm(meta: dict[str, Any]) -> tuple[tuple[float, float, float], str]:
    """The slice profile (HR voxels) a checkpoint trained with, and where it came from."""
    acquisition = meta.get("acquisition")
    if acquisition:
        return tuple(acquisition["fwhm_hr_voxels"]), acquisition["fwhm_source"]
    fixed = meta["config"]["model"].get("fixed_fwhm")
    if fixed:
        return tuple(fixed), "fixed (config)"
    return default_fwhm(meta["scale"]), "nominal (a slice as thick as its spacing)"


def model_profile_shape(meta: dict[str, Any]) -> str:
    """The slice-profile shape a checkpoint trained with (``"gaussian"`` for checkpoints from before shapes)."""
    shape = meta["config"]["model"].get("profile_shape", "gaussian")
    return "gaussian" if shape == "auto" else shape


def consistency_summary(degraded: np.ndarray, lr: np.ndarray, peak: float, head: np.ndarray) -> dict[str, float]:
    """PSNR of the degraded SR against the input, and mean |residual| in the ``head`` mask, in units of the
    input's ``peak`` (its intensity-normalisation percentile)."""
    residual = np.abs(degraded - lr)[head] / peak
    return {
        "psnr": round(psnr(degraded / peak, lr / peak), 3),
        "mean_abs_residual_head": round(float(residual.mean()), 5) if residual.size else None,  # no head found
    }


def nearest_index(n_out: int, n_in: int) -> np.ndarray:
    """For each of ``n_out`` voxels over a field of view, the index of the one of ``n_in`` that holds its centre."""
    return np.minimum(((np.arange(n_out) + 0.5) * n_in / n_out).astype(int), n_in - 1)


class HeadMean:
    """Running mean of SR-grid slabs (in order along the last axis) inside the input's head mask."""

    def __init__(self, lr_head: np.ndarray, sr_shape: Sequence[int]) -> None:
        self.index = [nearest_index(m, n) for m, n in zip(sr_shape, lr_head.shape)]
        self.head = lr_head[np.ix_(self.index[0], self.index[1], np.arange(lr_head.shape[2]))]
        self.z, self.total, self.count = 0, 0.0, 0

    def add(self, slab: np.ndarray) -> None:
        head = self.head[:, :, self.index[2][self.z : self.z + slab.shape[2]]]
        self.total += float(slab[head].sum())
        self.count += int(head.sum())
        self.z += slab.shape[2]

    def mean(self) -> float:
        return self.total / max(self.count, 1)


def file_sha256(path: str | Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(2**20), b""):
            digest.update(block)
    return digest.hexdigest()


@dataclass(frozen=True)
class Provenance:
    """Where a run of ``mrisr infer`` comes from: the model and how it ran (the same for every input)."""

    model_path: Path
    meta: dict[str, Any]  # the checkpoint's metadata (mrisr.checkpoint.load_model)
    command: str | None  # the command line, as typed
    precision: str
    device: str


def sidecar(
    source: str | Path,
    provenance: Provenance,
    *,
    flips: int = 1,
    uncertainty: dict[str, Any] | None = None,
    consistency: dict[str, Any] | None = None,
    geometry: dict[str, Any] | None = None,
    extra: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The JSON sidecar of one SR volume: sources, software, model, factors, the degradation, the flipped passes
    averaged into the SR (``flips``), the maps, and the caller's ``extra`` entries (which win)."""
    meta = provenance.meta
    acquisition = meta.get("acquisition") or {}
    fwhm, fwhm_source = model_fwhm(meta)
    record: dict[str, Any] = {
        "Description": "super-resolved by mrisr (unpaired MRI super-resolution)",
        "Sources": [str(Path(source).resolve())],
        "GeneratedBy": [{"Name": "mrisr", "Version": __version__, "Command": provenance.command}],
        "Model": {
            "Path": str(Path(provenance.model_path).resolve()),
            "SHA256": file_sha256(provenance.model_path),
            "WeightsSHA256": meta["weights_sha256"],
            "Architecture": meta["config"]["model"]["architecture"],
            "TrainingSteps": meta.get("step"),
        },
        "Scale": list(meta["scale"]),
        "Geometry": geometry,
        "Degradation": {
            "FWHMHRVoxels": [round(float(w), 3) for w in fwhm],
            "FWHMmm": acquisition.get("fwhm_mm"),
            "FWHMSource": fwhm_source,
            "ProfileShape": model_profile_shape(meta),
            "NoiseSigma": acquisition.get("noise_sigma", meta.get("noise_sigmas")),
            "NoiseSigmaSource": acquisition.get("noise_sigma_note"),
            "Warnings": acquisition.get("warnings", []),
        },
        "Precision": provenance.precision,
        "Device": provenance.device,
        "FlipEnsemble": flips,
    }
    if uncertainty is not None:
        record["Uncertainty"] = uncertainty
    if consistency is not None:
        record["Consistency"] = consistency
    return {**record, **(extra or {})}
