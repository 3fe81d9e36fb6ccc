"""mrisr: unpaired 3D MRI super-resolution. Simulate low-resolution scans, train on unpaired high- and
low-resolution volumes, super-resolve NIfTI files, and score the results. Run "mrisr COMMAND --help" for
the options of a command."""

from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path

from mrisr import MRISRError, __version__
from mrisr.acquisition.degradation import KINDS, tidy_factors
from mrisr.apps.bids.layout import DEFAULT_SUFFIXES
from mrisr.config import DEFAULT_FLIPS, DEGRADATION_MODELS, PRECISIONS, PRESETS
from mrisr.console import NORMAL, QUIET, VERBOSE, console, log, showing_progress
from mrisr.device import DEVICES


def _torchrun(argv: list[str], nproc: int) -> None:
    """Re-run this command as ``nproc`` data-parallel processes under ``torchrun`` (one machine)."""
    import subprocess

    rest, skip = [], False
    for arg in argv:
        if skip or arg.startswith("--nproc="):
            skip = False
            continue
        skip = arg == "--nproc"
        if not skip:
            rest.append(arg)
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc-per-node={nproc}"]
    code = subprocess.run([*command, "-m", "mrisr", *rest], check=False).returncode
    if code != 0:
        raise MRISRError(f"torchrun with {nproc} processes exited with status {code}")


def _train(args: argparse.Namespace) -> None:
    import os

    if args.nproc > 1 and "WORLD_SIZE" not in os.environ:
        _torchrun(args.argv, args.nproc)
        return
    from mrisr.training import train

    config, run_dir = _train_config(args)
    train(config, run_dir, resume=args.resume)


def _train_config(args: argparse.Namespace):
    """The settled config and the run folder of the ``train`` options, checked before any work."""
    from mrisr.config import Config, preset, settle_architecture

    run_dir = Path(args.out)
    if args.config:
        config = Config.load(args.config)
    elif args.resume and (run_dir / "config.yaml").is_file():
        config = Config.load(run_dir / "config.yaml", saved=True)
    else:
        config = preset(args.preset or "cpu")
    if args.preset and (args.config or args.resume):
        raise MRISRError("--preset starts a new config; it cannot be combined with --config or --resume")
    config = settle_architecture(config.override(_train_overrides(args)))
    if not config.train.lr:
        raise MRISRError("train needs LR volumes (--lr), or a --config that lists them")
    if not config.train.hr and config.model.architecture != "planar":
        raise MRISRError(
            f"the {config.model.architecture} model needs HR volumes (--hr); only thick-slice scans (one coarse "
            "axis, e.g. --scale 1 1 4) can train from the scan alone"
        )
    if len(config.train.val_lr) != len(config.train.val_hr):
        raise MRISRError(f"--val-lr has {len(config.train.val_lr)} volumes but --val-hr has {len(config.train.val_hr)}")
    if (run_dir / "checkpoints" / "last.pt").exists() and not args.resume:
        raise MRISRError(f"{run_dir}: holds a run already (use --resume to continue it, or another --out)")
    return config, run_dir


def _run(args: argparse.Namespace) -> None:
    """Train on the scans (their geometry from the headers), then super-resolve each of them with its maps."""
    from mrisr.inference.batch import super_resolve_files
    from mrisr.inference.loaded import LoadedModel
    from mrisr.inference.writing import Companions
    from mrisr.io import list_nifti
    from mrisr.training import train

    output = Path(args.output)
    inputs = list_nifti(args.inputs)
    run_dir = output / "run"
    model_path = run_dir / "model.pt"
    if not model_path.is_file():  # a rerun reuses the model, and resumes an interrupted training
        args.lr, args.out = [str(p) for p in inputs], str(run_dir)
        args.resume = (run_dir / "checkpoints" / "last.pt").is_file()
        config, _ = _train_config(args)
        model_path = train(config, run_dir, resume=args.resume)
    model = LoadedModel.load(model_path, args.device or "auto", command=shlex.join(["mrisr", *args.argv]))
    companions = Companions(uncertainty=output, consistency=output)
    report = super_resolve_files(
        model,
        inputs,
        output,
        companions=companions,
        skip_existing=True,
        progress=showing_progress(),
        flips=DEFAULT_FLIPS,
    )
    log.info(f"{report.summary()}: {output}")
    if report.failed:
        raise MRISRError(report.summary())


def _bids(args: argparse.Namespace) -> None:
    """A BIDS App: the participant level super-resolves, the group level summarises."""
    from mrisr.apps.bids.group import run_group
    from mrisr.apps.bids.participant import BidsOptions, run_participant
    from mrisr.io import list_nifti

    if args.analysis_level == "group":
        table, figure = run_group(args.output_dir)
        log.info(f"group summary: {table}\noverview: {figure}")
        return
    options = BidsOptions(
        participants=args.participant_label or (),
        sessions=args.session_label or (),
        suffixes=args.suffix,
        spacing=args.spacing,
        thickness=args.slice_thickness,
        hr=[str(p) for p in list_nifti(args.hr)] if args.hr else (),
        preset=args.preset,
        steps=args.steps,
        minutes=args.minutes,
        train_scans=args.train_scans,
        per_scan=args.per_scan,
        adapt_steps=args.adapt_steps,
        stage=args.stage,
        shard=args.shard,
        seed=args.seed,
        device=args.device,
        uncertainty=args.uncertainty,
        flips=args.flips,
        command=shlex.join(["mrisr", *args.argv]),
    )
    report = run_participant(args.bids_dir, args.output_dir, options)
    log.info(f"{report.summary()}: {args.output_dir}")
    if report.failed:
        raise MRISRError(f"{report.summary()}; the errors are in {Path(args.output_dir) / 'logs'}")


def _sets_scale(config_path: str | None) -> bool:
    """Whether a ``--config`` file names ``model.scale`` (then the header does not set it)."""
    import yaml

    if not config_path:
        return False
    data = yaml.safe_load(Path(config_path).read_text()) or {}
    return isinstance(data, dict) and "scale" in (data.get("model") or {})


def _train_overrides(args: argparse.Namespace) -> dict[str, dict]:
    """The config changes the ``train`` options ask for, as ``{section: {key: value}}``."""
    from mrisr.acquisition.geometry import protocol_factors
    from mrisr.io import list_nifti

    model: dict = {}
    loss: dict = {}
    train: dict = {name: getattr(args, name) for name in ("seed", "device", "threads", "batch_size")}
    train = {name: value for name, value in train.items() if value is not None}
    for name in ("hr", "lr"):
        if getattr(args, name):
            train[name] = [str(p) for p in list_nifti(getattr(args, name))]
    if args.val_lr or args.val_hr:
        train["val_lr"] = [str(p) for p in list_nifti(args.val_lr or [])]
        train["val_hr"] = [str(p) for p in list_nifti(args.val_hr or [])]
    if args.minutes is not None:
        train.update(minutes=args.minutes, steps=None)
    elif args.steps is not None:
        train.update(steps=args.steps, minutes=None)
    if args.scale:
        model["scale"] = list(tidy_factors(args.scale))
    elif not (args.resume or _sets_scale(args.config)) and train.get("lr"):
        factors, described = protocol_factors(train["lr"], args.spacing, args.slice_thickness)
        log.info(described)
        model["scale"] = list(factors)
    if args.slice_thickness is not None:
        model["slice_thickness"] = args.slice_thickness
    if args.degradation_model:
        model["degradation"] = args.degradation_model
    if args.no_contrastive:
        loss["nce"] = 0.0
    return {"model": model, "loss": loss, "train": train}


def _infer(args: argparse.Namespace) -> None:
    from mrisr.inference.batch import select_shard, super_resolve_files
    from mrisr.inference.loaded import LoadedModel
    from mrisr.inference.writing import Companions, super_resolve_file
    from mrisr.io import list_nifti

    model = LoadedModel.load(args.model, args.device, args.precision, shlex.join(["mrisr", *args.argv]))
    if args.scale and tuple(args.scale) != model.scale:
        raise MRISRError(f"{args.model}: the model's scale is {list(model.scale)}, not the requested {args.scale}")
    inputs = list_nifti(args.inputs)
    output = Path(args.output)
    to_folder = len(inputs) > 1 or any(Path(i).is_dir() for i in args.inputs) or output.is_dir()
    if args.shard:
        inputs = select_shard(inputs, args.shard)
    companions = Companions(
        uncertainty=Path(args.uncertainty) if args.uncertainty else None,
        consistency=Path(args.consistency) if args.consistency else None,
    )
    options = {
        "companions": companions,
        "overwrite": args.overwrite,
        "volume_index": args.volume_index,
        "progress": showing_progress(),
        "max_memory_gb": args.max_memory_gb,
        "allow_nonfinite": args.allow_nonfinite,
        "flips": args.flips,
    }
    if not to_folder:
        log.info(f"{inputs[0]} -> {super_resolve_file(model, inputs[0], output, **options)}")
        for kind, path in (("uncertainty", args.uncertainty), ("consistency", args.consistency)):
            if path:
                log.info(f"  {kind} map {path}")
        return
    report = super_resolve_files(model, inputs, output, skip_existing=args.skip_existing, **options)
    log.info(f"{report.summary()}: {output}")
    if report.failed:
        raise MRISRError(report.summary())


def _evaluate(args: argparse.Namespace) -> None:
    from mrisr.evaluation import evaluate, format_table, write_metrics
    from mrisr.io import check_output_path, load_volume

    out = check_output_path(args.out, overwrite=args.overwrite) if args.out else None
    truth = load_volume(args.truth)
    predictions = {}
    for item in args.pred:
        name, sep, path = item.partition("=")
        if not sep:
            name, path = "mrisr", item
        predictions[name] = load_volume(path).data
    lr = load_volume(args.lr) if args.lr else None
    mask = load_volume(args.mask).data > 0 if args.mask else None
    results = evaluate(truth, predictions, lr=lr, mask=mask, degradation=args.degradation)
    print(format_table(results))
    if out:
        write_metrics(out, results)
        log.info(f"metrics written to {out}")


def _simulate(args: argparse.Namespace) -> None:
    import numpy as np

    from mrisr.acquisition.degradation import DegradationParams, sample_params
    from mrisr.acquisition.simulate import simulate
    from mrisr.io import check_output_path, load_volume, save_volume

    out = check_output_path(args.output, overwrite=args.overwrite)
    volume = load_volume(args.input, volume_index=args.volume_index)
    if args.random:
        params = sample_params(
            np.random.default_rng(args.seed),
            args.scale,
            kind=args.kind,
            fwhm_range=(0.75, 1.5),
            noise_range=(0.0, 0.05),
            bias_strength=0.2,
        )
    else:
        params = DegradationParams(
            scale=tuple(args.scale), kind=args.kind, fwhm=args.fwhm, noise_sigma=args.noise, noise_seed=args.seed
        )
    simulation = simulate(volume, params)
    lr = simulation.lr  # written in the input's units
    save_volume(out, lr.data * simulation.peak, lr.affine, lr.header)
    log.info(f"{args.input} -> {out}  ({params})")


def _demo(args: argparse.Namespace) -> None:
    from mrisr.apps.demo import run_demo

    run_demo(
        args.out,
        paper=args.paper,
        degradation=args.degradation,
        steps=args.steps,
        minutes=args.minutes,
        seed=args.seed,
        overwrite=args.overwrite,
        device=args.device,
        degradation_model=args.degradation_model,
    )


def _report(args: argparse.Namespace) -> None:
    from mrisr.training.monitor import describe_run

    print(describe_run(Path(args.run_dir)))


def _experiment(args: argparse.Namespace) -> None:
    import dataclasses

    from mrisr.apps.experiment.grid import ExperimentConfig
    from mrisr.apps.experiment.run import run_experiment

    if (args.config is None) == (not args.quick):
        raise MRISRError("give a grid YAML or --quick (not both)")
    config = ExperimentConfig.quick() if args.quick else ExperimentConfig.load(args.config)
    part = {name: getattr(args, name) for name in ("methods", "n_hr", "seeds") if getattr(args, name)}
    if args.steps:  # the same grid at another budget (into another --out: rows resume by name, not budget)
        part.update(steps=args.steps, minutes=None)
    if args.degradations:  # a part of the grid, e.g. one per parallel process
        part["degradations"] = [d for d in config.degradations if d.name in args.degradations]
    config = dataclasses.replace(config, **part)
    written = run_experiment(config, args.out, report=not args.no_report)
    log.info(f"{'report tables' if not args.no_report else 'rows'} written to {written}")


def _bench(args: argparse.Namespace) -> None:
    import json

    from mrisr.apps.bench import format_report, run_benchmark
    from mrisr.io import atomic_write, check_output_path

    out = check_output_path(args.out, overwrite=True) if args.out else None
    report = run_benchmark(sizes=args.sizes, scale=args.scale, max_memory_gb=args.max_memory_gb, device=args.device)
    print(format_report(report))
    if out:
        atomic_write(out, lambda tmp: Path(tmp).write_text(json.dumps(report, indent=2) + "\n"))
        log.info(f"benchmark written to {out}")


RUN_UNSET = ("scale", "config", "degradation_model", "val_lr", "val_hr", "threads", "batch_size")
"""``train`` options that ``run`` does not offer: their defaults."""


def _geometry_options(p: argparse.ArgumentParser) -> None:
    """``--spacing`` and ``--slice-thickness``: what the header does not say, or what to make of it."""
    p.add_argument(
        "--spacing",
        nargs="+",
        type=float,
        metavar="MM",
        help="SR voxel size, one value or three (default: the finest in-plane spacing, along the slice axis)",
    )
    p.add_argument(
        "--slice-thickness", type=float, metavar="MM", help="slice thickness (default: the JSON sidecar's, if any)"
    )


def _flips_option(p: argparse.ArgumentParser) -> None:
    """``--flips``: the flip ensemble averaged into each SR."""
    p.add_argument(
        "--flips",
        type=int,
        default=DEFAULT_FLIPS,
        choices=(1, 2, 4, 8),
        help="average the SR over this many flipped passes, each as long as a plain one "
        "(default 4; 1: plain; the gain per model is in docs/USER_GUIDE.md)",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="mrisr", description=__doc__)
    parser.add_argument("--version", action="version", version=f"mrisr {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    scale = {"nargs": 3, "type": int, "metavar": ("FX", "FY", "FZ")}

    p = sub.add_parser("train", help="train on your LR scans and, optionally, unpaired HR volumes")
    p.add_argument(
        "--hr", nargs="+", metavar="DIR|FILE", help="HR volumes of other subjects (optional for thick slices)"
    )
    p.add_argument("--lr", nargs="+", metavar="DIR|FILE", help="low-resolution target volumes")
    p.add_argument(
        "--scale", nargs=3, type=float, metavar=("FX", "FY", "FZ"), help="per-axis factor (default: from the header)"
    )
    _geometry_options(p)
    p.add_argument("--out", required=True, metavar="RUN_DIR", help="the run folder: model.pt, config.yaml, logs")
    budget = p.add_mutually_exclusive_group()
    budget.add_argument("--minutes", type=float, help="training budget in minutes")
    budget.add_argument("--steps", type=int, help="training budget in steps (default 2000)")
    p.add_argument("--config", help="YAML config (see config.yaml in any run folder)")
    p.add_argument(
        "--preset",
        choices=sorted(PRESETS),
        help="starting config: cpu (default), gpu (bigger networks and batches), paper (the 3D unpaired model)",
    )
    p.add_argument("--resume", action="store_true", help="continue the run in RUN_DIR")
    p.add_argument("--no-contrastive", action="store_true", help="no contrastive loss (the paper's ablation)")
    p.add_argument("--degradation-model", choices=DEGRADATION_MODELS, help="learned degradation (default physics)")
    p.add_argument("--val-lr", nargs="+", metavar="DIR|FILE", help="paired validation LR (best-SSIM model)")
    p.add_argument("--val-hr", nargs="+", metavar="DIR|FILE", help="paired validation HR, same order")
    p.add_argument("--seed", type=int, help="random seed (default 0): a run is reproducible")
    p.add_argument(
        "--batch-size",
        type=int,
        help="3D patches per step and process (default 2; the planar model's plane pairs: train.plane_batch_size)",
    )
    p.add_argument("--threads", type=int, help="CPU threads (default: PyTorch's)")
    p.add_argument("--device", choices=DEVICES, help="auto (default): CUDA when present")
    p.add_argument(
        "--nproc",
        type=int,
        default=1,
        help="data-parallel processes on this machine (torchrun); batch size is per process",
    )
    p.set_defaults(func=_train)

    p = sub.add_parser("infer", help="super-resolve NIfTI volumes")
    p.add_argument("--model", required=True, metavar="CKPT", help="a run's model.pt")
    p.add_argument("inputs", nargs="+", metavar="INPUT", help="NIfTI files or folders")
    p.add_argument("-o", "--output", required=True, help="output file, or folder for several inputs")
    p.add_argument("--scale", **scale, help="refuse a model of another scale")
    p.add_argument("--volume-index", type=int, help="the 3D volume to take from a 4D file")
    p.add_argument("--overwrite", action="store_true", help="replace outputs that exist")
    p.add_argument("--skip-existing", action="store_true", help="in folder runs, keep outputs already written")
    p.add_argument("--shard", metavar="I/N", help="process only files I, I+N, I+2N, ... (e.g. one Slurm array task)")
    p.add_argument("--allow-nonfinite", action="store_true", help="set NaN/Inf voxels to 0 with a warning")
    p.add_argument(
        "--max-memory-gb", type=float, default=4.0, help="host memory bound: slab size, and refusal of what cannot fit"
    )
    p.add_argument("--device", default="auto", choices=DEVICES, help="auto: CUDA when present")
    p.add_argument(
        "--precision",
        default="auto",
        choices=PRECISIONS,
        help="auto: bf16 on a GPU that computes it and on a CPU with AMX, else fp32",
    )
    p.add_argument(
        "--uncertainty",
        metavar="PATH",
        help="also write the uncertainty map: the std of the SR's error, learned from the scan's own pairs and "
        "calibrated so that SR +- 2u covers 95 percent of it (a folder for several inputs)",
    )
    p.add_argument(
        "--consistency",
        metavar="PATH",
        help="also write degrade(SR) - input on the input's grid (a folder for several inputs)",
    )
    _flips_option(p)
    p.set_defaults(func=_infer)

    p = sub.add_parser("run", help="train on your scans (geometry from their headers), then super-resolve each of them")
    p.add_argument("inputs", nargs="+", metavar="SCAN|DIR", help="scans of one protocol (NIfTI, with JSON sidecars)")
    p.add_argument("-o", "--output", required=True, help="folder: OUTPUT/<scan>_sr.nii.gz, maps, sidecars, run/")
    p.add_argument("--hr", nargs="+", metavar="DIR|FILE", help="HR volumes of other subjects (optional)")
    _geometry_options(p)
    budget = p.add_mutually_exclusive_group()
    budget.add_argument("--minutes", type=float, help="training budget in minutes")
    budget.add_argument("--steps", type=int, help="training budget in steps (default 2000)")
    p.add_argument("--preset", choices=sorted(PRESETS), help="starting config (default cpu)")
    p.add_argument("--seed", type=int, help="random seed (default 0)")
    p.add_argument("--device", choices=DEVICES, help="auto (default): CUDA when present")
    p.set_defaults(func=_run, **dict.fromkeys(RUN_UNSET), nproc=1, resume=False, no_contrastive=False)

    p = sub.add_parser(
        "bids", help="a BIDS App: super-resolve a BIDS dataset's anatomical scans into a derivatives dataset"
    )
    p.add_argument("bids_dir", metavar="BIDS_DIR", help="the BIDS dataset (read only)")
    p.add_argument("output_dir", metavar="OUTPUT_DIR", help="the derivatives dataset (made if missing)")
    p.add_argument(
        "analysis_level",
        choices=("participant", "group"),
        help="participant: train one model per protocol and super-resolve; group: summary table and overview",
    )
    p.add_argument("--participant-label", nargs="+", metavar="LABEL", help="only these subjects (default: all)")
    p.add_argument("--session-label", nargs="+", metavar="LABEL", help="only these sessions (default: all)")
    p.add_argument("--suffix", nargs="+", default=list(DEFAULT_SUFFIXES), help="the anatomical contrasts to do")
    _geometry_options(p)
    p.add_argument("--hr", nargs="+", metavar="DIR|FILE", help="HR volumes of other subjects (optional)")
    p.add_argument("--preset", default="cpu", choices=sorted(PRESETS), help="starting config of every model")
    budget = p.add_mutually_exclusive_group()
    budget.add_argument("--minutes", type=float, help="training budget of each model, in minutes")
    budget.add_argument("--steps", type=int, help="training budget of each model, in steps (default 2000)")
    p.add_argument(
        "--train-scans",
        type=int,
        default=3,
        metavar="K",
        help="scans of each protocol its model learns from, spread over the protocol (default 3)",
    )
    p.add_argument("--per-scan", action="store_true", help="one model per scan instead of one per protocol")
    p.add_argument(
        "--adapt-steps",
        type=int,
        default=0,
        metavar="N",
        help="adapt the protocol's model to each scan in N steps before super-resolving it (default 0: none)",
    )
    p.add_argument(
        "--stage",
        default="all",
        choices=("all", "train", "infer"),
        help="all; or train the models, then infer, as two cluster array jobs",
    )
    p.add_argument(
        "--shard", metavar="I/N", help="this task's share: protocols at the all and train stages, scans at infer"
    )
    p.add_argument(
        "--uncertainty",
        action="store_true",
        help="also write each scan's uncertainty map (learned from the scan's own pairs: "
        "a few times the SR's time, docs/PERFORMANCE.md)",
    )
    _flips_option(p)
    p.add_argument("--seed", type=int, default=0, help="random seed of every model")
    p.add_argument("--device", default="auto", choices=DEVICES, help="auto: CUDA when present")
    p.set_defaults(func=_bids)

    p = sub.add_parser("evaluate", help="PSNR/SSIM against a ground truth, with interpolation baselines")
    p.add_argument("--truth", required=True, help="the high-resolution truth, on the SR grid")
    p.add_argument("--pred", nargs="+", default=[], metavar="[NAME=]FILE", help="volumes on the truth's grid")
    p.add_argument("--lr", help="the LR input: adds trilinear/cubic baselines and data consistency")
    p.add_argument("--mask", help="foreground mask (default: thresholded truth)")
    p.add_argument(
        "--degradation",
        default="gaussian",
        choices=KINDS,
        help="forward model of the data-consistency check",
    )
    p.add_argument("--out", help="write metrics.json here")
    p.add_argument("--overwrite", action="store_true", help="replace an existing metrics file")
    p.set_defaults(func=_evaluate)

    p = sub.add_parser("simulate", help="make a low-resolution NIfTI from a high-resolution one")
    p.add_argument("input", help="a high-resolution NIfTI")
    p.add_argument("-o", "--output", required=True, help="the simulated low-resolution NIfTI")
    p.add_argument("--scale", **scale, default=[2, 2, 2], help="per-axis factor of the acquisition")
    p.add_argument("--kind", default="gaussian", choices=KINDS, help="slice profile + decimation, or k-space crop")
    p.add_argument("--fwhm", nargs=3, type=float, help="slice profile per axis in HR voxels (default: the factor)")
    p.add_argument("--noise", type=float, default=0.0, help="Rician sigma relative to the 99.9th percentile")
    p.add_argument("--random", action="store_true", help="draw FWHM, noise and bias field at random")
    p.add_argument("--seed", type=int, default=0, help="seed of the noise and of --random")
    p.add_argument("--volume-index", type=int, help="the 3D volume to take from a 4D file")
    p.add_argument("--overwrite", action="store_true", help="replace an existing output")
    p.set_defaults(func=_simulate)

    p = sub.add_parser("experiment", help="the paper's experiment: quality vs number of HR volumes")
    p.add_argument("config", nargs="?", help="grid YAML, e.g. experiments/n1_gaussian.yaml")
    p.add_argument("--quick", action="store_true", help="a tiny grid (about a minute) that checks the pipeline")
    p.add_argument("--out", default="results", help="rows are appended to OUT/runs.csv; reruns resume")
    p.add_argument("--degradations", nargs="+", metavar="NAME", help="only these panels of the grid")
    p.add_argument("--methods", nargs="+", metavar="METHOD", help="only these methods")
    p.add_argument("--n-hr", nargs="+", type=int, metavar="N", help="only these numbers of HR volumes")
    p.add_argument("--seeds", nargs="+", type=int, metavar="SEED", help="only these seeds")
    p.add_argument("--steps", type=int, metavar="N", help="train every run for N steps instead of the grid's budget")
    p.add_argument("--no-report", action="store_true", help="only add rows (parts of a grid run in parallel)")
    p.set_defaults(func=_experiment)

    p = sub.add_parser("bench", help="speed and memory on this machine: roofline, training, inference, options")
    p.add_argument("--sizes", nargs="+", type=int, default=[128, 192, 256], help="output edge lengths to time")
    p.add_argument("--scale", **scale, default=[2, 2, 2], help="per-axis factor of the timed models")
    p.add_argument("--max-memory-gb", type=float, default=4.0, help="the inference memory bound")
    p.add_argument("--out", help="also write the measurements as JSON here")
    p.add_argument("--device", default="auto", choices=DEVICES, help="auto: CUDA when present")
    p.set_defaults(func=_bench)

    p = sub.add_parser("report", help="summarise a training run: budget, config, learned degradation")
    p.add_argument("run_dir", metavar="RUN_DIR", help="a training run's folder")
    p.set_defaults(func=_report)

    p = sub.add_parser(
        "demo", help="the whole pipeline on packaged real MRI: Colin27 as oblique thick slices, super-resolved"
    )
    p.add_argument("--out", default="mrisr-demo", help="the demo's folder")
    p.add_argument(
        "--paper", action="store_true", help="the paper's case instead: isotropic 2x2x2, three unpaired HR templates"
    )
    p.add_argument(
        "--degradation", default="gaussian", choices=KINDS, help="with --paper: how Colin27's LR is simulated"
    )
    p.add_argument(
        "--degradation-model", default="physics", choices=DEGRADATION_MODELS, help="with --paper: what mrisr learns"
    )
    budget = p.add_mutually_exclusive_group()
    budget.add_argument("--steps", type=int, help="training budget in steps (default 1200; 2000 with --paper)")
    budget.add_argument(
        "--minutes", type=float, help="training budget in minutes instead (scores then depend on the machine)"
    )
    p.add_argument("--seed", type=int, default=0, help="random seed: the demo is reproducible")
    p.add_argument("--device", default="auto", choices=DEVICES, help="auto: CUDA when present")
    p.add_argument("--overwrite", action="store_true", help="replace an earlier demo in the folder")
    p.set_defaults(func=_demo)

    for p in sub.choices.values():
        voice = p.add_mutually_exclusive_group()
        voice.add_argument("-q", "--quiet", action="store_true", help="warnings and errors only, no progress bars")
        voice.add_argument(
            "-v", "--verbose", action="store_true", help="every warning in full, and the details of each step"
        )
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = build_parser().parse_args(argv)
    args.argv = argv
    level = QUIET if args.quiet else VERBOSE if args.verbose else NORMAL
    try:
        with console(level):
            args.func(args)
    except MRISRError as err:
        print(f"mrisr {args.command}: error: {err}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"mrisr {args.command}: interrupted", file=sys.stderr)
        return 130
    return 0
