"""The group level of ``mrisr bids``: one table of every scan of the derivatives dataset and an overview figure,
so that a user spots the scans to look at (failed, warned, or explaining their input worst)."""

from __future__ import annotations

import csv
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from mrisr import MRISRError
from mrisr.io import atomic_write
from mrisr.plotting import pyplot

COLUMNS = (
    "scan",
    "status",
    "protocol",
    "factor",
    "thickness_mm",
    "noise_sigma",
    "warnings",
    "consistency_psnr",
    "seconds",
    "error",
)


def sidecar_row(record: dict[str, Any], seconds: dict[str, float]) -> dict[str, Any]:
    """One finished scan's row, from its SR sidecar."""
    source = record["Sources"][0].removeprefix("bids:raw:")
    geometry = record.get("Geometry") or {}
    noise = record["Degradation"].get("NoiseSigma") or [None]
    return {
        "scan": source,
        "status": "done",
        "protocol": record.get("Protocol"),
        "factor": round(max(geometry.get("Factors") or record["Scale"]), 4),
        "thickness_mm": geometry.get("SliceThicknessmm"),
        "noise_sigma": noise[0] if isinstance(noise, list) else noise,
        "warnings": len(record["Degradation"].get("Warnings", [])),
        "consistency_psnr": (record.get("Consistency") or {}).get("psnr"),
        "seconds": seconds.get(source),
        "error": "",
    }


def collect_rows(output_dir: Path) -> list[dict[str, Any]]:
    """Every scan the participant runs finished or failed, sorted by scan (a later success wins)."""
    seconds: dict[str, float] = {}
    failed: dict[str, str] = {}
    for log_file in sorted((output_dir / "logs").glob("participant*.json")):
        entry = json.loads(log_file.read_text())
        seconds.update(entry.get("seconds", {}))
        failed.update(entry.get("failed", {}))
    rows = {}
    for sidecar in sorted(output_dir.glob("sub-*/**/anat/*_desc-sr_*.json")):
        row = sidecar_row(json.loads(sidecar.read_text()), seconds)
        rows[row["scan"]] = row
    for scan, error in failed.items():
        rows.setdefault(scan, {**dict.fromkeys(COLUMNS, ""), "scan": scan, "status": "failed", "error": error})
    return [rows[scan] for scan in sorted(rows)]


def run_group(output_dir: str | Path) -> tuple[Path, Path]:
    """``group/summary.tsv`` and ``group/overview.png`` of a derivatives dataset written by the participant
    level; returns their paths."""
    out = Path(output_dir)
    rows = collect_rows(out)
    if not rows:
        raise MRISRError(f"{out}: no super-resolved scans and no failures recorded (run the participant level first)")
    (out / "group").mkdir(parents=True, exist_ok=True)
    table = out / "group" / "summary.tsv"
    with open(table, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=COLUMNS, delimiter="\t")
        writer.writeheader()
        writer.writerows(rows)
    figure = out / "group" / "overview.png"
    cohort_overview(rows, figure)
    return table, figure


def cohort_overview(rows: Sequence[dict], path: str | Path, flagged: int = 5) -> None:
    """A cohort at a glance: each scan's consistency PSNR (how well its SR explains the scan) by protocol,
    scans with warnings hollow, failed scans as red crosses below, and the ``flagged`` lowest named."""
    plt = pyplot()

    protocols = sorted({r["protocol"] for r in rows if r["status"] == "done"}) or ["none"]
    done = [r for r in rows if r["status"] == "done" and r["consistency_psnr"] not in (None, "")]
    failed = [r for r in rows if r["status"] == "failed"]
    fig, ax = plt.subplots(figsize=(max(6.0, 1.6 * len(protocols) + 3), 4.5))
    rng = np.random.default_rng(0)  # horizontal jitter, the same at every run
    floor = min((float(r["consistency_psnr"]) for r in done), default=30.0) - 1
    where = {}
    for x, protocol in enumerate(protocols):
        mine = [r for r in done if r["protocol"] == protocol]
        for r, jitter in zip(mine, x + rng.uniform(-0.2, 0.2, len(mine))):
            where[r["scan"]] = (jitter, float(r["consistency_psnr"]))
            warned = int(r["warnings"] or 0) > 0
            style = {"facecolors": "none", "edgecolors": "tab:orange"} if warned else {"color": "tab:blue"}
            ax.scatter([jitter], [where[r["scan"]][1]], s=20, **style)
    for r in sorted(done, key=lambda r: float(r["consistency_psnr"]))[:flagged]:
        ax.annotate(Path(r["scan"]).name, where[r["scan"]], fontsize=6, xytext=(5, -2), textcoords="offset points")
    if failed:
        ax.scatter(rng.uniform(-0.2, 0.2, len(failed)), [floor] * len(failed), marker="x", color="red", s=30)
        ax.text(0.01, 0.02, f"{len(failed)} failed: see group/summary.tsv", color="red", transform=ax.transAxes)
    ax.set_xticks(range(len(protocols)), protocols, rotation=15, ha="right", fontsize=7)
    ax.set_xlim(-0.6, len(protocols) - 0.4)
    ax.set_ylabel("consistency PSNR, dB (degraded SR vs the scan)")
    ax.set_title(f"{len(done)} scans super-resolved, {len(failed)} failed; hollow: with warnings")
    fig.tight_layout()
    atomic_write(path, lambda tmp: fig.savefig(tmp, dpi=110, format="png"))
    plt.close(fig)
