"""The paper's experiment on real MRI: SR quality vs the number of HR training volumes, with and without the
contrastive loss, next to interpolation and supervised baselines (Li et al. 2023, Fig. 3).

Colin27 is the test subject: its LR version (simulated per degradation) is the LR target of training, its
HR truth is used only for scoring. The HR source pool is the packaged templates, taken in a fixed order.
Every trained run appends one row to ``runs.csv`` as soon as it is scored, so an interrupted grid resumes
where it stopped; :func:`write_report` turns the rows into tables and figures.
"""

from __future__ import annotations

import csv
import io
import itertools
import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from mrisr import MRISRError, datasets
from mrisr.checkpoint import load_model
from mrisr.config import Config
from mrisr.data import intensity_scale
from mrisr.degradation import DegradationParams, crop_to_multiple, default_fwhm, degrade
from mrisr.demo import simulate_colin27
from mrisr.device import resolve_device
from mrisr.evaluation import evaluate, interpolate
from mrisr.figures import comparison_figure
from mrisr.inference import super_resolve_array
from mrisr.io import Volume, atomic_write, coarsen_affine, first_line, load_volume, save_volume
from mrisr.training import train

HR_POOL = ("mni2009a", "mni6gen", "pydeface-mean")  # the real HR sources; beyond three, synthetic subjects
FIG2_METHODS = (
    "supervised-estimated-noise",
    "mrisr-free",
    "mrisr-nonce",
    "mrisr",
    "mrisr-contrast",
    "mrisr-wide",
    "oracle",
)
"""The methods of the sagittal figure, in this order (all of them are in the tables)."""
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
class DegradationSpec:
    """One simulated target acquisition of Colin27 (a panel of the report)."""

    name: str
    kind: str = "gaussian"
    factors: tuple[int, int, int] = (2, 2, 2)
    noise_sigma: float = 0.0

    def params(self) -> DegradationParams:
        return DegradationParams(factors=tuple(self.factors), kind=self.kind, noise_sigma=self.noise_sigma)


@dataclass
class ExperimentConfig:
    degradations: list[DegradationSpec] = field(
        default_factory=lambda: [
            DegradationSpec("kspace-2x2x2", "kspace"),
            DegradationSpec("gaussian-rician-2x2x2", "gaussian", (2, 2, 2), 0.02),
            DegradationSpec("thick-1x1x4", "gaussian", (1, 1, 4), 0.0),
        ]
    )
    methods: list[str] = field(default_factory=lambda: ["mrisr", "mrisr-nonce", "supervised-assumed", "oracle"])
    n_hr: list[int] = field(default_factory=lambda: [1, 2, 3])
    seeds: list[int] = field(default_factory=lambda: [0, 1, 2])
    minutes: float | None = 2.0
    steps: int | None = None

    @classmethod
    def quick(cls) -> ExperimentConfig:
        """A tiny grid (3 training steps per run, about a minute) that checks the pipeline, not the numbers."""
        return cls(
            degradations=[DegradationSpec("gaussian-rician-2x2x2", "gaussian", (2, 2, 2), 0.02)],
            methods=["mrisr", "mrisr-strict", "oracle"],
            n_hr=[1],
            seeds=[0],
            minutes=None,
            steps=3,
        )

    @classmethod
    def load(cls, path: str | Path) -> ExperimentConfig:
        """Read a grid YAML; omitted keys keep the defaults, unknown keys are an error."""
        try:
            data = yaml.safe_load(Path(path).read_text()) or {}
            data["degradations"] = [
                DegradationSpec(**{**d, "factors": tuple(d.get("factors", (2, 2, 2)))})
                for d in data.get("degradations", [])
            ] or cls().degradations
            return cls(**data)
        except (OSError, yaml.YAMLError, TypeError, AttributeError) as err:
            raise MRISRError(f"{path}: not a valid experiment config ({first_line(err)})") from None


def method_config(method: str, spec: DegradationSpec, true_sigma: float) -> dict[str, dict[str, Any]]:
    """Config overrides that turn the unpaired model into each method of the experiment.

    The supervised baselines are the same network trained on (HR, known degradation(HR)) pairs only: the
    slice profile is frozen, the noise is fixed, and the adversarial and contrastive terms are off, so that
    the cycle loss is a plain supervised loss. ``oracle`` knows the true degradation; ``supervised-assumed``
    assumes a profile half as wide and no noise (what one would do without unpaired training);
    ``supervised-estimated-noise`` takes the noise level from the LR air and the same assumed profile.
    """
    supervised_loss = {"sty": 0.0, "align": 0.0, "nce": 0.0}
    assumed_fwhm = [0.5 * f if f > 1 else 0.0 for f in spec.factors]
    methods = {
        "mrisr": {},
        "mrisr-nonce": {"loss": {"nce": 0.0}},
        "mrisr-free": {"model": {"degradation": "free"}},
        "mrisr-hybrid": {"model": {"degradation": "hybrid"}},
        "mrisr-wide": {"model": {"width": 64}},
        "mrisr-contrast": {"model": {"contrast": True}},
        "mrisr-true-profile": {"model": {"fixed_fwhm": list(default_fwhm(spec.factors))}},  # diagnostic
        "mrisr-learned-profile": {"model": {"profile": "learn"}},
        "mrisr-nonce-learned-profile": {"model": {"profile": "learn"}, "loss": {"nce": 0.0}},
        "oracle": {
            "model": {"fixed_fwhm": list(default_fwhm(spec.factors)), "noise_sigma": true_sigma},
            "loss": supervised_loss,
        },
        "supervised-assumed": {"model": {"fixed_fwhm": assumed_fwhm, "noise_sigma": 0.0}, "loss": supervised_loss},
        "supervised-estimated-noise": {"model": {"fixed_fwhm": assumed_fwhm}, "loss": supervised_loss},
    }
    if method not in methods:
        raise MRISRError(f"unknown method {method!r}; choose from {sorted(methods)}")
    if method == "oracle" and spec.kind != "gaussian":
        raise MRISRError("the oracle needs a Gaussian-profile degradation (the k-space one is not in torch yet)")
    return methods[method]


@dataclass
class TestCase:
    """One panel's data: Colin27's truth and simulated LR, and the same degradation of every template
    (the LR target of the strict variant, which never sees the test volume in training)."""

    spec: DegradationSpec
    truth: Volume
    lr: Volume
    lr_path: Path
    template_lr_paths: dict[str, Path]
    true_sigma: float  # the noise level in units of the LR's own 99.9th percentile, as the model sees it


def simulate(hr: np.ndarray, spec: DegradationSpec) -> np.ndarray:
    """Crop to the factors, scale to [0, 1] by the 99.9th percentile, degrade."""
    hr = crop_to_multiple(hr, spec.factors)
    return degrade(hr / intensity_scale(hr, 99.9), spec.params())


def prepare_case(spec: DegradationSpec, out: Path) -> TestCase:
    """Write Colin27's LR and the degraded templates for one degradation, once."""
    truth, lr = simulate_colin27(spec.params())
    lr_path = out / "data" / f"colin27_{spec.name}.nii.gz"
    save_volume(lr_path, lr.data, lr.affine, lr.header)
    save_volume(out / "data" / f"colin27_hr_{spec.name}.nii.gz", truth.data, truth.affine, truth.header)
    template_lr_paths = {}
    for name in HR_POOL:
        path = out / "data" / f"{name}_{spec.name}.nii.gz"
        if not path.is_file():
            template = load_volume(datasets.template(name))
            save_volume(path, simulate(template.data, spec), coarsen_affine(template.affine, spec.factors))
        template_lr_paths[name] = path
    return TestCase(spec, truth, lr, lr_path, template_lr_paths, spec.noise_sigma / intensity_scale(lr.data, 99.9))


def hr_sources(n: int, folder: Path) -> list[Path]:
    """The first ``n`` HR training volumes: the real templates of ``HR_POOL``, then synthetic subjects."""
    real = [datasets.template(name) for name in HR_POOL[:n]]
    return real + [synthetic_subject(k, folder) for k in range(n - len(real))]


def synthetic_subject(index: int, folder: Path) -> Path:
    """``synthetic-K.nii.gz``: a *synthetic* HR subject, not a person. A real template (taken in turn) under a
    random smooth deformation (MONAI ``Rand3DElastic``: rotation up to ±6°, scaling ±8%, elastic displacement
    of a few voxels) and a gamma in [0.85, 1.15], seeded by ``index``; written once into ``folder``."""
    path = folder / f"synthetic-{index}.nii.gz"
    if path.is_file():
        return path
    from monai.transforms import Rand3DElastic  # slow import, needed only here

    source = load_volume(datasets.template(HR_POOL[index % len(HR_POOL)]))
    warp = Rand3DElastic(
        sigma_range=(6, 9),
        magnitude_range=(80, 160),
        prob=1.0,
        rotate_range=(0.1, 0.1, 0.1),
        scale_range=(0.08, 0.08, 0.08),
        mode="bilinear",
        padding_mode="zeros",
    )
    warp.set_random_state(index)
    data = np.asarray(warp(source.data[None]))[0].clip(min=0)
    peak = intensity_scale(data, 99.9)
    gamma = np.random.default_rng(index).uniform(0.85, 1.15)
    save_volume(path, (peak * (data / peak) ** gamma).astype(np.float32), source.affine, source.header)
    return path


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


def run_one(case: TestCase, method: str, n: int, seed: int, config: ExperimentConfig, out: Path) -> dict[str, Any]:
    """Train one configuration, super-resolve Colin27's LR and score it.

    A method name ending in ``-strict`` trains on the degraded templates that are not HR sources instead
    of on Colin27's LR: the test volume is then never seen in training, not even at low resolution.
    """
    base, strict = method.removesuffix("-strict"), method.endswith("-strict")
    hr_names = HR_POOL[:n]
    run_config = Config()
    run_config.model.scale = tuple(case.spec.factors)
    run_config.train.hr = [str(path) for path in hr_sources(n, out / "data")]
    run_config.train.lr = [str(case.lr_path)]
    if strict:
        run_config.train.lr = [str(p) for name, p in case.template_lr_paths.items() if name not in hr_names]
        if not run_config.train.lr:
            raise MRISRError(f"{method}: with n_hr = {n} no template is left to be the LR target")
    run_config.train.seed = seed
    run_config.train.minutes, run_config.train.steps = config.minutes, config.steps
    for section, values in method_config(base, case.spec, case.true_sigma).items():
        for key, value in values.items():
            setattr(getattr(run_config, section), key, tuple(value) if isinstance(value, list) else value)
    run_dir = out / "runs" / f"{case.spec.name}_{method}_n{n}_s{seed}"
    started = time.perf_counter()
    device = resolve_device(run_config.train.device)
    model, meta = load_model(train(run_config, run_dir), device)
    seconds = time.perf_counter() - started
    sr = super_resolve_array(model, case.lr.data, device=device)
    scores = evaluate(case.truth, {method: sr}, lr=case.lr, degradation=case.spec.kind, baselines=False)[method]
    return {
        "degradation": case.spec.name,
        "method": method,
        "n_hr": n,
        "seed": seed,
        **scores,
        "train_seconds": round(seconds, 1),
        "steps": meta["step"],
    }


def read_rows(table: Path) -> list[dict[str, str]]:
    if not table.is_file():
        return []
    with open(table, newline="") as f:
        return list(csv.DictReader(f))


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


def summarise(rows: list[dict[str, str]]) -> dict[str, dict[str, dict[str, dict[str, float]]]]:
    """mean and std over seeds: ``{degradation: {method: {n_hr: {metric_mean, metric_std, runs}}}}``."""
    groups: dict[tuple[str, str, str], list[dict[str, str]]] = {}
    for r in rows:
        groups.setdefault((r["degradation"], r["method"], r["n_hr"]), []).append(r)
    summary: dict = {}
    for (deg, method, n), runs in sorted(groups.items()):
        stats = {"runs": len(runs)}
        for metric in ("psnr", "ssim", "psnr_fg", "ssim_fg", "consistency_psnr", "train_seconds"):
            values = np.array([float(r[metric]) for r in runs])
            stats[f"{metric}_mean"], stats[f"{metric}_std"] = float(values.mean()), float(values.std())
        summary.setdefault(deg, {}).setdefault(method, {})[n] = stats
    return summary


def write_report(out_dir: str | Path) -> Path:
    """``summary.json``, one Fig. 3-style plot per degradation, and the tables of ``REPORT_TABLES.md``."""
    out = Path(out_dir)
    summary = summarise(read_rows(out / "runs.csv"))
    (out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    lines = []
    for deg, methods in summary.items():
        baselines = json.loads((out / "data" / f"baselines_{deg}.json").read_text())
        plot_panel(deg, methods, baselines, out / f"fig3_{deg}.png")
        plot_slices(deg, [m for m in FIG2_METHODS if m in methods], out)
        lines += [
            f"### {deg}",
            "",
            "| method | n_HR | runs | PSNR | SSIM | PSNR fg | SSIM fg | consistency | train s |",
            "|---|---|---|---|---|---|---|---|---|",
        ]
        for name, b in baselines.items():
            lines.append(
                f"| {name} | – | – | {b['psnr']:.2f} | {b['ssim']:.3f} | {b['psnr_fg']:.2f} | "
                f"{b['ssim_fg']:.3f} | {b['consistency_psnr']:.2f} | – |"
            )
        for method, by_n in methods.items():
            for n, s in sorted(by_n.items(), key=lambda item: int(item[0])):
                lines.append(
                    f"| {method} | {n} | {s['runs']} | {s['psnr_mean']:.2f} ± {s['psnr_std']:.2f} | "
                    f"{s['ssim_mean']:.3f} ± {s['ssim_std']:.3f} | {s['psnr_fg_mean']:.2f} ± {s['psnr_fg_std']:.2f} | "
                    f"{s['ssim_fg_mean']:.3f} ± {s['ssim_fg_std']:.3f} | {s['consistency_psnr_mean']:.2f} | "
                    f"{s['train_seconds_mean']:.0f} |"
                )
        lines.append("")
    (out / "REPORT_TABLES.md").write_text("\n".join(lines) + "\n")
    return out / "REPORT_TABLES.md"


def plot_slices(degradation: str, methods: list[str], out: Path) -> None:
    """The paper's Fig. 2: sagittal slices of LR, cubic and every method (n_HR = 1, seed 0) with error maps."""
    truth = load_volume(out / "data" / f"colin27_hr_{degradation}.nii.gz")
    lr = load_volume(out / "data" / f"colin27_{degradation}.nii.gz")
    factors = tuple(t // s for t, s in zip(truth.data.shape, lr.data.shape))
    images = {"LR": interpolate(lr.data, factors, 0), "cubic": interpolate(lr.data, factors, 3)}
    device = resolve_device("auto")
    for method in methods:
        model_path = out / "runs" / f"{degradation}_{method}_n1_s0" / "model.pt"
        if model_path.is_file():
            images[method] = super_resolve_array(load_model(model_path, device)[0], lr.data, device=device)
    comparison_figure(truth.data, images, out / f"fig2_{degradation}.png", affine=truth.affine)


def plot_panel(name: str, methods: dict, baselines: dict, path: Path) -> None:
    """PSNR and SSIM vs the number of HR volumes (mean ± std over seeds), baselines as horizontal lines.

    Only methods run at several n are drawn (the n = 1 comparisons are the tables' job), unless none was."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    curves = {method: by_n for method, by_n in methods.items() if len(by_n) > 1} or methods
    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    for ax, metric in zip(axes, ("psnr", "ssim")):
        ax.set_prop_cycle(color=plt.get_cmap("tab20").colors)
        for method, by_n in curves.items():
            ns = sorted(by_n, key=int)
            means = [by_n[n][f"{metric}_mean"] for n in ns]
            stds = [by_n[n][f"{metric}_std"] for n in ns]
            ax.errorbar([int(n) for n in ns], means, yerr=stds, marker="o", capsize=3, label=method)
        ax.set_xticks(sorted({int(n) for by_n in curves.values() for n in by_n}))
        for (baseline, scores), style in zip(baselines.items(), ("--", ":")):
            ax.axhline(scores[metric], color="gray", linestyle=style, label=baseline)
        ax.set_xlabel("number of HR training volumes")
        ax.set_ylabel(metric.upper())
        ax.set_title(f"{name}: {metric.upper()}")
    axes[1].legend(fontsize=8, loc="center left", bbox_to_anchor=(1.02, 0.5))
    fig.tight_layout()
    fig.savefig(path, dpi=100, bbox_inches="tight")
    plt.close(fig)
