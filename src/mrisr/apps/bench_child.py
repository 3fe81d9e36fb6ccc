"""One inference timed in a fresh process for ``mrisr bench``: it imports only what super-resolving a file
needs, so that its peak resident memory is the inference's own, not the benchmark's."""

from __future__ import annotations

import resource
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from mrisr.config import Config
from mrisr.evaluation import interpolate
from mrisr.inference.loaded import LoadedModel
from mrisr.inference.writing import Companions, super_resolve_file
from mrisr.io import load_volume, refine_affine, save_volume
from mrisr.models.checkpoint import save_checkpoint
from mrisr.models.registry import build_network


def inference_child(
    lr_shape: Sequence[int],
    scale: Sequence[int],
    method: str,
    max_memory_gb: float,
    width: int = 32,
    output_suffix: str = ".nii.gz",
    device: str = "cpu",
) -> dict[str, float]:
    """Run in a fresh process: super-resolve an ``lr_shape`` volume from and to disk; time, peak RSS and
    peak GPU memory (0 on the CPU)."""

    with tempfile.TemporaryDirectory() as tmp:
        rng = np.random.default_rng(0)
        lr = rng.random(tuple(lr_shape), dtype=np.float32) + 1
        save_volume(Path(tmp) / "lr.nii", lr, np.eye(4))
        del lr
        start = time.perf_counter()
        if method == "cubic":
            volume = load_volume(Path(tmp) / "lr.nii")
            sr = interpolate(volume.data, scale, order=3)
            save_volume(Path(tmp) / f"sr{output_suffix}", sr, refine_affine(volume.affine, scale), volume.header)
        else:
            config = Config().override({"model": {"scale": list(scale), "width": width}})
            model = build_network(config).eval().to(device)
            output = Path(tmp) / f"sr{output_suffix}"
            companions, loaded = Companions(), LoadedModel(model, device=torch.device(device))
            if method == TRUST_MAPS:
                save_checkpoint(Path(tmp) / "model.pt", model, config)
                loaded = LoadedModel.load(Path(tmp) / "model.pt", device, "fp32", "mrisr bench")
                companions = Companions(Path(tmp) / "u.nii.gz", Path(tmp) / "c.nii.gz")
            super_resolve_file(loaded, Path(tmp) / "lr.nii", output, companions=companions, max_memory_gb=max_memory_gb)
        seconds = time.perf_counter() - start
    gpu_bytes = torch.cuda.max_memory_allocated() if torch.device(device).type == "cuda" else 0
    return {"seconds": seconds, "peak_rss_gib": peak_rss_bytes() / 2**30, "peak_gpu_gib": gpu_bytes / 2**30}


def peak_rss_bytes() -> int:
    """This process's peak resident memory (``VmHWM``: unlike ``ru_maxrss`` it restarts at ``exec``)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # kilobytes, outside Linux


TRUST_MAPS = "mrisr+maps"
"""The inference row with the uncertainty and consistency maps and the sidecar."""
