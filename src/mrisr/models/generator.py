"""The unpaired SR generator of Li et al. 2023 (arXiv 2310.15767, Fig. 1), built on UDEAN (2205.06891).

Paper symbols and their names here:

============================  =======================  ================================================
paper                         here                     what it is
============================  =======================  ================================================
``Y_s``                       ``hr``                   a high-resolution source patch (other subjects)
``X_t``                       ``lr``                   a real low-resolution target patch
``E_HR``, ``f_s``             ``hr_encoder``           HR image → features on the LR grid
``E_LR``, ``f_t``             ``lr_encoder``           LR image → features on the LR grid
``D_SR``, ``Ŷ``               ``sr_decoder``           features → HR image
``D_LR``, ``X̂``               ``lr_decoder``           features → LR image
``X_{s~t}``                   ``degrade(hr)``          the HR source degraded like the target (learned)
``f_{s~t~s}``, ``Y_{s~t~s}``  the cycle                ``lr_encoder(X_{s~t})`` and its SR
``Ŷ_t``                       ``super_resolve(lr)``    inference: ``sr_decoder(lr_encoder(X_t))``
============================  =======================  ================================================

Both decoders are residual on an image of their output grid, with zero-initialised heads, so training
starts from cubic B-spline interpolation (SR; the paper's model: trilinear) and from a plain downsampling
(degradation) rather than from noise. The learned degradation ``X_{s~t}`` is one of (``degradation=``):

- ``"free"``: the paper's ``D_LR(f_s)``, residual on a block average;
- ``"physics"``: a slice profile per axis + decimation (:class:`SliceProfile`: a learnable or estimated
  Gaussian, or the sinc of k-space truncation), nothing
  else, so it cannot change contrast; this model has no ``D_LR`` (and trains no ``X̂_t``: a zero-initialised
  head reproduces the LR at once, so that loss taught nothing);
- ``"hybrid"``: ``D_LR(f_s)`` residual on the learnable slice profile.

All three end with Rician noise of the level measured in the target's air (docs/METHOD.md §8: a deterministic
decoder cannot produce random noise, and without noise the SR never learns to denoise). With
``contrast=True`` the HR source is first mapped to the target's contrast by a learnable monotone curve
(:class:`IntensityTransfer`): ``X_{s~t} = noise(blur(c(Y_s)))``, and the cycle's target is ``c(Y_s)``.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from scipy import ndimage
from torch import nn

from mrisr.acquisition.forward import blur_decimate, max_fwhm
from mrisr.acquisition.noise import rician
from mrisr.config import DEGRADATION_MODELS, UPSAMPLERS, Config
from mrisr.models.blocks import ResidualBlock, pixel_shuffle_3d, zero_init
from mrisr.models.network import SRNetwork


class HREncoder(nn.Module):
    """``E_HR``: a patchifying conv (kernel = stride = scale) then residual blocks, output on the LR grid."""

    def __init__(self, scale: Sequence[int], width: int, blocks: int) -> None:
        super().__init__()
        self.stem = nn.Conv3d(1, width, kernel_size=tuple(scale), stride=tuple(scale))
        self.blocks = nn.Sequential(*[ResidualBlock(width) for _ in range(blocks)])

    def forward(self, hr: torch.Tensor) -> torch.Tensor:
        return self.blocks(self.stem(hr))


class LREncoder(nn.Module):
    """``E_LR``: a 3×3×3 conv then residual blocks, at the LR resolution."""

    def __init__(self, width: int, blocks: int) -> None:
        super().__init__()
        self.stem = nn.Conv3d(1, width, 3, padding=1)
        self.blocks = nn.Sequential(*[ResidualBlock(width) for _ in range(blocks)])

    def forward(self, lr: torch.Tensor) -> torch.Tensor:
        return self.blocks(self.stem(lr))


class SRDecoder(nn.Module):
    """``D_SR``: residual blocks, conv to ``prod(scale)`` channels, 3D pixel shuffle, plus the base image
    interpolated by ``upsampler`` (``"cubic"``, :func:`cubic_upsample`, or ``"trilinear"``, the paper's)."""

    def __init__(self, scale: Sequence[int], width: int, blocks: int, upsampler: str = "cubic") -> None:
        super().__init__()
        if upsampler not in UPSAMPLERS:
            raise ValueError(f"upsampler must be one of {UPSAMPLERS}, got {upsampler!r}")
        self.scale = tuple(scale)
        self.interpolate = cubic_upsample if upsampler == "cubic" else upsample
        self.blocks = nn.Sequential(*[ResidualBlock(width) for _ in range(blocks)])
        self.head = zero_init(nn.Conv3d(width, math.prod(self.scale), 3, padding=1))

    def forward(self, features: torch.Tensor, base: torch.Tensor) -> torch.Tensor:
        residual = pixel_shuffle_3d(self.head(self.blocks(features)), self.scale)
        return self.interpolate(base, self.scale) + residual


class LRDecoder(nn.Module):
    """``D_LR``: residual blocks and a 1-channel head, added to an LR-grid base image."""

    def __init__(self, width: int, blocks: int) -> None:
        super().__init__()
        self.blocks = nn.Sequential(*[ResidualBlock(width) for _ in range(blocks)])
        self.head = zero_init(nn.Conv3d(width, 1, 3, padding=1))

    def forward(self, features: torch.Tensor, base: torch.Tensor) -> torch.Tensor:
        return base + self.head(self.blocks(features))


class SliceProfile(nn.Module):
    """Learnable Gaussian slice profile (FWHM per axis, in HR voxels) + block-centred decimation, or a fixed
    one of the given ``shape`` (``"sinc"``: k-space truncation, whose width is the factor's).

    Only axes with a factor above 1 are blurred; the FWHM is kept within [factor / 2, 2 factor]. An
    unsettled ``"auto"`` shape (a learned profile, or a checkpoint from before shapes) is Gaussian.
    """

    def __init__(
        self,
        scale: Sequence[int],
        init_fwhm: float = 0.75,
        fixed_fwhm: Sequence[float] | None = None,
        shape: str = "gaussian",
    ) -> None:
        super().__init__()
        self.scale = tuple(scale)
        self.shape = "gaussian" if shape == "auto" else shape
        if fixed_fwhm is None:
            start = torch.tensor([max(init_fwhm * f, 0.5) for f in self.scale], dtype=torch.float32)
        else:
            start = torch.tensor([max(w, 0.5) for w in fixed_fwhm], dtype=torch.float32)
        self.log_fwhm = nn.Parameter(start.log(), requires_grad=fixed_fwhm is None)

    def fwhm(self) -> torch.Tensor:
        limits = torch.tensor([max_fwhm(f) for f in self.scale], device=self.log_fwhm.device)
        blurred = torch.tensor([f > 1 for f in self.scale], device=self.log_fwhm.device)
        fwhm = torch.minimum(torch.maximum(self.log_fwhm.exp(), limits / 4), limits)
        return torch.where(blurred, fwhm, torch.zeros_like(limits))

    def forward(self, hr: torch.Tensor) -> torch.Tensor:
        return blur_decimate(hr, self.scale, self.fwhm(), self.shape)


class IntensityTransfer(nn.Module):
    """A monotone piecewise-linear intensity curve, the identity at the start: source contrast → target's.

    ``knots`` equal segments over [0, 1] (intensities are scaled so that the 99.9th percentile is 1), each
    with a positive slope (softplus); the last slope continues above 1 and the curve is 0 at 0.
    """

    def __init__(self, knots: int = 8) -> None:
        super().__init__()
        self.raw_slopes = nn.Parameter(torch.full((knots,), math.log(math.e - 1)))  # softplus(x) = 1

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """The curve applied to any tensor of intensities."""
        knots = self.raw_slopes.numel()
        left = torch.arange(knots, device=x.device, dtype=x.dtype) / knots
        width = torch.full_like(left, 1.0 / knots)
        width[-1] = math.inf
        covered = torch.minimum((x.unsqueeze(-1) - left).clamp(min=0), width)
        return (covered * F.softplus(self.raw_slopes).to(x.dtype)).sum(-1)


def upsample(lr: torch.Tensor, scale: Sequence[int]) -> torch.Tensor:
    """Trilinear upsampling with voxel edges aligned (``align_corners=False``), as the output affine."""
    return F.interpolate(lr, scale_factor=tuple(float(s) for s in scale), mode="trilinear", align_corners=False)


SPLINE_TAPS = 6
"""LR neighbours on each side in :func:`spline_phases`: the cardinal cubic spline decays as 0.268^k."""


@functools.cache
def spline_phases(factor: int) -> torch.Tensor:
    """Weights ``W (factor, 2 * SPLINE_TAPS + 1)`` with ``HR[f*j + p] = sum_k W[p, k] LR[j + k - SPLINE_TAPS]``:
    SciPy's cubic B-spline zoom (``ndimage.zoom(order=3, grid_mode=True)``, the evaluation's ``cubic``) as
    a polyphase filter, read off its response to a unit impulse."""
    n = 4 * SPLINE_TAPS + 1
    centre = n // 2
    impulse = np.zeros(n)
    impulse[centre] = 1.0
    response = ndimage.zoom(impulse, factor, order=3, grid_mode=True, mode="mirror")
    taps = range(-SPLINE_TAPS, SPLINE_TAPS + 1)
    return torch.tensor([[response[factor * (centre - k) + p] for k in taps] for p in range(factor)])


def cubic_upsample(lr: torch.Tensor, scale: Sequence[int]) -> torch.Tensor:
    """Cubic B-spline upsampling of ``(B, C, D, H, W)`` on the block-centred grid, one axis at a time
    (:func:`spline_phases`, edges replicated): the interpolation a user compares the SR with."""
    x = lr
    for axis, f in enumerate(scale):
        f = int(f)
        if f == 1:
            continue
        moved = x.movedim(2 + axis, -1)
        lines = F.pad(moved.reshape(-1, 1, moved.shape[-1]), (SPLINE_TAPS, SPLINE_TAPS), mode="replicate")
        phases = F.conv1d(lines, spline_phases(f).to(lines)[:, None])  # (lines, f, n)
        upsampled = phases.transpose(1, 2).reshape(*moved.shape[:-1], moved.shape[-1] * f)
        x = upsampled.movedim(-1, 2 + axis)
    return x


def downsample(hr: torch.Tensor, scale: Sequence[int]) -> torch.Tensor:
    """Block average onto the LR grid: the starting point of the learned degradation."""
    return F.avg_pool3d(hr, kernel_size=tuple(scale), stride=tuple(scale))


def add_noise(x: torch.Tensor, sigma: torch.Tensor, normal: torch.Tensor | None = None) -> torch.Tensor:
    """Rician noise of level ``sigma`` (one value per batch item) on ``x``, see :func:`mrisr.acquisition.noise.rician`.

    ``normal`` (two standard normal fields per item, ``(B, 2, *spatial)``) is drawn here unless given.
    """
    sigma = sigma.reshape(-1, *([1] * (x.ndim - 1)))
    if normal is None:
        normal = torch.randn(x.shape[0], 2, *x.shape[2:], device=x.device, dtype=x.dtype)
    return rician(x, sigma * normal[:, :1], sigma * normal[:, 1:], eps=1e-12)


class UnpairedSR(SRNetwork):
    """The generators of the unpaired SR model (``lr_decoder`` only in the free and hybrid degradation
    models); see the module docstring for the symbol map."""

    def __init__(
        self,
        scale: Sequence[int] = (2, 2, 2),
        width: int = 32,
        encoder_blocks: int = 2,
        decoder_blocks: int = 2,
        degradation: str = "physics",
        init_fwhm: float = 0.75,
        fixed_fwhm: Sequence[float] | None = None,
        contrast: bool = False,
        profile_shape: str = "gaussian",
        upsampler: str = "cubic",
    ) -> None:
        super().__init__()
        if degradation not in DEGRADATION_MODELS:
            raise ValueError(f"degradation must be one of {DEGRADATION_MODELS}, got {degradation!r}")
        self.scale = tuple(int(s) for s in scale)
        self.degradation = degradation
        self.slice_profile = SliceProfile(self.scale, init_fwhm, fixed_fwhm, profile_shape)
        self.hr_encoder = HREncoder(self.scale, width, encoder_blocks)
        self.lr_encoder = LREncoder(width, encoder_blocks)
        self.sr_decoder = SRDecoder(self.scale, width, decoder_blocks, upsampler)
        # in the physics model nothing decodes features to the LR grid: ``D_LR`` is left out
        self.lr_decoder = None if degradation == "physics" else LRDecoder(width, decoder_blocks)
        self.contrast = IntensityTransfer() if contrast else None

    @classmethod
    def from_config(cls, config: Config) -> UnpairedSR:
        m = config.model
        return cls(
            m.scale,
            m.width,
            m.encoder_blocks,
            m.decoder_blocks,
            m.degradation,
            m.init_fwhm,
            m.fixed_fwhm,
            m.contrast,
            m.profile_shape,
            m.upsampler,
        )

    def check_input(self, x: torch.Tensor, name: str) -> None:
        if x.ndim != 5 or x.shape[1] != 1:
            raise ValueError(f"{name} must have shape (B, 1, D, H, W), got {tuple(x.shape)}")

    def super_resolve(self, lr: torch.Tensor) -> torch.Tensor:
        """Inference, ``Ŷ_t = D_SR(E_LR(X_t))``: LR ``(B,1,d,h,w)`` → SR ``(B,1,d*fx,h*fy,w*fz)``."""
        self.check_input(lr, "lr")
        return self.sr_decoder(self.lr_encoder(lr), lr)

    def target_contrast(self, hr: torch.Tensor) -> torch.Tensor:
        """``c(Y_s)``: the HR source in the target's contrast (itself when the model has no contrast map)."""
        return hr if self.contrast is None else self.contrast(hr)

    def degrade(
        self,
        hr: torch.Tensor,
        noise_sigma: torch.Tensor | None = None,
        features: torch.Tensor | None = None,
        normal: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """The learned degradation ``X_{s~t}`` (+ Rician noise when ``noise_sigma`` is given, see :func:`add_noise`)."""
        if self.degradation == "free":
            base = downsample(hr, self.scale)
        else:
            base = self.slice_profile(hr)
        if self.degradation == "physics":
            lr = base
        else:
            features = self.hr_encoder(hr) if features is None else features
            lr = self.lr_decoder(features, base)
        return lr if noise_sigma is None else add_noise(lr, noise_sigma, normal)

    def forward(self, lr: torch.Tensor) -> torch.Tensor:
        return self.super_resolve(lr)
