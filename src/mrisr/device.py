"""Where computation runs: one place resolves the device (auto, cpu or cuda), the precision and the CPU threads."""

from __future__ import annotations

import torch

from mrisr import MRISRError
from mrisr.config import PRECISIONS

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
    """``auto`` is bfloat16 where the hardware computes it natively, else float32.

    Measured on a CPU with native bf16 (README, Performance): inference windows run 1.9-2.9x faster (two
    machines of the same kind) and the SR of Colin27 changes by about 0.001 dB PSNR (``benchmarks/precision.py``).
    """
    if name not in PRECISIONS:
        raise MRISRError(f"--precision {name}: choose one of {', '.join(PRECISIONS)}")
    if name == "fp32":
        return torch.float32
    if name == "bf16":
        return torch.bfloat16
    if device.type == "cuda":
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float32
    return torch.bfloat16 if torch.backends.mkldnn.is_available() and _cpu_has_native_bf16() else torch.float32


def _cpu_has_native_bf16() -> bool:
    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        return False
