"""The one planner of a training run: from the scans and a user's options to a settled config, and the
decision to reuse a finished model, resume an interrupted run or train anew. ``mrisr train``, ``mrisr run``,
``mrisr bids`` and the demo all go through :func:`plan_training`, then :func:`ensure_model`."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from mrisr import MRISRError
from mrisr.acquisition.forward import tidy_factors
from mrisr.acquisition.resolution import protocol_grid
from mrisr.config import Config, preset
from mrisr.console import log
from mrisr.models.registry import settle_architecture
from mrisr.training import train

REUSE, RESUME, TRAIN = "reuse", "resume", "train"
"""What a plan does: use the run's finished ``model.pt``, continue its ``last.pt``, or train from the start."""

ON_EXISTING = ("reuse", "resume", "refuse", "replace")
"""What a run folder that holds work means to :func:`plan_training`."""


@dataclass(frozen=True)
class TrainRequest:
    """What a user asks of a training run, before any scan is read; each command's options map onto it."""

    lr: Sequence[str] = ()  # the scans to learn from (their headers give the factors)
    hr: Sequence[str] = ()  # HR volumes of other subjects
    scale: Sequence[float] | None = None  # per-axis factors; default: from the scans' headers
    spacing: Sequence[float] | None = None  # SR voxel size, mm (one value or three)
    thickness: float | None = None  # slice thickness, mm; default: the JSON sidecar's
    preset: str | None = None  # starting config (default cpu)
    config_path: str | None = None  # a YAML config instead of a preset
    steps: int | None = None
    minutes: float | None = None
    seed: int | None = None
    device: str | None = None
    threads: int | None = None
    batch_size: int | None = None
    degradation_model: str | None = None
    contrastive: bool = True
    val_lr: Sequence[str] = ()
    val_hr: Sequence[str] = ()
    init: str | None = None  # start from this model.pt (adaptation to one scan)
    model: dict[str, Any] = field(default_factory=dict)  # further model settings (the demo's paper case)


@dataclass(frozen=True)
class Plan:
    """A run folder and what to do in it: :data:`REUSE`, :data:`RESUME` or :data:`TRAIN` with a settled config
    (``None`` when reusing)."""

    run_dir: Path
    action: str
    config: Config | None

    @property
    def model_path(self) -> Path:
        """The model the run ends with."""
        return self.run_dir / "model.pt"


def sets_scale(config_path: str | None) -> bool:
    """Whether a YAML config names ``model.scale`` (then the headers do not set it)."""
    if not config_path:
        return False
    data = yaml.safe_load(Path(config_path).read_text()) or {}
    return isinstance(data, dict) and "scale" in (data.get("model") or {})


def overrides(request: TrainRequest, *, resumed: bool) -> dict[str, dict[str, Any]]:
    """The config changes ``request`` asks for, as ``{section: {key: value}}``; a resumed run keeps its factors."""
    train: dict[str, Any] = {
        name: value
        for name in ("seed", "device", "threads", "batch_size", "init")
        if (value := getattr(request, name)) is not None
    }
    if request.lr:
        train["lr"] = [str(p) for p in request.lr]
    if request.hr:
        train["hr"] = [str(p) for p in request.hr]
    if request.val_lr or request.val_hr:
        train.update(val_lr=[str(p) for p in request.val_lr], val_hr=[str(p) for p in request.val_hr])
    if request.minutes is not None:
        train.update(minutes=request.minutes, steps=None)
    elif request.steps is not None:
        train.update(steps=request.steps, minutes=None)
    model = dict(request.model)
    if request.scale:
        model["scale"] = list(tidy_factors(request.scale))
    elif not (resumed or sets_scale(request.config_path)) and request.lr:
        grid = protocol_grid([str(p) for p in request.lr], request.spacing, request.thickness)
        log.info(grid.described)
        model.update(scale=list(grid.factors), in_plane_mm=grid.in_plane_mm)
    if request.thickness is not None:
        model["slice_thickness"] = request.thickness
    if request.degradation_model:
        model["degradation"] = request.degradation_model
    loss = {} if request.contrastive else {"nce": 0.0}
    return {"model": model, "loss": loss, "train": train}


def training_config(request: TrainRequest, saved: Config | None = None) -> Config:
    """The settled config of ``request``: its YAML config, a run's ``saved`` one (resuming) or its preset,
    with the request's changes, the architecture its factors call for, and the checks no training should
    start without."""
    if request.preset and (request.config_path or saved):
        raise MRISRError("--preset starts a new config; it cannot be combined with --config or --resume")
    if request.config_path:
        base = Config.load(request.config_path)
    else:
        base = saved or preset(request.preset or "cpu")
    config = settle_architecture(base.override(overrides(request, resumed=saved is not None)))
    if not config.train.lr:
        raise MRISRError("training needs LR scans (--lr), or a --config that lists them")
    if not config.train.hr and config.model.architecture != "planar":
        raise MRISRError(
            f"the {config.model.architecture} model needs HR volumes (--hr) of other subjects; only thick-slice "
            "scans (one coarse axis, e.g. --scale 1 1 4) can train from the scan alone"
        )
    if len(config.train.val_lr) != len(config.train.val_hr):
        raise MRISRError(f"--val-lr has {len(config.train.val_lr)} volumes but --val-hr has {len(config.train.val_hr)}")
    return config


def plan_training(request: TrainRequest, run_dir: str | Path, *, on_existing: str = "reuse") -> Plan:
    """What to do in ``run_dir`` for ``request``, decided before any work. A folder that holds work means, by
    ``on_existing``: ``"reuse"`` its finished model, else resume its interrupted run (``run``, ``bids``);
    ``"resume"`` its interrupted run (``train --resume``); ``"refuse"`` (``train``); ``"replace"`` it with a
    new run (the demo, whose ``--overwrite`` guards the folder)."""
    if on_existing not in ON_EXISTING:
        raise ValueError(f"on_existing must be one of {ON_EXISTING}, got {on_existing!r}")
    run_dir = Path(run_dir)
    if on_existing == "reuse" and (run_dir / "model.pt").is_file():
        return Plan(run_dir, REUSE, None)
    # a run killed while replacing last.pt holds only previous.pt, which training resumes from
    interrupted = any((run_dir / "checkpoints" / name).is_file() for name in ("last.pt", "previous.pt"))
    if interrupted and on_existing == "refuse":
        raise MRISRError(f"{run_dir}: holds a run already (use --resume to continue it, or another --out)")
    if interrupted and on_existing in ("reuse", "resume"):
        saved = run_dir / "config.yaml"
        config = training_config(request, Config.load(saved, saved=True) if saved.is_file() else None)
        return Plan(run_dir, RESUME, config)
    return Plan(run_dir, TRAIN, training_config(request))


def ensure_model(plan: Plan) -> Path:
    """The plan's ``model.pt``: the one there, or the one its training (resumed or new) ends with."""
    if plan.action == REUSE:
        return plan.model_path
    return train(plan.config, plan.run_dir, resume=plan.action == RESUME)
