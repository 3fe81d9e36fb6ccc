"""What each command does with its parsed options: turn them into the library call of its app, and say the
outcome. Nothing here is needed to use mrisr from Python."""

from __future__ import annotations

import argparse
import inspect
import shlex
from collections.abc import Callable
from pathlib import Path
from typing import Any

from mrisr import MRISRError
from mrisr.apps.bench import bench, run_benchmark
from mrisr.apps.bids.group import run_group
from mrisr.apps.bids.participant import BidsOptions, run_participant
from mrisr.apps.demo import run_demo
from mrisr.apps.evaluate import evaluate_files, simulate_file
from mrisr.apps.experiment.grid import ExperimentConfig, grid_part
from mrisr.apps.experiment.run import run_experiment
from mrisr.apps.infer import InferOptions, infer
from mrisr.apps.run import run_scans
from mrisr.console import log
from mrisr.distributed import is_replica, relaunch_under_torchrun
from mrisr.io import list_nifti
from mrisr.training.monitor import describe_run
from mrisr.training.plan import TrainRequest, ensure_model, plan_training


def keywords(args: argparse.Namespace, target: Callable[..., Any], **given: Any) -> dict[str, Any]:
    """The keyword arguments of ``target`` (a function's keyword-only ones, or a dataclass's fields) that the parsed
    ``args`` hold under the same names, with ``given`` ones taking precedence: the options of a command map onto
    its library call by name."""
    named = inspect.signature(target).parameters.values()
    keyword = [p.name for p in named if isinstance(target, type) or p.kind is inspect.Parameter.KEYWORD_ONLY]
    return {**{name: getattr(args, name) for name in keyword if hasattr(args, name)}, **given}


def command_line(args: argparse.Namespace) -> str:
    """The command as typed, for the sidecars."""
    return shlex.join(["mrisr", *args.argv])


def nifti_list(paths: list[str] | None) -> list[str]:
    """The NIfTI files of files and folders, as strings (none for no option)."""
    return [str(p) for p in list_nifti(paths)] if paths else []


def train_request(args: argparse.Namespace) -> TrainRequest:
    """The :class:`~mrisr.training.plan.TrainRequest` of the ``train`` and ``run`` options."""
    lists = {name: nifti_list(getattr(args, name)) for name in ("lr", "hr", "val_lr", "val_hr")}
    return TrainRequest(
        **keywords(
            args,
            TrainRequest,
            thickness=args.slice_thickness,
            config_path=args.config,
            contrastive=not args.no_contrastive,
            **lists,
        )
    )


def train(args: argparse.Namespace) -> None:
    if args.nproc > 1 and not is_replica():
        relaunch_under_torchrun(args.argv, args.nproc)
        return
    plan = plan_training(train_request(args), args.out, on_existing="resume" if args.resume else "refuse")
    ensure_model(plan)


def run(args: argparse.Namespace) -> None:
    output = Path(args.output)
    report = run_scans(list_nifti(args.inputs), output, train_request(args), command_line(args), args.max_memory_gb)
    log.info(f"{report.summary()}: {output}")
    if report.failed:
        raise MRISRError(report.summary())


def infer_command(args: argparse.Namespace) -> None:
    options = InferOptions(**keywords(args, InferOptions, command=command_line(args)))
    report = infer(args.model, args.inputs, args.output, options)
    if report.failed:
        raise MRISRError(report.summary())


def bids(args: argparse.Namespace) -> None:
    if args.analysis_level == "group":
        table, figure = run_group(args.output_dir)
        log.info(f"group summary: {table}\noverview: {figure}")
        return
    options = BidsOptions(
        **keywords(
            args,
            BidsOptions,
            participants=args.participant_label or (),
            sessions=args.session_label or (),
            suffixes=args.suffix,
            thickness=args.slice_thickness,
            hr=nifti_list(args.hr),
            command=command_line(args),
        )
    )
    report = run_participant(args.bids_dir, args.output_dir, options)
    log.info(f"{report.summary()}: {args.output_dir}")
    if report.failed:
        raise MRISRError(f"{report.summary()}; the errors are in {Path(args.output_dir) / 'logs'}")


def evaluate(args: argparse.Namespace) -> None:
    evaluate_files(args.truth, args.pred, **keywords(args, evaluate_files))


def simulate(args: argparse.Namespace) -> None:
    simulate_file(args.input, args.output, **keywords(args, simulate_file))


def demo(args: argparse.Namespace) -> None:
    run_demo(args.out, **keywords(args, run_demo))


def report(args: argparse.Namespace) -> None:
    print(describe_run(Path(args.run_dir)))


def experiment(args: argparse.Namespace) -> None:
    if (args.config is None) == (not args.quick):
        raise MRISRError("give a grid YAML or --quick (not both)")
    grid = ExperimentConfig.quick() if args.quick else ExperimentConfig.load(args.config)
    part = grid_part(grid, **keywords(args, grid_part))
    written = run_experiment(part, args.out, report=not args.no_report)
    log.info(f"{'report tables' if not args.no_report else 'rows'} written to {written}")


def bench_command(args: argparse.Namespace) -> None:
    bench(args.out, **keywords(args, run_benchmark))
