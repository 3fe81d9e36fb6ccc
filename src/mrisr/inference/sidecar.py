"""Where an SR came from: the JSON sidecar (BIDS-derivative style) with the source, the model, its slice
profile and noise, how it ran, the geometry and the maps' summaries."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from mrisr import __version__
from mrisr.acquisition.geometry import scan_geometry
from mrisr.inference.loaded import LoadedModel
from mrisr.inference.orient import model_fwhm, model_profile_shape


def file_sha256(path: str | Path) -> str:
    """SHA-256 of a file's bytes, read in blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(2**20), b""):
            digest.update(block)
    return digest.hexdigest()


def output_geometry(
    input_path: str | Path,
    zooms: Sequence[float],
    sr_shape: Sequence[int],
    lr_shape: Sequence[int],
    pixel_mm: Sequence[float] | None = None,
) -> dict:
    """The sidecar's record of the geometry: the input's voxels (``zooms``: of the grid it was super-resolved
    from; ``pixel_mm``: the file's, where it was resampled in-plane to its resolution first), slice axis and
    thickness (with where it came from), the factor per axis and the SR's voxels."""
    scan = scan_geometry(input_path)
    factors = [m / n for m, n in zip(sr_shape, lr_shape)]
    pixels = [round(float(z), 4) for z in (zooms if pixel_mm is None else pixel_mm)]
    resampled = {} if pixels == [round(float(z), 4) for z in zooms] else {"InputPixelmm": pixels}
    return {
        **resampled,
        "InputVoxelmm": [round(float(z), 4) for z in zooms],
        "SliceAxis": scan.slice_axis,
        "SliceThicknessmm": scan.thickness,
        "SliceThicknessSource": scan.thickness_source,
        "Factors": [round(f, 6) for f in factors],
        "OutputVoxelmm": [round(float(z) / f, 4) for z, f in zip(zooms, factors)],
        "OutputShape": [int(n) for n in sr_shape],
    }


def sidecar(
    source: str | Path,
    model: LoadedModel,
    *,
    flips: int = 1,
    uncertainty: dict[str, Any] | None = None,
    consistency: dict[str, Any] | None = None,
    geometry: dict[str, Any] | None = None,
    extra: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The JSON sidecar of one SR volume: sources, software, model, factors, the degradation, the flipped passes
    averaged into the SR (``flips``), the maps, and the caller's ``extra`` entries (which win)."""
    meta = model.checkpoint("the sidecar")
    acquisition = meta.get("acquisition") or {}
    fwhm, fwhm_source = model_fwhm(meta)
    record: dict[str, Any] = {
        "Description": "super-resolved by mrisr (unpaired MRI super-resolution)",
        "Sources": [str(Path(source).resolve())],
        "GeneratedBy": [{"Name": "mrisr", "Version": __version__, "Command": model.command}],
        "Model": {
            "Path": str(Path(model.path).resolve()),
            "SHA256": file_sha256(model.path),
            "WeightsSHA256": meta["weights_sha256"],
            "Architecture": meta["config"]["model"]["architecture"],
            "TrainingSteps": meta.get("step"),
        },
        "Scale": list(meta["scale"]),
        "Geometry": geometry,
        "Degradation": {
            "FWHMHRVoxels": [round(float(w), 3) for w in fwhm],
            "FWHMmm": acquisition.get("fwhm_mm"),
            "FWHMSource": fwhm_source,
            "ProfileShape": model_profile_shape(meta),
            "NoiseSigma": acquisition.get("noise_sigma", meta.get("noise_sigmas")),
            "NoiseSigmaSource": acquisition.get("noise_sigma_note"),
            "Warnings": acquisition.get("warnings", []),
        },
        "Precision": model.precision,
        "Device": str(model.device),
        "FlipEnsemble": flips,
    }
    if uncertainty is not None:
        record["Uncertainty"] = uncertainty
    if consistency is not None:
        record["Consistency"] = consistency
    return {**record, **(extra or {})}
