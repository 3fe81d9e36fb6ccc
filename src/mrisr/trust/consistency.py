"""The consistency map: the SR degraded by the model's own estimated acquisition, minus the input, on the
input's grid, streamed slab by slab like the SR itself; and the head means the sidecar reports."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from mrisr.acquisition.forward import acquire, acquire_axis, blur_decimate, is_integer_factor, profile_weights
from mrisr.acquisition.model import Acquisition
from mrisr.metrics import psnr


class ConsistencyStream:
    """The SR degraded by the slice profile + decimation (the training forward model,
    :func:`mrisr.acquisition.forward.blur_decimate`, or :func:`~mrisr.acquisition.forward.acquire`
    at non-integer factors), fed SR slabs along the last axis in order.

    In-slab axes are reduced as each slab arrives; the last axis waits in a small buffer until the kernel
    support of the next LR slices is in, so memory stays at about one slab (at a non-integer factor along
    the last axis the SR comes as one slab anyway). The result equals the forward model of the whole SR
    (edges replicated).
    """

    def __init__(self, lr_shape: Sequence[int], sr_shape: Sequence[int], acquisition: Acquisition) -> None:
        self.lr_shape = tuple(int(n) for n in lr_shape)
        self.fwhm, self.shape = acquisition.fwhm, acquisition.shape
        factors = [m / n for m, n in zip(sr_shape, self.lr_shape)]
        self.scale = tuple(int(round(f)) if is_integer_factor(f) else f for f in factors)
        self.lr_depth = self.lr_shape[2]
        f, w = self.scale[2], self.fwhm[2]
        self.weights, self.radius = np.ones(1), 0  # an axis left alone by blur_decimate
        if isinstance(f, int) and (f > 1 or w > 0):
            along = self.shape if f > 1 else "gaussian"
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
