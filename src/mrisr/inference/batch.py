"""Many scans in one run: output names, a cluster task's share, and a report that goes on past a bad file."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from mrisr import MRISRError
from mrisr.console import log
from mrisr.inference.loaded import LoadedModel
from mrisr.inference.writing import Companions, super_resolve_file
from mrisr.io import output_name


@dataclass
class BatchReport:
    """What a run over many volumes did: outputs written, outputs already there, and failures."""

    done: list[Path] = field(default_factory=list)
    skipped: list[Path] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)

    def summary(self) -> str:
        total = len(self.done) + len(self.skipped) + len(self.failed)
        return f"{len(self.done)} of {total} volumes done, {len(self.skipped)} skipped, {len(self.failed)} failed"


def super_resolve_files(
    model: LoadedModel,
    inputs: Sequence[Path],
    output_dir: Path,
    *,
    companions: Companions | None = None,
    skip_existing: bool = False,
    overwrite: bool = False,
    **kwargs,
) -> BatchReport:
    """Super-resolve many volumes into ``output_dir``; a bad file is recorded and the run goes on. The maps
    of ``companions`` name folders here: one map of each kind per input."""
    report, companions = BatchReport(), companions or Companions()
    for path in inputs:
        target = Path(output_dir) / output_name(Path(path))
        if skip_existing and target.exists():
            report.skipped.append(target)
            continue
        try:
            mine = companions.for_input(Path(path))
            report.done.append(super_resolve_file(model, path, target, companions=mine, overwrite=overwrite, **kwargs))
        except MRISRError as err:
            report.failed.append(str(err))
            log.error(str(err))
    return report


def select_shard(inputs: Sequence[Path], shard: str) -> list[Path]:
    """Files ``i, i+n, i+2n, …`` of the list for ``shard = "i/n"`` (0-based), e.g. a Slurm array task's share."""
    index, sep, count = shard.partition("/")
    if not (sep and index.isdigit() and count.isdigit() and 0 <= int(index) < int(count)):
        raise MRISRError(f"--shard {shard}: expected i/n with 0 <= i < n, e.g. 0/4")
    return list(inputs[int(index) :: int(count)])
