"""The paper's experiment on real MRI: SR quality vs the number of HR training volumes, with and without the
contrastive loss, next to interpolation and supervised baselines (Li et al. 2023, Fig. 3).

Colin27 is the test subject: its LR version (simulated per degradation) is the LR target of training, its
HR truth is used only for scoring. The HR source pool is the packaged templates, taken in a fixed order.
Every trained run appends one row to ``runs.csv`` as soon as it is scored, so an interrupted grid resumes
where it stopped; :func:`mrisr.apps.experiment.report.write_report` turns the rows into tables and figures.
"""

from __future__ import annotations

import csv
import io
import itertools
import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mrisr import MRISRError, datasets
from mrisr.acquisition.simulate import simulate
from mrisr.apps.experiment.grid import DegradationSpec, ExperimentConfig, method_config
from mrisr.apps.experiment.report import FIG2_SR, read_rows, write_report
from mrisr.apps.experiment.subjects import HR_POOL, hr_sources
from mrisr.config import Config
from mrisr.evaluation import evaluate
from mrisr.inference.loaded import LoadedModel
from mrisr.intensity import intensity_scale
from mrisr.io import Volume, atomic_write, load_volume, save_volume
from mrisr.training import train

FIELDS = [
    "degradation",
    "method",
    "n_hr",
    "seed",
    "psnr",
    "ssim",
    "psnr_fg",
    "ssim_fg",
    "consistency_psnr",
    "train_seconds",
    "steps",
]


@dataclass
class TestCase:
    """One panel's data: Colin27's truth and simulated LR, and the same degradation of every template
    (the LR target of the strict variant, which never sees the test volume in training)."""

    spec: DegradationSpec
    truth: Volume
    lr: Volume
    lr_path: Path
    truth_path: Path  # the truth as a file: the HR source of the truth-supervised diagnostic
    template_lr_paths: dict[str, Path]
    true_sigma: float  # the noise level in units of the LR's own 99.9th percentile, as the model sees it


def prepare_case(spec: DegradationSpec, out: Path) -> TestCase:
    """Write Colin27's LR and the degraded templates for one degradation, once."""
    colin = simulate(load_volume(datasets.colin27()), spec.params())
    truth, lr = colin.truth, colin.lr
    lr_path = out / "data" / f"colin27_{spec.name}.nii.gz"
    save_volume(lr_path, lr.data, lr.affine, lr.header)
    truth_path = out / "data" / f"colin27_hr_{spec.name}.nii.gz"
    save_volume(truth_path, truth.data, truth.affine, truth.header)
    template_lr_paths = {}
    for name in HR_POOL:
        path = out / "data" / f"{name}_{spec.name}.nii.gz"
        if not path.is_file():
            template = simulate(load_volume(datasets.template(name)), spec.params()).lr
            save_volume(path, template.data, template.affine, template.header)
        template_lr_paths[name] = path
    sigma = spec.noise_sigma / intensity_scale(lr.data, 99.9)
    return TestCase(spec, truth, lr, lr_path, truth_path, template_lr_paths, sigma)


def run_experiment(config: ExperimentConfig, out_dir: str | Path, *, report: bool = True) -> Path:
    """Run every (degradation, n_hr, method, seed) not yet in ``runs.csv``; then write the report (unless
    ``report`` is false: a part of a grid run in parallel with the others)."""
    out = Path(out_dir)
    (out / "data").mkdir(parents=True, exist_ok=True)
    table = out / "runs.csv"
    done = {tuple(r[k] for k in ("degradation", "method", "n_hr", "seed")) for r in read_rows(table)}
    for spec in config.degradations:
        case = prepare_case(spec, out)
        baselines = out / "data" / f"baselines_{spec.name}.json"
        if not baselines.is_file():
            scores = evaluate(case.truth, {}, lr=case.lr, degradation=spec.kind)
            atomic_write(baselines, lambda tmp, scores=scores: Path(tmp).write_text(json.dumps(scores, indent=2)))
        for n, method, seed in itertools.product(config.n_hr, config.methods, config.seeds):
            if (spec.name, method, str(n), str(seed)) in done:
                continue
            try:
                append_row(table, run_one(case, method, n, seed, config, out))
            except MRISRError as err:  # a method that does not apply to this panel (noted, not fatal)
                print(f"skipped {spec.name} {method} n={n} seed={seed}: {err}")
    return write_report(out) if report else table


def method_run_config(case: TestCase, method: str, n: int, seed: int, config: ExperimentConfig, out: Path) -> Config:
    """The training config of one run: the data and budget of the grid, then the method's overrides, all
    through the strict config path (a mistyped key is an error).

    A method name ending in ``-strict`` trains on the degraded templates that are not HR sources instead
    of on Colin27's LR: the test volume is then never seen in training, not even at low resolution.
    ``truth-supervised`` takes Colin27's own HR as its HR source (a diagnostic of the network's reach).
    """
    base, strict = method.removesuffix("-strict"), method.endswith("-strict")
    lr = [str(case.lr_path)]
    if strict:
        lr = [str(p) for name, p in case.template_lr_paths.items() if name not in HR_POOL[:n]]
        if not lr:
            raise MRISRError(f"{method}: with n_hr = {n} no template is left to be the LR target")
    hr = [str(path) for path in hr_sources(n, out / "data")]
    if base == "truth-supervised":
        hr = [str(case.truth_path)]
    train = {"hr": hr, "lr": lr, "seed": seed, "minutes": config.minutes, "steps": config.steps}
    run_config = Config().override({"model": {"scale": list(case.spec.scale)}, "train": train})
    return run_config.override(method_config(base, case.spec, case.true_sigma))


def run_one(case: TestCase, method: str, n: int, seed: int, config: ExperimentConfig, out: Path) -> dict[str, Any]:
    """Train one configuration (:func:`method_run_config`), super-resolve Colin27's LR and score it."""
    run_config = method_run_config(case, method, n, seed, config, out)
    run_dir = out / "runs" / f"{case.spec.name}_{method}_n{n}_s{seed}"
    started = time.perf_counter()
    model = LoadedModel.load(train(run_config, run_dir), run_config.train.device, precision="fp32")
    seconds = time.perf_counter() - started
    sr = model.super_resolve(case.lr.data)
    if n == 1 and seed == 0:  # the run Fig. 2 shows
        save_volume(run_dir / FIG2_SR, sr, case.truth.affine, case.truth.header)
    scores = evaluate(case.truth, {method: sr}, lr=case.lr, degradation=case.spec.kind, baselines=False)[method]
    return {
        "degradation": case.spec.name,
        "method": method,
        "n_hr": n,
        "seed": seed,
        **scores,
        "train_seconds": round(seconds, 1),
        "steps": model.meta["step"],
    }


def append_row(table: Path, row: dict[str, Any]) -> None:
    """One row, in one ``write`` to a file opened for appending, so that parallel grids can share the table."""
    try:
        with open(table, "x") as f:  # exclusive creation: exactly one process writes the header
            f.write(",".join(FIELDS) + "\n")
    except FileExistsError:
        pass
    buffer = io.StringIO()
    csv.DictWriter(buffer, fieldnames=FIELDS).writerow(
        {k: (round(v, 4) if isinstance(v, float) else v) for k, v in row.items()}
    )
    with open(table, "a", newline="") as f:
        f.write(buffer.getvalue())
