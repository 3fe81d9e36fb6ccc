"""``mrisr infer``: a trained model super-resolves files or folders, with the trust maps asked for."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from mrisr import MRISRError
from mrisr.config import DEFAULT_FLIPS
from mrisr.console import log, showing_progress
from mrisr.inference.batch import BatchReport, select_shard, super_resolve_files
from mrisr.inference.loaded import LoadedModel
from mrisr.inference.writing import Companions, super_resolve_file
from mrisr.io import list_nifti


@dataclass(frozen=True)
class InferOptions:
    """How ``mrisr infer`` runs (``mrisr infer --help`` says each in words)."""

    scale: Sequence[float] | None = None
    volume_index: int | None = None
    overwrite: bool = False
    skip_existing: bool = False
    shard: str | None = None
    allow_nonfinite: bool = False
    max_memory_gb: float = 4.0
    device: str = "auto"
    precision: str = "auto"
    uncertainty: str | None = None
    consistency: str | None = None
    flips: int = DEFAULT_FLIPS
    command: str | None = None


def infer(model_path: str | Path, inputs: Sequence[str], output: str | Path, options: InferOptions) -> BatchReport:
    """Super-resolve ``inputs`` into ``output``: a file for one input file, else a folder (the map paths then
    name folders too); a bad file of several is recorded and the others go on."""
    model = LoadedModel.load(model_path, options.device, options.precision, options.command)
    if options.scale and tuple(options.scale) != model.scale:
        raise MRISRError(f"{model_path}: the model's scale is {list(model.scale)}, not the requested {options.scale}")
    files = list_nifti(inputs)
    output = Path(output)
    to_folder = len(files) > 1 or any(Path(i).is_dir() for i in inputs) or output.is_dir()
    if options.shard:
        files = select_shard(files, options.shard)
    companions = Companions(
        uncertainty=Path(options.uncertainty) if options.uncertainty else None,
        consistency=Path(options.consistency) if options.consistency else None,
    )
    run = {
        "companions": companions,
        "overwrite": options.overwrite,
        "volume_index": options.volume_index,
        "progress": showing_progress(),
        "max_memory_gb": options.max_memory_gb,
        "allow_nonfinite": options.allow_nonfinite,
        "flips": options.flips,
    }
    if to_folder:
        report = super_resolve_files(model, files, output, skip_existing=options.skip_existing, **run)
        log.info(f"{report.summary()}: {output}")
        return report
    written = super_resolve_file(model, files[0], output, **run)
    log.info(f"{files[0]} -> {written}")
    for kind, path in (("uncertainty", options.uncertainty), ("consistency", options.consistency)):
        if path:
            log.info(f"  {kind} map {path}")
    return BatchReport(done=[written])
