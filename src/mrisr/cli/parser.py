"""The command line: every command, its options and their help, in one parser (``docs/REFERENCE.md`` is made
from it by :mod:`mrisr.cli.reference`)."""

from __future__ import annotations

import argparse

from mrisr import __version__
from mrisr.acquisition.forward import KINDS
from mrisr.apps.bids.layout import DEFAULT_SUFFIXES
from mrisr.cli import commands
from mrisr.config import DEFAULT_FLIPS, DEGRADATION_MODELS, PRECISIONS, PRESETS
from mrisr.device import DEVICES

DESCRIPTION = """mrisr: MRI super-resolution without paired training data. Train on your low-resolution scans
(and, optionally, unpaired high-resolution volumes of other people), super-resolve NIfTI files with trust maps,
and score the results. Run "mrisr COMMAND --help" for the options of a command."""


RUN_UNSET = ("lr", "scale", "config", "degradation_model", "val_lr", "val_hr", "threads", "batch_size")
"""``train`` options that ``run`` does not offer: their defaults."""


def geometry_options(p: argparse.ArgumentParser) -> None:
    """``--spacing`` and ``--slice-thickness``: what the header does not say, or what to make of it."""
    p.add_argument(
        "--spacing",
        nargs="+",
        type=float,
        metavar="MM",
        help="SR voxel size, one value or three (default: the in-plane resolution, isotropic; a coarser "
        "in-plane value resamples the pixels to it)",
    )
    p.add_argument(
        "--slice-thickness", type=float, metavar="MM", help="slice thickness (default: the JSON sidecar's, if any)"
    )


def budget_options(p: argparse.ArgumentParser, of: str = "", steps: str = "2000", minutes: str = "") -> None:
    """``--minutes`` or ``--steps``: how long a model trains."""
    budget = p.add_mutually_exclusive_group()
    budget.add_argument("--minutes", type=float, help=f"training budget{of} in minutes{minutes}")
    budget.add_argument("--steps", type=int, help=f"training budget{of} in steps (default {steps})")


def flips_option(p: argparse.ArgumentParser) -> None:
    """``--flips``: the flip ensemble averaged into each SR."""
    p.add_argument(
        "--flips",
        type=int,
        default=DEFAULT_FLIPS,
        choices=(1, 2, 4, 8),
        help="average the SR over this many flipped passes, each as long as a plain one "
        "(default 4; 1: plain; the gain per model is in docs/USER_GUIDE.md)",
    )


def memory_option(p: argparse.ArgumentParser, when: str = "") -> None:
    """``--max-memory-gb``: the host memory bound of every super-resolution."""
    p.add_argument(
        "--max-memory-gb",
        type=float,
        default=4.0,
        metavar="G",
        help=f"host memory bound of each SR and its maps: slab size, and refusal of what cannot fit{when}",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="mrisr", description=DESCRIPTION)
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
    geometry_options(p)
    p.add_argument("--out", required=True, metavar="RUN_DIR", help="the run folder: model.pt, config.yaml, logs")
    budget_options(p)
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
    p.set_defaults(func=commands.train)

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
    memory_option(p)
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
    flips_option(p)
    p.set_defaults(func=commands.infer_command)

    p = sub.add_parser("run", help="train on your scans (geometry from their headers), then super-resolve each of them")
    p.add_argument("inputs", nargs="+", metavar="SCAN|DIR", help="scans of one protocol (NIfTI, with JSON sidecars)")
    p.add_argument("-o", "--output", required=True, help="folder: OUTPUT/<scan>_sr.nii.gz, maps, sidecars, run/")
    p.add_argument("--hr", nargs="+", metavar="DIR|FILE", help="HR volumes of other subjects (optional)")
    geometry_options(p)
    budget_options(p)
    p.add_argument("--preset", choices=sorted(PRESETS), help="starting config (default cpu)")
    p.add_argument("--seed", type=int, help="random seed (default 0)")
    p.add_argument("--device", choices=DEVICES, help="auto (default): CUDA when present")
    memory_option(p, " (checked for every scan before training)")
    p.set_defaults(func=commands.run, **dict.fromkeys(RUN_UNSET), no_contrastive=False)

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
    geometry_options(p)
    p.add_argument("--hr", nargs="+", metavar="DIR|FILE", help="HR volumes of other subjects (optional)")
    p.add_argument("--preset", default="cpu", choices=sorted(PRESETS), help="starting config of every model")
    budget_options(p, " of each model")
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
    flips_option(p)
    memory_option(p, " (checked for a protocol's scans before its model trains)")
    p.add_argument("--seed", type=int, default=0, help="random seed of every model")
    p.add_argument("--device", default="auto", choices=DEVICES, help="auto: CUDA when present")
    p.set_defaults(func=commands.bids)

    p = sub.add_parser("evaluate", help="PSNR/SSIM against a ground truth, with interpolation baselines")
    p.add_argument("--truth", required=True, help="the high-resolution truth, on the SR grid")
    p.add_argument("--pred", nargs="+", default=[], metavar="[NAME=]FILE", help="volumes on the truth's grid")
    p.add_argument("--lr", help="the LR input: adds trilinear/cubic baselines and data consistency")
    p.add_argument("--mask", help="head mask of psnr_fg/ssim_fg (default: thresholded truth)")
    p.add_argument(
        "--degradation",
        default="gaussian",
        choices=KINDS,
        help="forward model of the data-consistency check",
    )
    p.add_argument(
        "--tissues",
        action="store_true",
        help="add CSF/grey/white-matter Dice and volume error per method (Atropos; needs mrisr[tissues])",
    )
    p.add_argument("--brain-mask", metavar="FILE", help="brain mask on the truth's grid: where --tissues segments")
    p.add_argument(
        "--tissue-contrast",
        default="t1",
        choices=("t1", "t2"),
        help="how the tissues order by brightness (t1: CSF darkest; t2: CSF brightest)",
    )
    p.add_argument("--out", help="write metrics.json here")
    p.add_argument("--overwrite", action="store_true", help="replace an existing metrics file")
    p.set_defaults(func=commands.evaluate)

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
    p.set_defaults(func=commands.simulate)

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
    p.set_defaults(func=commands.experiment)

    p = sub.add_parser("bench", help="speed and memory on this machine: roofline, training, inference, options")
    p.add_argument("--sizes", nargs="+", type=int, default=[128, 192, 256], help="output edge lengths to time")
    p.add_argument("--scale", **scale, default=[2, 2, 2], help="per-axis factor of the timed models")
    p.add_argument("--max-memory-gb", type=float, default=4.0, help="the inference memory bound")
    p.add_argument("--out", help="also write the measurements as JSON here")
    p.add_argument("--device", default="auto", choices=DEVICES, help="auto: CUDA when present")
    p.set_defaults(func=commands.bench_command)

    p = sub.add_parser("report", help="summarise a training run: budget, config, learned degradation")
    p.add_argument("run_dir", metavar="RUN_DIR", help="a training run's folder")
    p.set_defaults(func=commands.report)

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
    budget_options(p, steps="1200; 2000 with --paper", minutes=" instead (scores then depend on the machine)")
    p.add_argument("--seed", type=int, default=0, help="random seed: the demo is reproducible")
    p.add_argument("--device", default="auto", choices=DEVICES, help="auto: CUDA when present")
    p.add_argument("--overwrite", action="store_true", help="replace an earlier demo in the folder")
    p.set_defaults(func=commands.demo)

    for p in sub.choices.values():
        voice = p.add_mutually_exclusive_group()
        voice.add_argument("-q", "--quiet", action="store_true", help="warnings and errors only, no progress bars")
        voice.add_argument(
            "-v", "--verbose", action="store_true", help="every warning in full, and the details of each step"
        )
    return parser
