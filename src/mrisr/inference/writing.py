"""One SR file written with what belongs beside it: the uncertainty and consistency maps and the JSON
sidecar, streamed slab by slab and appearing under their names together, or not at all."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import nibabel as nib
import numpy as np
import torch

from mrisr import MRISRError
from mrisr.acquisition.geometry import find_slice_axis
from mrisr.acquisition.model import Acquisition
from mrisr.acquisition.resolution import on_working_grid, working_shape
from mrisr.config import ModelConfig
from mrisr.inference.loaded import LoadedModel
from mrisr.inference.memory import ERROR_MAP_VOLUMES, check_memory, map_buffers, one_window_voxels, output_shape
from mrisr.inference.running import super_resolve_array, super_resolve_slabs
from mrisr.inference.sidecar import output_geometry, sidecar
from mrisr.intensity import foreground_mask, intensity_scale
from mrisr.io import NiftiStream, atomic_files, check_output_path, load_volume, output_name, refine_affine
from mrisr.trust.consistency import ConsistencyStream, HeadMean, consistency_summary
from mrisr.trust.uncertainty import ERROR_MAP_METHOD, self_calibrated_map


@dataclass(frozen=True)
class Companions:
    """The trust maps written beside an SR volume, together with it (:func:`mrisr.io.atomic_files`); the JSON
    sidecar comes with every SR of a trained model."""

    uncertainty: Path | None = None  # the std of the SR's error, learned from the scan (mrisr.trust.uncertainty)
    consistency: Path | None = None  # degrade(SR) - input, on the input's grid (at its resolution, see writing)

    def for_input(self, input_path: Path) -> Companions:
        """The companions of one input of a folder run, where the map paths name folders: one map of each kind
        per input in them."""
        return dataclasses.replace(
            self,
            uncertainty=self.uncertainty / output_name(input_path, "_uncertainty") if self.uncertainty else None,
            consistency=self.consistency / output_name(input_path, "_consistency") if self.consistency else None,
        )


def output_paths(
    output_path: str | Path, companions: Companions, model: LoadedModel, overwrite: bool
) -> dict[str, Path]:
    """Every file a super-resolution writes, by role, checked before any work: none exists (unless
    ``overwrite``) and no two share a name."""
    out = check_output_path(output_path, overwrite=overwrite)
    sidecar_path = out.parent / output_name(out, "", ".json") if model.meta is not None else None
    named = {"uncertainty": companions.uncertainty, "consistency": companions.consistency, "sidecar": sidecar_path}
    named = {"sr": out, **{k: check_output_path(v, overwrite=overwrite) for k, v in named.items() if v is not None}}
    if len(set(named.values())) < len(named):
        raise MRISRError(f"{out}: the output, its maps and its sidecar need different names")
    return named


def super_resolve_file(
    model: LoadedModel,
    input_path: str | Path,
    output_path: str | Path,
    *,
    companions: Companions | None = None,
    overwrite: bool = False,
    volume_index: int | None = None,
    progress: bool = False,
    max_memory_gb: float = 4.0,
    allow_nonfinite: bool = False,
    flips: int = 1,
    sidecar_extra: dict | None = None,
) -> Path:
    """Read a NIfTI, super-resolve it slab by slab straight into the output file, with ``A_out = A_in @ S``
    and the header kept; host memory stays under ``max_memory_gb`` whatever the volume's size. The SR is
    the mean over ``flips`` flipped passes (:func:`mrisr.inference.running.flip_ensemble`).

    The ``companions`` and the sidecar (with ``sidecar_extra`` added) are streamed beside it; the output and
    its companions appear under their names together, or not at all. A model that learned from scans
    resampled in-plane to their resolution (``model.in_plane_mm``) reads the input resampled alike; its
    consistency map is on that grid.
    """
    c = companions or Companions()
    if (c.uncertainty or c.consistency) and model.meta is None:
        raise ValueError("the trust maps need a trained model's checkpoint: its acquisition is the forward model")
    named = output_paths(output_path, c, model, overwrite)
    file = load_volume(input_path, volume_index=volume_index, allow_nonfinite=allow_nonfinite)
    volume = on_working_grid(file, model.in_plane_mm)  # at the resolution the model learned from
    network = model.for_scan(volume.zooms, str(input_path))
    lr, scale = volume.data, network.scale
    maps = map_buffers(c.consistency is not None, flips)
    volumes = ERROR_MAP_VOLUMES if c.uncertainty else 0
    slab_depth = check_memory(lr.shape, scale, max_memory_gb, str(input_path), maps, volumes)
    sr_shape = output_shape(lr.shape, scale)
    sr_affine = refine_affine(volume.affine, [m / n for m, n in zip(sr_shape, lr.shape)])
    run = {"percentile": model.percentile, "device": model.device, "dtype": model.dtype, "flips": flips}
    run["whole_slab_voxels"] = one_window_voxels(lr.shape, scale, slab_depth, max_memory_gb, maps, volumes)
    slabs = super_resolve_slabs(network, lr, slab_depth=slab_depth, progress=progress, **run)
    served = model.served_acquisition(scale) if c.uncertainty or c.consistency else None
    peak, head = input_head(lr, model.percentile) if served else (None, None)  # where the maps are summarised
    degraded = ConsistencyStream(lr.shape, sr_shape, served) if c.consistency else None
    whole = np.empty(sr_shape, np.float32) if c.uncertainty else None  # the error map's features need it all
    with atomic_files(list(named.values())) as tmp_list:
        tmp = dict(zip(named, tmp_list))
        with NiftiStream(tmp["sr"], sr_shape, sr_affine, volume.header) as sr_file:
            z = 0
            for sr, _ in slabs:
                sr_file.write(sr)
                if whole is not None:
                    whole[:, :, z : z + sr.shape[2]] = sr
                z += sr.shape[2]
                if degraded is not None:
                    degraded.add(sr)
        summaries = {}
        if c.uncertainty:

            def pair_sr(pair_network: torch.nn.Module, pair_lr: np.ndarray) -> np.ndarray:
                return super_resolve_array(pair_network, pair_lr, **run)

            uncertainty, record = uncertainty_map(network, lr, whole, served, pair_sr, peak, head)
            del whole
            with NiftiStream(tmp["uncertainty"], sr_shape, sr_affine, volume.header) as map_file:
                map_file.write(uncertainty)
            summaries["uncertainty"] = {"Path": str(c.uncertainty), **record}
        if degraded is not None:
            estimate = degraded.finish()
            with NiftiStream(tmp["consistency"], lr.shape, volume.affine, volume.header) as map_file:
                map_file.write(estimate - lr)
            summary = consistency_summary(estimate, lr, peak, head)
            summaries["consistency"] = {"Path": str(c.consistency), **summary}
        if "sidecar" in tmp:
            geometry = output_geometry(input_path, volume.zooms, sr_shape, lr.shape, file.zooms)
            record = sidecar(input_path, model, flips=flips, geometry=geometry, extra=sidecar_extra, **summaries)
            Path(tmp["sidecar"]).write_text(json.dumps(record, indent=2) + "\n")
    return named["sr"]


def check_planned_memory(
    paths: Sequence[str | Path], model: ModelConfig, limit_gb: float, *, uncertainty: bool, flips: int
) -> None:
    """Refuse, before any training, a scan of ``paths`` whose SR, consistency map and (with ``uncertainty``)
    uncertainty map a model of this config could not write within ``limit_gb``, from its header alone: on the
    working grid of ``model.in_plane_mm``, a planar model's factors turned to the scan's slice axis as
    :func:`mrisr.inference.orient.fit_to_scan` turns the model."""
    for path in paths:
        header = nib.load(path).header
        shape, zooms = header.get_data_shape()[:3], header.get_zooms()[:3]
        factors, axis = list(model.scale), find_slice_axis(zooms)
        trained = int(np.argmax(factors))
        if axis is not None and factors[trained] > min(factors):
            factors[trained], factors[axis] = factors[axis], factors[trained]
        volumes = ERROR_MAP_VOLUMES if uncertainty else 0
        working = working_shape(shape, zooms, model.in_plane_mm)
        check_memory(working, factors, limit_gb, str(path), map_buffers(True, flips), volumes)


def input_head(lr: np.ndarray, percentile: float) -> tuple[float, np.ndarray]:
    """The input's normalisation peak and its head mask, where the maps' summaries are taken."""
    peak = intensity_scale(lr, percentile)
    return peak, foreground_mask(lr / peak)


def uncertainty_map(
    network: torch.nn.Module,
    lr: np.ndarray,
    sr: np.ndarray,
    acquisition: Acquisition,
    pair_sr: Any,
    peak: float,
    head: np.ndarray,
) -> tuple[np.ndarray, dict[str, Any]]:
    """The uncertainty map of ``sr`` learned from the scan's own pairs (:mod:`mrisr.trust.uncertainty`), each
    pair super-resolved by ``pair_sr`` as ``sr`` was, and the sidecar's record of it (``peak``, ``head``: the
    input's normalisation and head mask)."""
    uncertainty, fitted = self_calibrated_map(network, lr, sr, acquisition, pair_sr, peak)
    mean_head = HeadMean(head, sr.shape)
    mean_head.add(uncertainty)
    record = {"Method": ERROR_MAP_METHOD, "MeanHead": round(mean_head.mean() / peak, 5), "Calibration": fitted.record()}
    return uncertainty, record
