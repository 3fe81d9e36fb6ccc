"""``mrisr bench``: speed and memory measured side by side in one run on this machine.

- roofline: GFLOP/s of a plain 3×3×3 ``conv3d`` forward + backward at the model's width, on the same
  threads: the practical limit of this CPU for this network;
- training: FLOPs per step (``torch.utils.flop_counter``), steps/s, voxels/s and the fraction of the roofline,
  and the steps/s of the same step under bf16 autocast (``train.precision``);
- inference: seconds and peak RSS of ``super_resolve_file`` per output size, each in a fresh process, plain and
  with the trust maps (uncertainty learned from the scan's own pairs, consistency, sidecar; the ratio is
  printed), with cubic B-spline interpolation (scipy) of the same volume as the reference;
- options: the effect of channels-last, bf16 autocast, ``torch.compile``, threads and window settings.
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.flop_counter import FlopCounterMode

from mrisr import datasets
from mrisr.apps.bench_child import TRUST_MAPS
from mrisr.config import Config
from mrisr.console import log
from mrisr.device import cpu_bf16_units, resolve_device
from mrisr.inference.running import super_resolve_array
from mrisr.io import atomic_write, check_output_path
from mrisr.models.registry import build_network
from mrisr.training import make_trainer


def synchronize() -> None:
    """Wait for queued GPU work, so that wall time measures it (a no-op without CUDA)."""
    if torch.cuda.is_available():
        torch.cuda.synchronize()


def seconds_per_call(fn: Callable[[], Any], *, warmup: int = 2, min_seconds: float = 1.5, max_calls: int = 50) -> float:
    """Median wall time of ``fn`` after ``warmup`` calls, over at least ``min_seconds`` (or ``max_calls``)."""
    for _ in range(warmup):
        fn()
    synchronize()
    times: list[float] = []
    while sum(times) < min_seconds and len(times) < max_calls:
        start = time.perf_counter()
        fn()
        synchronize()
        times.append(time.perf_counter() - start)
    return float(np.median(times))


def flops_of(fn: Callable[[], Any]) -> int:
    """FLOPs of one call of ``fn`` (forward and backward, as ``torch.utils.flop_counter`` counts them)."""
    with FlopCounterMode(display=False) as counter:
        fn()
    return int(counter.get_total_flops())


def conv_roofline(
    width: int, batch: int, sizes: Sequence[int] = (16, 24, 32), device: torch.device | str = "cpu"
) -> dict[str, float]:
    """GFLOP/s of conv3d(width → width, 3³) forward + backward, the best over feature maps of ``sizes``³
    (the model's LR and HR patch sides): the practical peak of this machine for this network's main op."""
    conv = torch.nn.Conv3d(width, width, 3, padding=1, device=device)
    best: dict[str, float] = {"gflops_per_s": 0.0}
    for size in sizes:
        x = torch.randn(batch, width, size, size, size, requires_grad=True, device=device)

        def step(x: torch.Tensor = x) -> None:
            conv(x).sum().backward()

        rate = flops_of(step) / seconds_per_call(step) / 1e9
        if rate > best["gflops_per_s"]:
            best = {"gflops_per_s": rate, "size": size}
    return best


def training_throughput(config: Config, run_dir: Path, device: torch.device | str = "cpu") -> dict[str, float]:
    """FLOPs per step, steps/s and HR voxels/s of the real training step on the packaged MRI."""

    data = {"hr": [str(datasets.template("mni2009a"))], "lr": [str(datasets.COLIN27)], "device": str(device)}
    trainer = make_trainer(config.override({"train": data}), run_dir)
    flops = flops_of(trainer.train_step)
    seconds = seconds_per_call(trainer.train_step, min_seconds=5.0, max_calls=30)
    voxels = config.train.batch_size * int(np.prod(trainer.system.hr_patch))
    return {"flops_per_step": flops, "steps_per_s": 1 / seconds, "hr_voxels_per_s": voxels / seconds}


def inference_in_subprocess(*args: Any, **kwargs: Any) -> dict[str, float]:
    """:func:`mrisr.apps.bench_child.inference_child` in its own interpreter, so that its peak RSS is its own."""
    plain = [repr(list(a) if isinstance(a, tuple) else a) for a in args]
    arguments = ", ".join(plain + [f"{key}={value!r}" for key, value in kwargs.items()])
    code = f"import json, mrisr.apps.bench_child as b; print(json.dumps(b.inference_child({arguments})))"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return json.loads(result.stdout.strip().splitlines()[-1])


def window_options(config: Config, threads: Sequence[int], device: torch.device | str = "cpu") -> dict[str, float]:
    """Seconds per sliding-window batch (4 windows of 32³ LR voxels) under each option."""

    device = torch.device(device)
    model = build_network(config).eval().to(device)
    x = torch.rand(4, 1, 32, 32, 32, device=device)
    results: dict[str, float] = {}

    def run(m: Callable, inp: torch.Tensor, autocast: bool = False) -> Callable[[], None]:
        def call() -> None:
            with torch.inference_mode(), torch.autocast(device.type, dtype=torch.bfloat16, enabled=autocast):
                m(inp)

        return call

    default_threads = torch.get_num_threads()
    for n in threads:
        torch.set_num_threads(n)
        results[f"threads={n}"] = seconds_per_call(run(model.super_resolve, x))
    torch.set_num_threads(default_threads)
    results["default"] = seconds_per_call(run(model.super_resolve, x))
    results["bf16 autocast"] = seconds_per_call(run(model.super_resolve, x, autocast=True))
    last = build_network(config).eval().to(device, memory_format=torch.channels_last_3d)
    last.load_state_dict(model.state_dict())
    results["channels_last_3d"] = seconds_per_call(run(last.super_resolve, x.to(memory_format=torch.channels_last_3d)))
    try:
        compiled = torch.compile(model.super_resolve)
        start = time.perf_counter()
        run(compiled, x)()
        results["torch.compile (first call)"] = time.perf_counter() - start
        results["torch.compile"] = seconds_per_call(run(compiled, x))
    except Exception as err:  # noqa: BLE001 - a missing compiler toolchain is a result, not a failure
        results["torch.compile"] = float("nan")
        print(f"torch.compile unavailable: {str(err).splitlines()[0][:120]}", file=sys.stderr)
    return results


def sliding_window_options(config: Config, lr_size: int, device: torch.device | str = "cpu") -> dict[str, float]:
    """Seconds to super-resolve a ``lr_size``³ array as one window (the default for a volume this size) and
    under sliding-window size / overlap / batch choices."""

    model = build_network(config).eval().to(device)
    lr = np.random.default_rng(0).random((lr_size,) * 3, dtype=np.float32) + 1
    super_resolve_array(model, lr[:32, :32, :32], device=device)  # warm-up: CUDA context, kernel choice
    choices: dict[str, dict] = {"one window (default)": {}}
    for roi, overlap, batch in [(32, 0.25, 4), (32, 0.25, 1), (48, 0.25, 1), (64, 0.25, 1), (64, 0.5, 1)]:
        windows = {"roi_size": (roi,) * 3, "overlap": overlap, "sw_batch_size": batch, "whole_slab_voxels": 0}
        choices[f"roi {roi}, overlap {overlap}, batch {batch}"] = windows
    results = {}
    for name, options in choices.items():
        start = time.perf_counter()
        super_resolve_array(model, lr, device=device, **options)
        results[name] = time.perf_counter() - start
    return results


def run_benchmark(
    *,
    sizes: Sequence[int] = (128, 192, 256),
    scale: Sequence[int] = (2, 2, 2),
    max_memory_gb: float = 4.0,
    device: str = "auto",
) -> dict[str, Any]:
    """All measurements, in one process on one machine; ``sizes`` are output edge lengths."""

    device = str(resolve_device(device))
    config = Config().override({"model": {"scale": list(scale)}})
    m, t = config.model, config.train
    threads = torch.get_num_threads()
    report: dict[str, Any] = {
        "machine": {
            "cpu": platform.processor() or platform.machine(),
            "cores": os.cpu_count(),
            "torch_threads": threads,
            "torch": torch.__version__,
            "python": platform.python_version(),
            "device": torch.cuda.get_device_name() if device == "cuda" else "cpu",
            "cpu_bf16": cpu_bf16_units(),
        },
        "config": {"width": m.width, "batch_size": t.batch_size, "lr_patch": list(t.lr_patch), "scale": list(scale)},
    }
    print("roofline ...", file=sys.stderr)
    report["roofline"] = conv_roofline(m.width, t.batch_size, device=device)
    print("training step ...", file=sys.stderr)
    with tempfile.TemporaryDirectory() as tmp:
        train = training_throughput(config, Path(tmp), device)
    with tempfile.TemporaryDirectory() as tmp:  # train.precision: bf16 autocast of the same step
        bf16 = training_throughput(config.override({"train": {"precision": "bf16"}}), Path(tmp), device)
    train["bf16_steps_per_s"] = bf16["steps_per_s"]
    train["gflops_per_s"] = train["flops_per_step"] * train["steps_per_s"] / 1e9
    train["roofline_fraction"] = train["gflops_per_s"] / report["roofline"]["gflops_per_s"]
    report["training"] = train
    report["inference"] = []
    for size in sizes:
        lr_shape = input_shape(size, scale)
        for method in ("mrisr", TRUST_MAPS, "cubic"):
            print(f"inference {method} {size}^3 ...", file=sys.stderr)
            result = inference_in_subprocess(lr_shape, tuple(scale), method, max_memory_gb, device=device)
            result.update(method=method, output_size=size, output_voxels=size**3)
            report["inference"].append(result)
    print("options ...", file=sys.stderr)
    report["window_options"] = window_options(config, sorted({1, threads}), device)
    report["sliding_window_options"] = sliding_window_options(config, 96, device)
    return report


def input_shape(output_size: int, scale: Sequence[int]) -> tuple[int, ...]:
    """The LR shape whose super-resolution by ``scale`` is a cube of ``output_size`` voxels a side."""
    return tuple(output_size // f for f in scale)


def format_report(report: dict[str, Any]) -> str:
    """The benchmark as plain-text tables."""
    mach, roof, train = report["machine"], report["roofline"], report["training"]
    lines = [
        f"machine: {mach['cpu']}, {mach['cores']} cores, {mach['torch_threads']} torch threads, torch {mach['torch']}, "
        f"device {mach.get('device', 'cpu')}, CPU bf16 units {mach.get('cpu_bf16', 'not recorded')}",
        f"roofline  conv3d {report['config']['width']}->{report['config']['width']} 3^3 fwd+bwd: "
        f"{roof['gflops_per_s']:.1f} GFLOP/s (best at {roof['size']}^3, batch {report['config']['batch_size']})",
        f"training  {train['flops_per_step'] / 1e9:.2f} GFLOP/step, {train['steps_per_s']:.2f} steps/s, "
        f"{train['hr_voxels_per_s'] / 1e6:.2f} M HR voxels/s, {train['gflops_per_s']:.1f} GFLOP/s "
        f"= {100 * train['roofline_fraction']:.0f}% of the roofline",
        f"training  bf16 autocast (train.precision): {train['bf16_steps_per_s']:.2f} steps/s, "
        f"{train['bf16_steps_per_s'] / train['steps_per_s']:.2f}x the fp32 step",
        "",
        f"{'inference':<10} {'output':>8} {'seconds':>9} {'peak RSS GiB':>13} {'peak GPU GiB':>13} {'us/voxel':>9}",
    ]
    for row in report["inference"]:
        us = 1e6 * row["seconds"] / row["output_voxels"]
        size, rss, gpu = f"{row['output_size']}^3", row["peak_rss_gib"], row.get("peak_gpu_gib", 0.0)
        lines.append(f"{row['method']:<10} {size:>8} {row['seconds']:>9.1f} {rss:>13.2f} {gpu:>13.2f} {us:>9.3f}")
    plain = {row["output_size"]: row["seconds"] for row in report["inference"] if row["method"] == "mrisr"}
    lines += [""] + [
        f"{TRUST_MAPS} at {row['output_size']}^3: {row['seconds'] / plain[row['output_size']]:.2f}x a plain inference"
        for row in report["inference"]
        if row["method"] == TRUST_MAPS and row["output_size"] in plain
    ]
    base = report["window_options"]["default"]
    lines += ["", f"{'window batch (4 x 32^3 LR)':<34} {'ms':>8} {'vs default':>11}"]
    for name, seconds in report["window_options"].items():
        lines.append(f"{name:<34} {1e3 * seconds:>8.1f} {base / seconds:>10.2f}x")
    slide = report["sliding_window_options"]
    first = next(iter(slide.values()))
    lines += ["", f"{'sliding window, 96^3 LR -> 192^3':<34} {'s':>8} {'vs first':>11}"]
    for name, seconds in slide.items():
        lines.append(f"{name:<34} {seconds:>8.2f} {first / seconds:>10.2f}x")
    return "\n".join(lines)


def bench(out: str | None = None, **options: Any) -> dict[str, Any]:
    """:func:`run_benchmark` with ``options``, printed, and written as JSON to ``out`` when given."""
    target = check_output_path(out, overwrite=True) if out else None
    report = run_benchmark(**options)
    print(format_report(report))
    if target:
        atomic_write(target, lambda tmp: Path(tmp).write_text(json.dumps(report, indent=2) + "\n"))
        log.info(f"benchmark written to {target}")
    return report
