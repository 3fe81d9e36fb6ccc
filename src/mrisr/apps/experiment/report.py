"""The experiment's report: mean ± std over seeds, the tables of ``REPORT_TABLES.md``, Fig. 2 and Fig. 3."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np

from mrisr.apps.figures import comparison_figure
from mrisr.inference.loaded import LoadedModel
from mrisr.io import load_volume
from mrisr.plotting import pyplot

FIG2_METHODS = (
    "supervised-estimated-noise",
    "mrisr-free",
    "mrisr-nonce",
    "mrisr",
    "mrisr-contrast",
    "mrisr-wide",
    "planar-templates-only",
    "planar-scan-only",
    "planar",
    "oracle",
)
"""The methods of the sagittal figure, in this order (all of them are in the tables)."""
FIG2_SR = "sr.nii.gz"
"""The SR a run of Fig. 2 (n_HR = 1, seed 0) keeps in its folder, so the figure needs no second inference."""


def read_rows(table: Path) -> list[dict[str, str]]:
    """The rows of ``runs.csv`` (none when it does not exist yet)."""
    if not table.is_file():
        return []
    with open(table, newline="") as f:
        return list(csv.DictReader(f))


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
    rows = read_rows(out / "runs.csv")
    summary = summarise(rows)
    (out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    lines = []
    for deg, methods in summary.items():
        found = out / "data" / f"baselines_{deg}.json"  # absent when this panel was not simulated in this folder
        baselines = json.loads(found.read_text()) if found.is_file() else {}
        plot_panel(deg, methods, baselines, out / f"fig3_{deg}.png")
        if (out / "data" / f"colin27_hr_{deg}.nii.gz").is_file():  # Fig. 2 needs the panel's volumes
            shown = {r["method"]: r for r in rows if r["degradation"] == deg and r["n_hr"] == "1" and r["seed"] == "0"}
            scores = {m: {k: float(r[k]) for k in ("psnr_fg", "ssim_fg")} for m, r in shown.items()}
            plot_slices(deg, [m for m in FIG2_METHODS if m in methods], out, {**baselines, **scores})
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


def plot_slices(degradation: str, methods: list[str], out: Path, metrics: dict[str, dict[str, float]]) -> None:
    """The paper's Fig. 2: sagittal slices of LR, cubic and every method (n_HR = 1, seed 0) with error maps,
    titled with the head scores already in ``metrics`` (those missing are computed)."""
    truth = load_volume(out / "data" / f"colin27_hr_{degradation}.nii.gz")
    lr = load_volume(out / "data" / f"colin27_{degradation}.nii.gz")
    images = {}
    for method in methods:
        run = out / "runs" / f"{degradation}_{method}_n1_s0"
        if (run / FIG2_SR).is_file():
            images[method] = load_volume(run / FIG2_SR).data
        elif (run / "model.pt").is_file():  # rows scored before the SR was kept
            images[method] = LoadedModel.load(run / "model.pt", precision="fp32").super_resolve(lr.data)
    figure = out / f"fig2_{degradation}.png"
    comparison_figure(truth.data, images, figure, affine=truth.affine, lr=lr.data, metrics=metrics)


def plot_panel(name: str, methods: dict, baselines: dict, path: Path) -> None:
    """PSNR and SSIM vs the number of HR volumes (mean ± std over seeds), baselines as horizontal lines.

    Only methods run at several n are drawn (the n = 1 comparisons are the tables' job), unless none was."""
    plt = pyplot()

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
