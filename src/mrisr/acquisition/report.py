"""The scanner report of a run: the acquisition it trained with, in physical units (``degradation.json``)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from mrisr.acquisition.resolve import Acquisition
from mrisr.console import log, warn
from mrisr.io import atomic_write


def acquisition_report(acquisition: Acquisition, fwhm: Sequence[float], lr_zooms: Sequence[float]) -> dict[str, Any]:
    """Slice-profile shape and FWHM per axis (``fwhm`` in HR voxels, also in mm; for the sinc of k-space
    truncation, the factor), the LR voxel size, the noise levels and the warnings of
    :func:`mrisr.acquisition.resolve.settle`."""
    m = acquisition.config.model
    fwhm = np.asarray(fwhm, dtype=float)
    hr_zooms = np.asarray(lr_zooms, dtype=float) / np.asarray(m.scale, dtype=float)
    model = "planar (internal pairs)" if m.architecture == "planar" else m.degradation
    return {
        "model": model,
        "fwhm_source": acquisition.profile_source,
        "profile_shape": "gaussian" if m.profile_shape == "auto" else m.profile_shape,
        "fwhm_hr_voxels": [round(float(v), 3) for v in fwhm],
        "fwhm_mm": [round(float(v), 3) for v in fwhm * hr_zooms],
        "lr_voxel_mm": [round(float(v), 3) for v in lr_zooms],
        "sr_voxel_mm": [round(float(v), 4) for v in hr_zooms],
        "scale": [round(float(f), 6) for f in m.scale],
        "slice_thickness_mm": m.slice_thickness,
        "slice_thickness_source": acquisition.thickness_source,
        "noise_sigma": [round(float(v), 5) for v in acquisition.noise_sigmas],
        "noise_sigma_note": "Rician sigma relative to the LR's 99.9th percentile, "
        + ("as configured" if m.noise_sigma is not None else "estimated in its air"),
        "warnings": list(acquisition.warnings),
    }


def write_acquisition_report(run_dir: Path, report: dict[str, Any], lr: np.ndarray) -> None:
    """``degradation.json`` and its figure ``degradation.png`` (profiles and the air histogram of ``lr``)."""
    from mrisr.figures import degradation_figure

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
        f"  noise sigma    {', '.join(f'{v:.4f}' for v in report['noise_sigma'])} ({report['noise_sigma_note']})",
    ]
    return "\n".join(lines)
