"""``mrisr run``: one model learned from a protocol's scans (or the one already in the output folder), then
every scan super-resolved with its trust maps and sidecar."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from pathlib import Path

from mrisr.config import DEFAULT_FLIPS
from mrisr.console import showing_progress
from mrisr.inference.batch import BatchReport, super_resolve_files
from mrisr.inference.loaded import LoadedModel
from mrisr.inference.writing import Companions, check_planned_memory
from mrisr.training.plan import TrainRequest, ensure_model, plan_training


def run_scans(
    inputs: Sequence[Path],
    output: str | Path,
    request: TrainRequest,
    command: str | None,
    max_memory_gb: float = 4.0,
) -> BatchReport:
    """Train on ``inputs`` (their geometry from the headers) into ``OUTPUT/run`` — reusing a finished model and
    resuming an interrupted training there — then write ``OUTPUT/<scan>_sr.nii.gz`` with its uncertainty and
    consistency maps and its sidecar, skipping the scans already done. A scan whose SR and maps would not fit
    in ``max_memory_gb`` is refused before any training."""
    output = Path(output)
    plan = plan_training(dataclasses.replace(request, lr=[str(p) for p in inputs]), output / "run")
    if plan.config is not None:
        check_planned_memory(inputs, plan.config.model, max_memory_gb, uncertainty=True, flips=DEFAULT_FLIPS)
    model = LoadedModel.load(ensure_model(plan), request.device or "auto", command=command)
    companions = Companions(uncertainty=output, consistency=output)
    return super_resolve_files(
        model,
        inputs,
        output,
        companions=companions,
        skip_existing=True,
        progress=showing_progress(),
        flips=DEFAULT_FLIPS,
        max_memory_gb=max_memory_gb,
    )
