"""The tissue table of results/REPORT.md from the panels that ``benchmarks/slices.py --tissues`` wrote.

    python benchmarks/tissue_table.py results/tissues-demo results/tissues results/tissues-hr

Every ``summary.json`` under the folders given is one row: the head, the panel, the steps, head PSNR, then
per tissue Dice against the truth's segmentation and volume error (percent), mrisr beside cubic.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from mrisr.tissues import TISSUES

NAMES = {"csf": "CSF", "gm": "grey", "wm": "white"}


def row(folder: Path) -> str:
    """One markdown row: mrisr's number, then cubic's in brackets."""
    summary = json.loads((folder / "summary.json").read_text())
    metrics = json.loads((folder / "metrics.json").read_text())
    sr, cubic = metrics["mrisr"], metrics["cubic"]
    hr = " + 2 HR templates" if summary["hr"] else ""
    cells = [summary.get("head", "colin27"), f"{summary['panel']}{hr}", str(summary["steps"])]
    cells.append(f"{sr['psnr_fg']:.2f} ({cubic['psnr_fg']:.2f})")
    cells += [f"{sr['dice_' + t]:.3f} ({cubic['dice_' + t]:.3f})" for t in TISSUES]
    cells += [f"{sr['volume_error_' + t]:+.1f} ({cubic['volume_error_' + t]:+.1f})" for t in TISSUES]
    return "| " + " | ".join(cells) + " |"


def order(folder: Path) -> tuple:
    """Rows by head (Colin27 first), panel, steps, without HR volumes first."""
    summary = json.loads((folder / "summary.json").read_text())
    head = summary.get("head", "colin27")
    return (head != "colin27", head, summary["panel"], summary["steps"], bool(summary["hr"]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("folders", nargs="+", type=Path)
    args = parser.parse_args()
    header = ["head", "panel", "steps", "head PSNR"]
    header += [f"{NAMES[t]} Dice" for t in TISSUES] + [f"{NAMES[t]} volume %" for t in TISSUES]
    print("| " + " | ".join(header) + " |")
    print("|" + "---|" * len(header))
    panels = [s.parent for folder in args.folders for s in folder.glob("**/summary.json")]
    panels = [p for p in panels if "dice_gm" in json.loads((p / "metrics.json").read_text())["mrisr"]]
    for panel in sorted(panels, key=order):
        print(row(panel))


if __name__ == "__main__":
    main()
