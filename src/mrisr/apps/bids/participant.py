"""The participant level of ``mrisr bids``: one model per protocol, trained on a few of its scans, then every
scan of the protocol super-resolved into the derivatives dataset.

Reruns do only what is missing: a finished scan (its sidecar names the same source bytes and model weights)
is skipped, a protocol's model is reused, and an interrupted training resumes. A scan that fails is recorded
and the others go on. ``shard = "i/n"`` splits the work among cluster array tasks with no overlap and no
gap: protocols at the ``train`` and ``all`` stages, scans at the ``infer`` stage.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mrisr import MRISRError
from mrisr.apps.bids.layout import DEFAULT_SUFFIXES, BidsScan, derivative_path, find_scans, write_dataset_description
from mrisr.apps.bids.protocols import Protocol, group_by_protocol, training_sample
from mrisr.config import DEFAULT_FLIPS
from mrisr.console import log, showing_progress
from mrisr.inference.batch import select_shard
from mrisr.inference.loaded import LoadedModel
from mrisr.inference.sidecar import file_sha256
from mrisr.inference.writing import Companions, check_planned_memory, super_resolve_file
from mrisr.io import atomic_write, output_name
from mrisr.training.plan import REUSE, TrainRequest, ensure_model, plan_training

STAGES = ("all", "train", "infer")


@dataclass
class BidsOptions:
    """What to process and how (``mrisr bids --help`` says each in words)."""

    participants: Sequence[str] = ()
    sessions: Sequence[str] = ()
    suffixes: Sequence[str] = DEFAULT_SUFFIXES
    spacing: Sequence[float] | None = None
    thickness: float | None = None
    hr: Sequence[str] = ()
    preset: str = "cpu"
    steps: int | None = None
    minutes: float | None = None
    train_scans: int = 3
    per_scan: bool = False
    adapt_steps: int = 0
    stage: str = "all"
    shard: str | None = None
    seed: int = 0
    device: str = "auto"
    flips: int = DEFAULT_FLIPS
    uncertainty: bool = False
    max_memory_gb: float = 4.0
    command: str | None = None


@dataclass
class Unit:
    """One model and the scans it serves: a protocol, or one scan of it when each scan gets its own model."""

    name: str
    protocol: Protocol
    scans: list[BidsScan]
    sample: list[BidsScan]


@dataclass
class ParticipantReport:
    """What a participant-level run did, written to ``logs/`` as JSON."""

    done: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)
    models: dict[str, dict[str, Any]] = field(default_factory=dict)

    def summary(self) -> str:
        total = len(self.done) + len(self.skipped) + len(self.failed)
        return f"{len(self.done)} of {total} scans done, {len(self.skipped)} skipped, {len(self.failed)} failed"


def units_of(groups: dict[Protocol, list[BidsScan]], train_scans: int, per_scan: bool) -> list[Unit]:
    """The models to train: one per protocol on a sample of its scans, or one per scan."""
    if not per_scan:
        return [Unit(p.name, p, scans, training_sample(scans, train_scans)) for p, scans in groups.items()]
    return [Unit(f"{p.name}/{scan.stem}", p, [scan], [scan]) for p, scans in groups.items() for scan in scans]


def protocol_request(paths: Sequence[Path], protocol: Protocol, options: BidsOptions) -> TrainRequest:
    """The training request of one model: the preset, the budget, and the protocol's thickness (which BIDS
    metadata may give above the scans' folders) unless one is given; the factors come from the headers."""
    thickness = options.thickness if options.thickness is not None else protocol.thickness
    return TrainRequest(
        lr=[str(p) for p in paths],
        hr=[str(p) for p in options.hr],
        spacing=options.spacing,
        thickness=thickness,
        preset=options.preset,
        steps=options.steps,
        minutes=options.minutes,
        seed=options.seed,
        device=options.device,
    )


def ensure_unit_model(unit: Unit, models_dir: Path, options: BidsOptions) -> Path:
    """The unit's ``model.pt``: reused when it is there, the training resumed when it was interrupted."""
    plan = plan_training(
        protocol_request([s.path for s in unit.sample], unit.protocol, options), models_dir / unit.name
    )
    if plan.config is not None:  # every scan the model will serve fits, or none is trained for
        paths = [scan.path for scan in unit.scans]
        check_planned_memory(
            paths, plan.config.model, options.max_memory_gb, uncertainty=options.uncertainty, flips=options.flips
        )
    if plan.action != REUSE:
        log.info(f"{unit.name}: training on {len(unit.sample)} of its {len(unit.scans)} scans")
    return ensure_model(plan)


def adapted_model(scan: BidsScan, unit: Unit, protocol_model: Path, options: BidsOptions) -> Path:
    """The protocol's model after ``options.adapt_steps`` more steps on ``scan`` alone (its own profile, noise
    and planes), in ``models/<protocol>/adapted/<scan>/``; reused when it is there."""
    budget = dataclasses.replace(options, steps=options.adapt_steps, minutes=None)
    request = dataclasses.replace(protocol_request([scan.path], unit.protocol, budget), init=str(protocol_model))
    return ensure_model(plan_training(request, protocol_model.parent / "adapted" / scan.stem))


def is_finished(output: Path, source_sha: str, weights_sha: str) -> bool:
    """Whether ``output`` is the SR of these source bytes by these weights (its sidecar says so)."""
    sidecar = output.parent / output_name(output, "", ".json")  # where super_resolve_file writes it
    if not (output.is_file() and sidecar.is_file()):
        return False
    try:
        record = json.loads(sidecar.read_text())
    except json.JSONDecodeError:
        return False
    return record.get("SourceSHA256") == source_sha and record.get("Model", {}).get("WeightsSHA256") == weights_sha


def companion_path(output: Path, kind: str) -> Path:
    """A map beside the SR, told apart by its ``desc``: ``desc-sr_T2w`` → ``desc-sr<kind>_T2w``."""
    return output.with_name(output.name.replace("_desc-sr_", f"_desc-sr{kind}_"))


@functools.lru_cache(maxsize=1)
def loaded_model(path: Path, modified_ns: int, device: str, command: str | None) -> LoadedModel:
    """The model of ``path`` on ``device``, loaded once for the scans of a protocol (``modified_ns`` keys a
    file written anew)."""
    return LoadedModel.load(path, device, command=command)


def super_resolve_scan(scan: BidsScan, unit: Unit, model_path: Path, out: Path, options: BidsOptions) -> bool:
    """Write the SR of ``scan`` with its consistency map and sidecar (with the model adapted to the scan first
    when ``options.adapt_steps``); ``False`` when it was there already."""
    protocol_model = model_path
    if options.adapt_steps > 0:
        model_path = adapted_model(scan, unit, protocol_model, options)
    model = loaded_model(model_path, model_path.stat().st_mtime_ns, options.device, options.command)
    output = derivative_path(out, scan)
    source_sha = file_sha256(scan.path)
    if is_finished(output, source_sha, model.meta["weights_sha256"]):
        return False
    companions = Companions(
        uncertainty=companion_path(output, "uncertainty") if options.uncertainty else None,
        consistency=companion_path(output, "consistency"),
    )
    extra = {
        "Sources": [f"bids:raw:{scan.relative}"],
        "SourceSHA256": source_sha,
        "Protocol": unit.protocol.name,
        "ModelTrainedOn": [f"bids:raw:{s.relative}" for s in unit.sample],
    }
    if options.adapt_steps > 0:
        extra["AdaptedFrom"] = {"Path": str(protocol_model.resolve()), "Steps": options.adapt_steps}
    super_resolve_file(
        model,
        scan.path,
        output,
        companions=companions,
        overwrite=True,
        progress=showing_progress(),
        flips=options.flips,
        sidecar_extra=extra,
        max_memory_gb=options.max_memory_gb,
    )
    return True


def shard_work(
    scans: Sequence[BidsScan], units: Sequence[Unit], stage: str, shard: str | None
) -> tuple[list[Unit], list[BidsScan], set[str]]:
    """This task's models to train, scans to super-resolve and scans to answer for (those no model owns
    included): protocols are split at the ``train`` and ``all`` stages, scans at ``infer``."""
    if stage == "infer":
        mine = select_shard(scans, shard) if shard else list(scans)
        in_units = {scan.relative for unit in units for scan in unit.scans}
        return [], [scan for scan in mine if scan.relative in in_units], {s.relative for s in mine}
    to_train = select_shard(units, shard) if shard else list(units)
    to_infer = [scan for unit in to_train for scan in unit.scans] if stage == "all" else []
    first = not shard or shard.startswith("0/")  # the first task answers for what no protocol owns
    return to_train, to_infer, {s.relative for s in scans} if first else set()


def log_name(options: BidsOptions) -> str:
    """``participant[_stage-S][_shard-i-of-n].json``: one record per kind of task, so none overwrites another."""
    name = "participant" + (f"_stage-{options.stage}" if options.stage != "all" else "")
    return name + (f"_shard-{options.shard.replace('/', '-of-')}" if options.shard else "") + ".json"


def run_participant(bids_dir: str | Path, output_dir: str | Path, options: BidsOptions) -> ParticipantReport:
    """Train what is missing and super-resolve what is not finished (module doc); the report is written to
    ``OUTPUT_DIR/logs/`` (:func:`log_name`) as well."""
    if options.stage not in STAGES:
        raise MRISRError(f"unknown stage {options.stage!r}; choose one of {STAGES}")
    out = Path(output_dir)
    scans = find_scans(bids_dir, options.participants, options.sessions, options.suffixes)
    write_dataset_description(out, bids_dir)
    groups, unreadable = group_by_protocol(scans, options.thickness)
    units = units_of(groups, options.train_scans, options.per_scan)
    to_train, to_infer, owned = shard_work(scans, units, options.stage, options.shard)
    report = ParticipantReport(failed={k: v for k, v in unreadable.items() if k in owned})
    for relative, error in report.failed.items():
        log.error(f"{relative}: {error}")
    models = {unit.name: train_unit(unit, out, options, report) for unit in to_train}
    unit_of = {scan.relative: unit for unit in units for scan in unit.scans}
    for scan in to_infer:
        unit = unit_of[scan.relative]
        model_path = models.get(unit.name) or out / "models" / unit.name / "model.pt"
        started = time.perf_counter()
        try:
            if not model_path.is_file():
                raise MRISRError(f"no model for protocol {unit.name} (train it first: --stage train)")
            done = super_resolve_scan(scan, unit, model_path, out, options)
        except MRISRError as err:
            report.failed[scan.relative] = str(err)
            log.error(f"{scan.relative}: {err}")
            continue
        (report.done if done else report.skipped).append(scan.relative)
        report.seconds[scan.relative] = round(time.perf_counter() - started, 1)
    text = json.dumps({**report.__dict__, "stage": options.stage}, indent=2) + "\n"
    (out / "logs").mkdir(parents=True, exist_ok=True)
    atomic_write(out / "logs" / log_name(options), lambda tmp: Path(tmp).write_text(text))
    return report


def train_unit(unit: Unit, out: Path, options: BidsOptions, report: ParticipantReport) -> Path | None:
    """The unit's model (:func:`ensure_unit_model`), or ``None`` when it could not be trained; noted in ``report``."""
    started, model = time.perf_counter(), None
    try:
        model, status = ensure_unit_model(unit, out / "models", options), "ready"
    except MRISRError as err:
        status = f"failed: {err}"
        log.error(f"{unit.name}: {err}")
    report.models[unit.name] = {
        "status": status,
        "trained_on": [s.relative for s in unit.sample],
        "seconds": round(time.perf_counter() - started, 1),
    }
    return model
