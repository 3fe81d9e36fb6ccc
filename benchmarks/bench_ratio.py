"""Two ``mrisr bench --out`` records side by side: each measurement of the second over the first, and which
differ by more than a tolerance (10% by default). For checking that a change to the code left speed and
memory alone: run both versions' ``mrisr bench`` in one sitting on the same machine, then
``python benchmarks/bench_ratio.py BEFORE.json AFTER.json``."""

from __future__ import annotations

import argparse
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

TIMES = ("seconds", "peak_rss_gib")
"""The inference rows' measurements compared (lower is better); GPU memory is 0 on a CPU."""


def measurements(record: dict[str, Any]) -> Iterator[tuple[str, float]]:
    """Every number of a bench record that measures speed or memory, by a readable name."""
    for key in ("steps_per_s", "bf16_steps_per_s"):
        if key in record["training"]:  # bf16 steps: in records from the versions that time them
            yield f"training {key}", record["training"][key]
    yield "roofline GFLOP/s", record["roofline"]["gflops_per_s"]
    for row in record["inference"]:
        for key in TIMES:
            yield f"{row['method']} {row['output_size']}^3 {key}", row[key]
    for group in ("window_options", "sliding_window_options"):
        for name, seconds in record.get(group, {}).items():
            yield f"{group.replace('_', ' ')}: {name} s", seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("before", type=Path)
    parser.add_argument("after", type=Path)
    parser.add_argument("--tolerance", type=float, default=0.10)
    args = parser.parse_args()
    before = dict(measurements(json.loads(args.before.read_text())))
    after = dict(measurements(json.loads(args.after.read_text())))
    outside = 0
    print(f"{'measurement':58s} {'before':>10s} {'after':>10s} {'ratio':>7s}")
    for name, old in before.items():
        new = after.get(name)
        if new is None or old == 0:
            continue
        ratio = new / old
        flag = "" if abs(ratio - 1) <= args.tolerance else "  <- outside the tolerance"
        outside += bool(flag)
        print(f"{name:58s} {old:10.4g} {new:10.4g} {ratio:7.3f}{flag}")
    print(f"{outside} of {len(before)} measurements differ by more than {args.tolerance:.0%}")


if __name__ == "__main__":
    main()
