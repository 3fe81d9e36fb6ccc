"""Where computation runs: one place resolves ``--device auto|cpu|cuda`` and the CPU thread count."""

from __future__ import annotations

import torch

from mrisr import MRISRError


def resolve_device(name: str = "auto") -> torch.device:
    """``auto`` picks CUDA when present, else the CPU; asking for CUDA without one is an error."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise MRISRError(f"--device {name}: no CUDA device is available (use --device cpu or auto)")
    if name not in ("cpu",) and not name.startswith("cuda"):
        raise MRISRError(f"--device {name}: choose auto, cpu or cuda")
    return torch.device(name)


def set_threads(threads: int | None) -> None:
    """Fix intra-op threads (default: PyTorch's choice, one per core)."""
    if threads:
        torch.set_num_threads(int(threads))
