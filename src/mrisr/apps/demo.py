"""The main job on packaged real MRI: Colin27 acquired like a clinical scan, then super-resolved.

Two cases. The default is a user's own scan as it comes from the scanner: oblique coronal slices 4 mm
thick every 5 mm (a 1 mm gap) with Rician noise, written with the JSON sidecar dcm2niix would write, and
super-resolved to 1 mm from that file alone, its geometry read from the header and the sidecar. The paper's
case (``--paper``): Colin27 degraded 2×2×2 and learned from three unpaired HR templates. Colin27's
high-resolution truth is never used in training, only for scoring at the end.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

from mrisr import datasets
from mrisr.acquisition.forward import SimulationParams
from mrisr.acquisition.model import Acquisition
from mrisr.acquisition.simulate import Simulation, SliceParams, simulate, simulate_slices
from mrisr.apps.figures import comparison_figure, trust_figure
from mrisr.config import DEFAULT_FLIPS
from mrisr.console import log
from mrisr.evaluation import evaluate, format_table, write_metrics
from mrisr.inference.loaded import LoadedModel
from mrisr.inference.writing import Companions, super_resolve_file
from mrisr.io import check_output_path, load_volume, save_volume
from mrisr.training.plan import TrainRequest, ensure_model, plan_training

DEMO_NOISE_SIGMA = 0.02
DEMO_STEPS = 2000
SECONDS_PER_STEP = 0.2
"""The paper's case: about 5 steps a second (batch 2) on a 2-core x86-64 CPU (PyTorch 2.13); a GPU is faster."""
SCAN = SliceParams(axis=1, spacing=5.0, thickness=4.0, noise_sigma=0.01, tilt=15.0)
"""The default case: coronal slices (Colin27's voxel axis 1 runs anterior-posterior), tilted 15° about the
left-right axis, 4 mm thick every 5 mm, Rician noise 1% of the 99.9th percentile."""
SCAN_STEPS = 1200
SCAN_SECONDS_PER_STEP = 0.12
"""The default case: about 8 steps a second on a 2-core x86-64 CPU (PyTorch 2.13)."""


def simulate_colin27(params: SimulationParams) -> Simulation:
    """Colin27 cropped to the scale and scaled to [0, 1] (the truth), and its simulated LR scan."""
    return simulate(load_volume(datasets.colin27()), params)


def simulate_test_case(out_dir: Path, kind: str, scale=(2, 2, 2), seed: int = 0) -> tuple[Path, Path]:
    """Write Colin27's truth and its simulated clinical LR scan."""
    noise = DEMO_NOISE_SIGMA if kind == "gaussian" else 0.0
    case = simulate_colin27(SimulationParams(scale=tuple(scale), kind=kind, noise_sigma=noise, noise_seed=seed))
    truth_path, lr_path = out_dir / "colin27_hr.nii.gz", out_dir / "colin27_lr.nii.gz"
    save_volume(truth_path, case.truth.data, case.truth.affine, case.truth.header)
    save_volume(lr_path, case.lr.data, case.lr.affine, case.lr.header)
    return truth_path, lr_path


def write_scan_case(out_dir: Path, seed: int = 0) -> tuple[Path, Path, Acquisition]:
    """Write Colin27's truth and the default case's scan with its JSON sidecar, as a scanner would; returns
    their paths and how the scan was acquired from the truth."""
    params = SliceParams(**{**SCAN.__dict__, "noise_seed": seed, "sidecar": {}})
    case = simulate_slices(load_volume(datasets.colin27()), params)
    truth_path, scan_path = out_dir / "colin27_hr.nii.gz", out_dir / "colin27_scan.nii.gz"
    save_volume(truth_path, case.truth.data, case.truth.affine, case.truth.header)
    save_volume(scan_path, case.lr.data, case.lr.affine, case.lr.header)
    (out_dir / "colin27_scan.json").write_text(json.dumps(params.sidecar, indent=2) + "\n")
    return truth_path, scan_path, case.acquisition


def paper_request(
    lr_paths: list[Path],
    seed: int,
    *,
    steps: int | None = DEMO_STEPS,
    minutes: float | None = None,
    device: str = "auto",
    degradation_model: str = "physics",
) -> TrainRequest:
    """The paper's case: the three packaged templates as HR source, ``lr_paths`` as LR target at 2×2×2; a
    budget in steps, or in minutes when ``minutes`` is given."""
    return TrainRequest(
        lr=[str(p) for p in lr_paths],
        hr=[str(datasets.template(name)) for name in datasets.TEMPLATES],
        scale=(2, 2, 2),
        seed=seed,
        steps=None if minutes is not None else steps,
        minutes=minutes,
        device=device,
        degradation_model=degradation_model,
    )


def run_demo(
    out_dir: str | Path,
    *,
    paper: bool = False,
    degradation: str = "gaussian",
    steps: int | None = None,
    minutes: float | None = None,
    seed: int = 0,
    overwrite: bool = False,
    device: str = "auto",
    degradation_model: str = "physics",
) -> dict[str, dict[str, float]]:
    """Simulate, train, super-resolve, evaluate and draw; returns the metrics written to ``metrics.json``.

    The default case (module doc) unless ``paper``; ``degradation`` and ``degradation_model`` are the paper
    case's. The budget is ``steps`` (machine-independent scores; each case has its default) unless
    ``minutes`` is given."""
    out = Path(out_dir)
    check_output_path(out / "metrics.json", overwrite=overwrite)
    started = time.perf_counter()
    steps = steps or (DEMO_STEPS if paper else SCAN_STEPS)
    if minutes is None:
        seconds = steps * (SECONDS_PER_STEP if paper else SCAN_SECONDS_PER_STEP)
        log.info(f"training {steps} steps: about {seconds / 60:.0f} minutes on a 2-core CPU")
    if paper:
        truth_path, lr_path = simulate_test_case(out, degradation, seed=seed)
        request = paper_request(
            [lr_path], seed, steps=steps, minutes=minutes, device=device, degradation_model=degradation_model
        )
        fwhm = None
    else:
        truth_path, lr_path, acquired = write_scan_case(out, seed)  # mrisr reads only the header and sidecar
        budget = {"steps": None if minutes is not None else steps, "minutes": minutes}
        request = TrainRequest(lr=[str(lr_path)], seed=seed, device=device, **budget)
        fwhm = list(acquired.fwhm)  # the scoring's forward model: the scan's own
    model_path = ensure_model(plan_training(request, out / "run", on_existing="replace"))
    model = LoadedModel.load(model_path, device, command="mrisr demo")
    companions = Companions(out / "colin27_uncertainty.nii.gz", out / "colin27_consistency.nii.gz")
    sr_path = super_resolve_file(
        model, lr_path, out / "colin27_sr.nii.gz", companions=companions, overwrite=True, flips=DEFAULT_FLIPS
    )

    truth, lr, sr = load_volume(truth_path), load_volume(lr_path), load_volume(sr_path)
    results = evaluate(truth, {"mrisr": sr.data}, lr=lr, degradation=degradation if paper else "gaussian", fwhm=fwhm)
    write_metrics(out / "metrics.json", results)
    comparison_figure(
        truth.data, {"mrisr": sr.data}, out / "comparison.png", affine=truth.affine, metrics=results, lr=lr.data
    )
    uncertainty, consistency = load_volume(companions.uncertainty), load_volume(companions.consistency)
    trust_figure(
        out / "trust.png",
        sr.data,
        uncertainty.data,
        consistency.data,
        affine=sr.affine,
        lr_affine=lr.affine,
        truth=truth.data,
    )
    summary = {
        "case": "paper (isotropic 2x2x2, three unpaired HR templates)" if paper else "oblique coronal thick slices",
        "degradation": degradation if paper else {k: v for k, v in SCAN.__dict__.items() if k != "sidecar"},
        "train_steps": steps if minutes is None else None,
        "train_minutes": minutes,
        "steps": model.meta["step"],
        "total_seconds": round(time.perf_counter() - started, 1),
    }
    (out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    log.info(format_table(results))
    log.info(finished_demo(out, lr_path, summary["total_seconds"]))
    return results


def finished_demo(out: Path, scan: Path, seconds: float) -> str:
    """What the demo wrote, as a few aligned lines for the console."""
    return "\n".join(
        [
            f"demo done in {seconds / 60:.1f} minutes: {out}",
            f"  scan          {scan}",
            f"  SR            {out / 'colin27_sr.nii.gz'}",
            f"  trust maps    {out / 'colin27_uncertainty.nii.gz'}, {out / 'colin27_consistency.nii.gz'}",
            f"  scores        {out / 'metrics.json'}",
            f"  figures       {out / 'comparison.png'}, {out / 'trust.png'}",
            f"  model         {out / 'run' / 'model.pt'}",
        ]
    )
