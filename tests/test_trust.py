"""Trust maps and provenance: the test-time spread, the streamed data-consistency, the maps and the sidecar."""

import json
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
import torch
from conftest import OBLIQUE, blob
from test_inference import random_model

from mrisr.acquisition.forward import acquire_axis, blur_decimate, gaussian_downsample
from mrisr.acquisition.model import Acquisition
from mrisr.config import Config
from mrisr.inference.loaded import LoadedModel
from mrisr.inference.running import super_resolve_slabs
from mrisr.inference.sidecar import file_sha256
from mrisr.inference.writing import Companions, super_resolve_file
from mrisr.io import refine_affine, save_volume
from mrisr.models.checkpoint import save_checkpoint
from mrisr.models.generator import UnpairedSR
from mrisr.trust.consistency import ConsistencyStream
from mrisr.trust.features import FEATURES
from mrisr.trust.spread import uncertainty_passes


def test_passes_give_the_plain_prediction_and_a_spread_from_flips_and_noise():
    x = torch.ones(1, 1, 6, 7, 8)  # flat: no noise to draw again
    plain, spread = uncertainty_passes(lambda t: 2 * t, x, 8)
    torch.testing.assert_close(plain, 2 * x)
    assert float(spread.abs().max()) < 1e-6  # flip-equivariant and noise-free: nothing changes
    ramp = torch.arange(8.0).expand(1, 1, 6, 7, 8)
    plain, spread = uncertainty_passes(lambda t: t + ramp, x, 8)  # not flip-equivariant along the last axis
    torch.testing.assert_close(plain, x + ramp)
    assert float(spread.min()) > 0.4  # half the passes see the ramp reversed: spread |7 - 2k| / 2 >= 0.5
    noisy = x + 0.1 * torch.randn(x.shape, generator=torch.Generator().manual_seed(0))
    _, spread = uncertainty_passes(lambda t: t, noisy, 8)
    assert 0.03 < float(spread.mean()) < 0.2  # the identity passes the redrawn noise (std 0.1) through


@pytest.mark.parametrize(
    ("scale", "fwhm", "slab", "shape"),
    [
        ((2, 2, 2), (2.0, 1.5, 2.5), 6, "gaussian"),
        ((1, 1, 4), (0, 0, 4.0), 3, "gaussian"),
        ((2, 2, 2), (2, 2, 2), 5, "sinc"),
    ],
)
def test_the_streamed_consistency_equals_degrading_the_whole_sr(scale, fwhm, slab, shape):
    rng = np.random.default_rng(0)
    lr_shape = (8, 6, 17)
    sr = rng.random(tuple(n * f for n, f in zip(lr_shape, scale))).astype(np.float32)
    stream = ConsistencyStream(lr_shape, sr.shape, Acquisition(scale, fwhm, shape))
    for z in range(0, sr.shape[2], slab * scale[2]):
        stream.add(sr[:, :, z : z + slab * scale[2]])
    whole = blur_decimate(
        torch.from_numpy(sr.astype(np.float64))[None, None], scale, torch.tensor(fwhm, dtype=torch.float64), shape
    )
    np.testing.assert_allclose(stream.finish(), whole[0, 0].numpy(), atol=1e-5)


@pytest.mark.parametrize(("scale", "axis"), [(4.5, 2), (1.5, 0)])
def test_the_streamed_consistency_at_a_non_integer_factor_is_the_slice_forward_model(scale, axis):
    rng = np.random.default_rng(0)
    lr_shape = [8, 6, 10]
    sr_shape = list(lr_shape)
    sr_shape[axis] = round(lr_shape[axis] * scale)
    sr = rng.random(sr_shape).astype(np.float32)
    fwhm = [0.0, 0.0, 0.0]
    fwhm[axis] = 3.0
    stream = ConsistencyStream(lr_shape, sr_shape, Acquisition.slices(axis, scale, 3.0))
    slab = sr.shape[2] if axis == 2 else 4
    for z in range(0, sr.shape[2], slab):
        stream.add(sr[:, :, z : z + slab])
    np.testing.assert_allclose(stream.finish(), acquire_axis(sr, axis, scale, 3.0, lr_shape[axis]), atol=1e-5)


def test_uncertainty_is_higher_where_the_input_is_noisier():
    """A model at initialisation (cubic interpolation): its spread is the redrawn noise it passes on."""
    model = UnpairedSR((2, 2, 2), width=4)
    rng = np.random.default_rng(0)
    lr = blob((24, 24, 24), (12, 12, 12), sigma=8) + 0.2
    noise = np.where(np.arange(24)[:, None, None] < 12, 0.01, 0.1)
    lr = (lr + noise * rng.standard_normal(lr.shape)).astype(np.float32)
    spread = np.concatenate([u for _, u in super_resolve_slabs(model, lr, passes=4)], axis=2)
    quiet, noisy = spread[:20].mean(), spread[28:].mean()  # SR voxels of each half, away from the border
    assert noisy > 3 * quiet > 0


@pytest.fixture
def trained(tmp_path):
    """A checkpoint of a random 2x2x2 model whose acquisition says FWHM 2 voxels, and an LR volume."""
    model = random_model(width=4)
    model_config = {"scale": [2, 2, 2], "width": 4, "architecture": "unpaired", "degradation": "free"}
    config = Config().override({"model": model_config})
    acquisition = {
        "fwhm_hr_voxels": [2.0, 2.0, 2.0],
        "fwhm_mm": [2.0] * 3,
        "fwhm_source": "fixed (config)",
        "noise_sigma": [0.01],
        "noise_sigma_note": "as configured",
        "warnings": ["a warning"],
    }
    save_checkpoint(tmp_path / "model.pt", model, config, step=7, acquisition=acquisition)
    lr = (100 * blob((16, 18, 20), (8, 9, 10), sigma=4) + 5).astype(np.float32)
    save_volume(tmp_path / "lr.nii.gz", lr, OBLIQUE)
    return tmp_path / "model.pt", tmp_path / "lr.nii.gz"


def companions(tmp_path):
    return Companions(tmp_path / "u.nii.gz", tmp_path / "c.nii.gz")


def test_maps_land_on_the_exact_grids_and_the_sidecar_records_the_run(trained, tmp_path):
    model_path, lr_path = trained
    model = LoadedModel.load(model_path, "cpu", "fp32", "mrisr infer ...")
    out = super_resolve_file(model, lr_path, tmp_path / "sr.nii.gz", companions=companions(tmp_path))
    lr, sr = nib.load(lr_path), nib.load(out)
    uncertainty, consistency = nib.load(tmp_path / "u.nii.gz"), nib.load(tmp_path / "c.nii.gz")
    assert uncertainty.shape == sr.shape and np.allclose(uncertainty.affine, refine_affine(OBLIQUE, (2, 2, 2)))
    assert consistency.shape == lr.shape and np.allclose(consistency.affine, lr.affine)
    degraded = gaussian_downsample(sr.get_fdata(dtype=np.float32), (2, 2, 2), (2.0, 2.0, 2.0))
    np.testing.assert_allclose(consistency.get_fdata(), degraded - lr.get_fdata(), atol=1e-3)
    assert np.all(uncertainty.get_fdata() >= 0) and uncertainty.get_fdata().max() > 0
    record = json.loads((tmp_path / "sr.json").read_text())
    assert record["Model"]["SHA256"] == file_sha256(model_path)
    assert record["Model"]["WeightsSHA256"] == model.meta["weights_sha256"]
    assert record["Sources"] == [str(Path(lr_path).resolve())]
    assert record["GeneratedBy"][0]["Name"] == "mrisr" and record["Scale"] == [2, 2, 2]
    assert record["Degradation"]["FWHMmm"] == [2.0] * 3 and record["Degradation"]["Warnings"] == ["a warning"]
    assert record["Uncertainty"]["MeanHead"] > 0 and "split-conformal" in record["Uncertainty"]["Method"]
    calibration = record["Uncertainty"]["Calibration"]
    assert calibration["PairVoxels"] == calibration["FitVoxels"] + calibration["CalibrationVoxels"] > 1000
    assert calibration["Features"] == list(FEATURES) and calibration["HeldOutR2"] <= 1
    assert calibration["ConformalScale"] > 0 and 0.9 <= calibration["CalibrationCoverage"] <= 1
    assert record["Consistency"]["psnr"] > 10 and record["Consistency"]["mean_abs_residual_head"] > 0
    plain = model.super_resolve(lr.get_fdata(dtype=np.float32))
    np.testing.assert_allclose(sr.get_fdata(), plain, rtol=1e-5, atol=1e-4)  # the maps do not change the SR


def test_a_run_that_fails_midway_leaves_no_output_map_or_sidecar(trained, tmp_path, monkeypatch):
    model_path, lr_path = trained
    model = LoadedModel.load(model_path, "cpu")

    def killed(self):
        raise KeyboardInterrupt

    monkeypatch.setattr(ConsistencyStream, "finish", killed)
    with pytest.raises(KeyboardInterrupt):
        super_resolve_file(model, lr_path, tmp_path / "sr.nii.gz", companions=companions(tmp_path))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["lr.nii.gz", "model.pt"]  # no temp files either
