"""The scanner report of a run: the acquisition it trained with, in physical units (``degradation.json``)."""

from __future__ import annotations

import json
import textwrap
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from mrisr.acquisition.forward import FWHM_TO_SIGMA
from mrisr.acquisition.model import Acquisition
from mrisr.acquisition.noise import air_corners
from mrisr.console import log, warn
from mrisr.io import atomic_write
from mrisr.plotting import pyplot
from mrisr.training.settle import Settled


def acquisition_report(settled: Settled, acquisition: Acquisition, lr_zooms: Sequence[float]) -> dict[str, Any]:
    """The ``acquisition`` a run trained with in physical units: slice-profile shape and FWHM per axis (in HR
    voxels and in mm; for the sinc of k-space truncation, the factor), the LR voxel size, the noise levels
    and the warnings of the run's :class:`~mrisr.training.settle.Settled` acquisition."""
    m = settled.config.model
    fwhm = np.asarray(acquisition.fwhm, dtype=float)
    hr_zooms = np.asarray(lr_zooms, dtype=float) / np.asarray(m.scale, dtype=float)
    model = "planar (internal pairs)" if m.architecture == "planar" else m.degradation
    return {
        "model": model,
        "fwhm_source": settled.profile_source,
        "profile_shape": acquisition.shape,
        "fwhm_hr_voxels": [round(float(v), 3) for v in fwhm],
        "fwhm_mm": [round(float(v), 3) for v in fwhm * hr_zooms],
        "lr_voxel_mm": [round(float(v), 3) for v in lr_zooms],
        "in_plane": settled.in_plane,
        "sr_voxel_mm": [round(float(v), 4) for v in hr_zooms],
        "scale": [round(float(f), 6) for f in m.scale],
        "slice_thickness_mm": m.slice_thickness,
        "slice_thickness_source": settled.thickness_source,
        "noise_sigma": [round(float(v), 5) for v in settled.noise_sigmas],
        "noise_sigma_note": "Rician sigma relative to the LR's 99.9th percentile, "
        + ("as configured" if m.noise_sigma is not None else "estimated in its air"),
        "warnings": list(settled.warnings),
    }


def write_acquisition_report(run_dir: Path, report: dict[str, Any], lr: np.ndarray) -> None:
    """``degradation.json`` and its figure ``degradation.png`` (profiles and the air histogram of ``lr``)."""
    text = json.dumps(report, indent=2) + "\n"
    atomic_write(run_dir / "degradation.json", lambda tmp: Path(tmp).write_text(text))
    degradation_figure(run_dir / "degradation.png", report, lr)
    log.info(format_report(report, run_dir / "degradation.json"))
    for warning in report["warnings"]:
        warn(warning, details=run_dir / "degradation.json")


def format_report(report: dict[str, Any], path: Path | None = None) -> str:
    """The scanner report as a few aligned lines for the console (the whole of it is in ``degradation.json``)."""
    coarse = [axis for axis, f in enumerate(report.get("scale") or []) if f > 1]
    profile = ", ".join(f"axis {a}: {report['fwhm_mm'][a]:.2f} mm" for a in coarse) or "none"
    thickness, source = report.get("slice_thickness_mm"), report.get("slice_thickness_source", "not given")
    lines = [
        f"scanner report{f' ({path})' if path else ''}:",
        f"  voxels         {report['lr_voxel_mm']} mm -> {report.get('sr_voxel_mm')} mm",
        f"  slice profile  {report['profile_shape']} FWHM {profile}; {report['fwhm_source']}",
        f"  thickness      {source if thickness is None else f'{thickness:g} mm ({source})'}",
        *([f"  {report['in_plane']}"] if report.get("in_plane") else []),
        f"  noise sigma    {', '.join(f'{v:.4f}' for v in report['noise_sigma'])} ({report['noise_sigma_note']})",
    ]
    return "\n".join(lines)


def degradation_figure(path: str | Path, report: dict, lr: np.ndarray) -> None:
    """The scanner report: the slice profile per axis in mm, the LR air histogram with its Rayleigh fit, and
    the report's warnings underneath."""
    plt = pyplot()

    warnings = report.get("warnings", [])
    notes = [textwrap.fill(f"warning: {w}", 150) for w in warnings]
    lines = sum(n.count("\n") + 1 for n in notes)
    fig, (left, right) = plt.subplots(1, 2, figsize=(9, 3.4 + 0.16 * lines))
    sinc = report.get("profile_shape") == "sinc"
    for axis, (fwhm, voxel) in enumerate(zip(report["fwhm_mm"], report["lr_voxel_mm"])):
        if fwhm <= 0:
            continue
        x = np.linspace(-1.5 * voxel, 1.5 * voxel, 301)
        if sinc:  # k-space truncation: the ideal low-pass at the LR's Nyquist frequency
            left.plot(x, np.sinc(x / voxel), label=f"axis {axis}: sinc, k-space truncation (LR voxel {voxel:g} mm)")
            continue
        sigma = fwhm * FWHM_TO_SIGMA
        left.plot(x, np.exp(-0.5 * (x / sigma) ** 2), label=f"axis {axis}: FWHM {fwhm:.2f} mm (LR voxel {voxel:g} mm)")
    left.set(xlabel="mm from the slice centre", ylabel="relative sensitivity", title=report["fwhm_source"])
    left.legend(fontsize=7)
    blocks = air_corners(lr)
    air = np.concatenate([b.ravel() for b in blocks]) if blocks else np.zeros(0)
    sigma = float(np.median(report["noise_sigma"]))
    if air.size and sigma > 0:
        right.hist(air, bins=80, density=True, color="0.7", label=f"LR air ({air.size} voxels)")
        x = np.linspace(0, air.max(), 200)
        right.plot(x, x / sigma**2 * np.exp(-(x**2) / (2 * sigma**2)), "k", label=f"Rayleigh, sigma {sigma:.4f}")
        right.legend(fontsize=7)
    else:
        right.text(0.5, 0.5, "no air in the corners: sigma from the signal", ha="center", transform=right.transAxes)
    right.set(xlabel="intensity (normalised to the 99.9th percentile)", title="noise")
    fig.tight_layout(rect=(0, 0.16 * lines / (3.4 + 0.16 * lines), 1, 1))
    if notes:
        fig.text(0.01, 0.01, "\n".join(notes), fontsize=6, color="firebrick", va="bottom", ha="left")
    atomic_write(path, lambda tmp: fig.savefig(tmp, dpi=110, format="png"))
    plt.close(fig)
