"""Checkpoints: written atomically, loaded with ``weights_only=True``, carrying their own metadata.

Two kinds share one format: a training state (``last.pt``: every network, optimiser and RNG, to resume)
and a model (``model.pt``: the generator only, to infer). Both hold the config, the scale, the intensity
normalisation and a SHA-256 of the generator weights, checked on load.
"""

from __future__ import annotations

import hashlib
import pickle
import zipfile
from pathlib import Path
from typing import Any

import torch
from torch import nn

from mrisr import MRISRError, __version__
from mrisr.config import Config
from mrisr.io import atomic_write, first_line
from mrisr.models.registry import build_network

FORMAT = "mrisr-checkpoint"
FORMAT_VERSION = 2
"""2: the physics model has no ``lr_decoder``, and with a frozen profile no LR discriminator; loss weights
``sty``/``align`` are named ``lr_adversarial``/``feature_adversarial``."""


def weights_hash(state_dict: dict[str, torch.Tensor]) -> str:
    """SHA-256 over the names and bytes of the weights, in key order."""
    digest = hashlib.sha256()
    for name in sorted(state_dict):
        digest.update(name.encode())
        digest.update(state_dict[name].detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()


def save_checkpoint(path: str | Path, generator: nn.Module, config: Config, **extra: Any) -> None:
    """Write the generator, its metadata and any ``extra`` training state, atomically."""
    weights = {k: v.detach().cpu() for k, v in generator.state_dict().items()}
    payload = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "mrisr_version": __version__,
        "config": config.to_dict(),
        "scale": list(config.model.scale),
        "normalisation": {"method": "percentile", "percentile": config.train.percentile},
        "generator": weights,
        "weights_sha256": weights_hash(weights),
        **extra,
    }
    atomic_write(path, lambda tmp: torch.save(payload, tmp))


def load_checkpoint(path: str | Path, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Load and verify a checkpoint; anything else (pickled code, other formats, corruption) is refused."""
    name = str(path)
    if not Path(name).is_file():
        raise MRISRError(f"{name}: no such checkpoint")
    if not zipfile.is_zipfile(name):
        raise MRISRError(f"{name}: not an mrisr checkpoint, or truncated (not a complete PyTorch zip archive)")
    try:
        payload = torch.load(name, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as err:
        raise MRISRError(f"{name}: refused, it holds objects a safe checkpoint cannot ({first_line(err)})") from None
    except Exception as err:  # torch raises many kinds on a damaged archive; all mean the same to the user
        raise MRISRError(f"{name}: a damaged checkpoint ({type(err).__name__}: {first_line(err)})") from None
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise MRISRError(f"{name}: not an mrisr checkpoint")
    version = payload.get("format_version")
    if version != FORMAT_VERSION:
        raise MRISRError(
            f"{name}: checkpoint format version {version}; this mrisr ({__version__}) reads version {FORMAT_VERSION} "
            "only: retrain, or use the mrisr that wrote it"
        )
    if weights_hash(payload["generator"]) != payload.get("weights_sha256"):
        raise MRISRError(f"{name}: the weights do not match their recorded hash (corrupt checkpoint)")
    return payload


def load_model(path: str | Path, device: torch.device | str = "cpu") -> tuple[nn.Module, dict[str, Any]]:
    """The generator of a checkpoint, in eval mode on ``device``, and the checkpoint's metadata."""
    payload = load_checkpoint(path)
    config = Config.from_saved(payload["config"])
    model = build_network(config)
    try:
        model.load_state_dict(payload["generator"])
    except RuntimeError as err:
        raise MRISRError(f"{path}: the weights do not fit the recorded architecture ({first_line(err)})") from None
    model.to(device).eval()
    return model, payload
