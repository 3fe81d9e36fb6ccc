"""Where computation runs: one place resolves the device (auto, cpu or cuda), the precision and the CPU threads."""

from __future__ import annotations

import torch

from mrisr import MRISRError
from mrisr.config import PRECISIONS, TRAIN_PRECISIONS

DEVICES = ("auto", "cpu", "cuda")


def resolve_device(name: str = "auto") -> torch.device:
    """``auto`` picks CUDA when present, else the CPU; asking for CUDA without one is an error."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise MRISRError(f"device {name!r}: no CUDA device is available (use cpu or auto)")
    if name not in ("cpu",) and not name.startswith("cuda"):
        raise MRISRError(f"device {name!r}: choose one of {DEVICES}")
    return torch.device(name)


def set_threads(threads: int | None) -> None:
    """Fix intra-op threads (default: PyTorch's choice, one per core)."""
    if threads:
        torch.set_num_threads(int(threads))


def resolve_precision(name: str, device: torch.device) -> torch.dtype:
    """``auto`` is bfloat16 on a GPU that computes it and on a CPU with bf16 matrix units (AMX), else float32.

    Measured (docs/PERFORMANCE.md, ``benchmarks/precision.py``): bf16 inference windows ran 1.9-2.9x faster
    than fp32 on earlier 2-core CPUs (whether they had AMX was not recorded) and 0.86x on a 2-core CPU with
    AVX-512 bf16 dot products but no AMX, where the Colin27 SR also took longer (10.6 s against 9.8 s); AMX's
    bf16 tile multiplies are what make oneDNN's bf16 convolutions fast. The SR changes by about 0.02 dB.
    """
    if name not in PRECISIONS:
        raise MRISRError(f"--precision {name}: choose one of {', '.join(PRECISIONS)}")
    if name == "fp32":
        return torch.float32
    if name == "bf16":
        return torch.bfloat16
    if device.type == "cuda":
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float32
    return torch.bfloat16 if torch.backends.mkldnn.is_available() and cpu_bf16_units() == "AMX" else torch.float32


def training_autocast(precision: str, device: torch.device) -> torch.autocast:
    """The autocast a training step's forward passes and losses run under: bf16, or none for ``fp32``
    (``train.precision``); weights, gradients and the optimiser stay fp32 either way."""
    if precision not in TRAIN_PRECISIONS:
        raise MRISRError(f"config: train.precision must be one of {TRAIN_PRECISIONS}, got {precision!r}")
    return torch.autocast(device.type, dtype=torch.bfloat16, enabled=precision == "bf16")


def cpu_bf16_units() -> str:
    """What this CPU computes bf16 with: ``"AMX"`` (matrix tiles), ``"AVX-512"`` (dot products only) or ``"none"``."""
    cpu = torch.cpu
    if getattr(cpu, "_is_amx_tile_supported", lambda: False)():
        return "AMX"
    return "AVX-512" if getattr(cpu, "_is_avx512_bf16_supported", lambda: False)() else "none"
