"""A scan's real in-plane resolution (sidecar matrices, the zero-filling band edge) and its grid at it."""

from __future__ import annotations

import json

import nibabel as nib
import numpy as np
import pytest
from conftest import OBLIQUE, tiny_config

from mrisr import MRISRError, datasets
from mrisr.acquisition.resolution import (
    band_edge,
    in_plane_resolution,
    on_working_grid,
    protocol_grid,
    resample_in_plane,
    sidecar_resolution,
)
from mrisr.acquisition.simulate import zero_fill
from mrisr.inference.loaded import LoadedModel
from mrisr.inference.writing import super_resolve_file
from mrisr.io import Volume, load_volume, save_volume
from mrisr.training import train


@pytest.fixture(scope="module")
def slices() -> np.ndarray:
    """Colin27 axial slices 1 mm in-plane, every 4 mm (a 120 x 144 field of view, 12 slices)."""
    data = load_volume(datasets.colin27()).data[30:150, 36:180, 40:136]
    return data.reshape(120, 144, 12, 8).mean(axis=3) / np.percentile(data, 99.9)


def zero_filled(image: np.ndarray, times: int = 2, noise: float = 0.01, seed: int = 0) -> np.ndarray:
    """``image`` with complex noise, reconstructed on a ``times`` finer in-plane matrix by zero-filling."""
    rng = np.random.default_rng(seed)
    complex_image = image + noise * (rng.standard_normal(image.shape) + 1j * rng.standard_normal(image.shape))
    sizes = {0: image.shape[0] * times, 1: image.shape[1] * times}
    return np.abs(zero_fill(complex_image, sizes)).astype(np.float32)


def test_zero_filling_keeps_the_image_on_its_own_samples_and_adds_no_power_above_the_band(slices):
    filled = np.real(zero_fill(slices.astype(complex), {0: 240, 1: 288}))
    assert filled.shape == (240, 288, 12)
    np.testing.assert_allclose(filled[::2, ::2], slices, atol=1e-4)
    with pytest.raises(MRISRError, match="larger"):
        zero_fill(slices, {0: 60})


def test_the_band_edge_of_a_zero_filled_slice_is_found_and_a_sharp_scan_has_none(slices):
    filled = zero_filled(slices)
    assert band_edge(filled, 0) == pytest.approx(0.5, abs=1 / 32)
    assert band_edge(filled, 1) == pytest.approx(0.5, abs=1 / 32)
    assert band_edge(slices, 0) is None and band_edge(slices, 1) is None
    assert band_edge(zero_filled(slices, times=3), 0) == pytest.approx(1 / 3, abs=1 / 32)
    found = in_plane_resolution(filled, (0.5, 0.5, 4.0), 2, {})
    assert found.mm[:2] == pytest.approx((1.0, 1.0), rel=0.07) and found.mm[2] == 4.0
    assert found.source.startswith("spectrum: zero-filling band edge")
    assert found.spacing((0.5, 0.5, 4.0), 2) == pytest.approx(1.0, rel=0.07)
    assert in_plane_resolution(slices, (1.0, 1.0, 4.0), 2, {}).spacing((1.0, 1.0, 4.0), 2) is None


def test_the_sidecar_matrices_give_the_resolution_per_axis():
    pixels, shape = (0.45, 0.45, 5.0), (512, 512, 30)
    both = sidecar_resolution({"AcquisitionMatrixPE": 256, "ReconMatrixPE": 512}, pixels, shape, 2)
    assert both.mm == pytest.approx((0.9, 0.9, 5.0))
    siemens = {
        "AcquisitionMatrixPE": 256,
        "ReconMatrixPE": 512,
        "BaseResolution": 320,
        "PhaseEncodingDirection": "j-",
        "PartialFourier": 0.875,
    }
    found = sidecar_resolution(siemens, pixels, shape, 2)
    assert found.mm == pytest.approx((0.45 * 512 / 320, 0.9, 5.0))  # readout along i, phase along j
    assert "BaseResolution 320" in found.source and "partial Fourier 0.875, not modelled" in found.source
    assert found.spacing(pixels, 2) == pytest.approx(0.72)
    assert sidecar_resolution({"AcquisitionMatrixPE": 256}, pixels, shape, 2) is None
    assert (
        sidecar_resolution({"AcquisitionMatrixPE": 512, "ReconMatrixPE": 512}, pixels, shape, 2).spacing(pixels, 2)
        is None
    )


def test_resampling_in_plane_keeps_the_field_of_view_and_undoes_zero_filling(slices):
    affine = OBLIQUE.copy()
    affine[:3, :3] = OBLIQUE[:3, :3] / np.linalg.norm(OBLIQUE[:3, :3], axis=0) * [0.5, 0.5, 4.0]
    fine = Volume(np.real(zero_fill(slices.astype(complex), {0: 240, 1: 288})).astype(np.float32), affine)
    coarse = resample_in_plane(fine, 2, 1.0)
    assert coarse.data.shape == (120, 144, 12)
    assert nib.affines.voxel_sizes(coarse.affine) == pytest.approx((1.0, 1.0, 4.0))
    np.testing.assert_allclose(coarse.data, np.clip(slices, slices.min(), None), atol=1e-3)

    def corners(volume: Volume) -> np.ndarray:  # the field of view's outer corners in the world
        n = np.asarray(volume.data.shape, float)
        edges = np.array([[-0.5, -0.5, -0.5], n - 0.5])
        return nib.affines.apply_affine(volume.affine, edges)

    np.testing.assert_allclose(corners(coarse), corners(fine), atol=1e-9)
    odd = resample_in_plane(fine, 2, 0.7)  # not a divisor: whole voxels, their size the field of view over them
    assert odd.data.shape[:2] == (171, 206) and np.allclose(corners(odd), corners(fine))
    assert on_working_grid(fine, None) is fine and on_working_grid(coarse, 1.0) is coarse


def write_scan(path, data: np.ndarray, pixel: float, sidecar: dict) -> str:
    save_volume(path, data, np.diag([pixel, pixel, 4.0, 1.0]))
    path.with_name(path.name.replace(".nii.gz", ".json")).write_text(json.dumps(sidecar))
    return str(path)


def test_a_protocol_works_at_its_resolution_and_a_spacing_resamples_or_is_told_it_adds_nothing(slices, tmp_path):
    scan = write_scan(tmp_path / "scan.nii.gz", zero_filled(slices), 0.5, {"SliceThickness": 4.0})
    grid = protocol_grid([scan])
    assert grid.in_plane_mm == pytest.approx(1.0, rel=0.07) and grid.factors[:2] == (1, 1)
    assert grid.factors[2] == pytest.approx(4.0 / grid.in_plane_mm, rel=1e-4)
    assert "resolution" in grid.described and "resampled in-plane" in grid.described
    coarser = protocol_grid([scan], spacing=2.0)
    assert coarser.in_plane_mm == 2.0 and coarser.factors == (1, 1, 2)
    finer = protocol_grid([scan], spacing=0.5)
    assert finer.in_plane_mm is None and finer.factors == (1, 1, 8)
    assert "holds no more detail than" in finer.described
    assert "holds no more detail" not in protocol_grid([scan], spacing=[1.0, 1.0, 1.0]).described
    with pytest.raises(MRISRError, match="one voxel size"):
        protocol_grid([scan], spacing=[1.0, 2.0, 1.0])
    sidecar = {"SliceThickness": 4.0, "AcquisitionMatrixPE": 120, "ReconMatrixPE": 240}
    told = write_scan(tmp_path / "told.nii.gz", zero_filled(slices), 0.5, sidecar)
    assert protocol_grid([told]).in_plane_mm == 1.0


def test_a_model_of_a_zero_filled_scan_learns_and_serves_it_at_its_resolution(slices, tmp_path):
    """Trained on a 2x zero-filled scan, the model's factors and SR are those of the 1 mm resolution: the SR is
    isotropic at 1 mm over the same field of view."""
    from mrisr.training.plan import TrainRequest, training_config

    sidecar = {"SliceThickness": 4.0, "AcquisitionMatrixPE": 48, "ReconMatrixPE": 96}
    scan = write_scan(tmp_path / "scan.nii.gz", zero_filled(slices[:40, :48]), 0.5, sidecar)
    settled = training_config(TrainRequest(lr=[scan]))
    config = tiny_config([], [scan], scale=settled.model.scale)
    config.model.architecture, config.model.in_plane_mm = "planar", settled.model.in_plane_mm
    model = LoadedModel.load(train(config, tmp_path / "run"), "cpu", "fp32")
    report = json.loads((tmp_path / "run" / "degradation.json").read_text())
    assert report["lr_voxel_mm"] == [1.0, 1.0, 4.0]
    assert "pixels [0.5, 0.5] mm, resolution [1.0, 1.0]" in report["in_plane"]
    out = super_resolve_file(model, scan, tmp_path / "sr.nii.gz", companions=None)
    sr = nib.load(out)
    assert sr.shape == (40, 48, 48) and nib.affines.voxel_sizes(sr.affine) == pytest.approx((1.0, 1.0, 1.0))
    record = json.loads((tmp_path / "sr.json").read_text())["Geometry"]
    assert record["InputPixelmm"] == [0.5, 0.5, 4.0] and record["InputVoxelmm"] == [1.0, 1.0, 4.0]
