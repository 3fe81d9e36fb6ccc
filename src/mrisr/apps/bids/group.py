"""The group level of ``mrisr bids``: one table of every scan of the derivatives dataset and an overview figure,
so that a user spots the scans to look at (failed, warned, or explaining their input worst)."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

from mrisr import MRISRError

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
    from mrisr.figures import cohort_overview

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
