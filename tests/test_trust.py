"""Trust maps and provenance: uncertainty from test-time flips, the streamed data-consistency, the sidecar."""

import json
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
import torch
from conftest import OBLIQUE, blob
from scipy import stats
from test_inference import random_model

from mrisr.acquisition.degradation import acquire_axis, blur_decimate, gaussian_downsample
from mrisr.checkpoint import load_model, save_checkpoint
from mrisr.config import Config
from mrisr.errormap import (
    FEATURES,
    block_halves,
    conformal_scale,
    fit_log_linear,
    internal_pair,
    planar_pairs,
    predict,
    slice_phase,
)
from mrisr.inference import Companions, super_resolve_array, super_resolve_file, super_resolve_slabs
from mrisr.io import refine_affine, save_volume
from mrisr.models import UnpairedSR
from mrisr.models.planar import PlanarSR
from mrisr.trust import ConsistencyStream, Provenance, file_sha256, uncertainty_passes


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
    stream = ConsistencyStream(lr_shape, sr.shape, fwhm, shape)
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
    stream = ConsistencyStream(lr_shape, sr_shape, fwhm)
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


def companions(model_path, meta, tmp_path, **kwargs):
    provenance = Provenance(model_path, meta, "mrisr infer ...", "float32", "cpu")
    return Companions(tmp_path / "u.nii.gz", tmp_path / "c.nii.gz", provenance=provenance, **kwargs)


def test_maps_land_on_the_exact_grids_and_the_sidecar_records_the_run(trained, tmp_path):
    model_path, lr_path = trained
    model, meta = load_model(model_path)
    out = super_resolve_file(model, lr_path, tmp_path / "sr.nii.gz", companions=companions(model_path, meta, tmp_path))
    lr, sr = nib.load(lr_path), nib.load(out)
    uncertainty, consistency = nib.load(tmp_path / "u.nii.gz"), nib.load(tmp_path / "c.nii.gz")
    assert uncertainty.shape == sr.shape and np.allclose(uncertainty.affine, refine_affine(OBLIQUE, (2, 2, 2)))
    assert consistency.shape == lr.shape and np.allclose(consistency.affine, lr.affine)
    degraded = gaussian_downsample(sr.get_fdata(dtype=np.float32), (2, 2, 2), (2.0, 2.0, 2.0))
    np.testing.assert_allclose(consistency.get_fdata(), degraded - lr.get_fdata(), atol=1e-3)
    assert np.all(uncertainty.get_fdata() >= 0) and uncertainty.get_fdata().max() > 0
    record = json.loads((tmp_path / "sr.json").read_text())
    assert record["Model"]["SHA256"] == file_sha256(model_path)
    assert record["Model"]["WeightsSHA256"] == meta["weights_sha256"]
    assert record["Sources"] == [str(Path(lr_path).resolve())]
    assert record["GeneratedBy"][0]["Name"] == "mrisr" and record["Scale"] == [2, 2, 2]
    assert record["Degradation"]["FWHMmm"] == [2.0] * 3 and record["Degradation"]["Warnings"] == ["a warning"]
    assert record["Uncertainty"]["MeanHead"] > 0 and "split-conformal" in record["Uncertainty"]["Method"]
    calibration = record["Uncertainty"]["Calibration"]
    assert calibration["PairVoxels"] == calibration["FitVoxels"] + calibration["CalibrationVoxels"] > 1000
    assert calibration["Features"] == list(FEATURES) and len(calibration["Weights"]) == len(FEATURES) + 1
    assert calibration["ConformalScale"] > 0 and 0.9 <= calibration["CalibrationCoverage"] <= 1
    assert record["Consistency"]["psnr"] > 10 and record["Consistency"]["mean_abs_residual_head"] > 0
    plain = super_resolve_array(model, lr.get_fdata(dtype=np.float32))
    np.testing.assert_allclose(sr.get_fdata(), plain, rtol=1e-5, atol=1e-4)  # the maps do not change the SR


def test_a_run_that_fails_midway_leaves_no_output_map_or_sidecar(trained, tmp_path, monkeypatch):
    model_path, lr_path = trained
    model, meta = load_model(model_path)

    def killed(self):
        raise KeyboardInterrupt

    monkeypatch.setattr(ConsistencyStream, "finish", killed)
    with pytest.raises(KeyboardInterrupt):
        super_resolve_file(model, lr_path, tmp_path / "sr.nii.gz", companions=companions(model_path, meta, tmp_path))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["lr.nii.gz", "model.pt"]  # no temp files either


def test_the_log_linear_fit_ranks_a_known_error_field():
    rng = np.random.default_rng(0)
    n = 20_000
    features = np.column_stack([np.exp(rng.normal(-3, 1, (n, 3))), rng.uniform(0, 0.5, n)])
    truth = np.array([-2.0, 0.6, 0.3, 0.0, 1.0])  # the noise feature has no say
    error = predict(features, truth) * np.exp(rng.normal(0, 0.3, n))
    weights = fit_log_linear(features[: n // 2], error[: n // 2])
    np.testing.assert_allclose(weights, truth, atol=0.05)
    held_out = stats.spearmanr(predict(features[n // 2 :], weights), error[n // 2 :]).statistic
    assert held_out > 0.85
    features[:, 3] = 0.25  # a constant feature (the phase at 2x2x2) gets no weight, and the fit still holds
    assert fit_log_linear(features, error)[4] == 0


@pytest.mark.parametrize("noise", [0.0, 0.02])
def test_the_conformal_scale_covers_held_out_errors_of_the_clean_truth(noise):
    """The pairs' truth is noisy: the scale is fitted on residuals with noise, and covers the error alone."""
    rng = np.random.default_rng(1)
    predicted = np.exp(rng.normal(-3, 0.5, 40_000))
    error = 0.7 * predicted * rng.standard_normal(predicted.shape)  # the true std is 0.7 of the prediction
    residual = np.abs(error + noise * rng.standard_normal(predicted.shape))
    scale = conformal_scale(predicted[:20_000], residual[:20_000], noise)
    assert 0.6 < scale < 0.8
    covered = np.abs(error[20_000:]) <= 2 * scale * predicted[20_000:]
    assert 0.93 < covered.mean() < 0.97


def test_block_halves_split_whole_blocks_about_evenly():
    halves = block_halves((40, 48, 33), seed=3)
    assert 0.35 < halves.mean() < 0.65
    for x, y, z in [(0, 8, 16), (32, 40, 32)]:
        assert np.all(halves[x : x + 8, y : y + 8, z : z + 8] == halves[x, y, z])
    assert not np.array_equal(halves, block_halves((40, 48, 33), seed=4))


def test_slice_phase_is_the_distance_from_the_nearest_slice_centre():
    phase = slice_phase((2, 3, 8), (1, 1, 4))
    np.testing.assert_allclose(phase[0, 0], [0.375, 0.125, 0.125, 0.375] * 2)
    assert np.all(phase[1] == phase[0])


def test_planar_pairs_acquire_the_scan_along_its_in_plane_axes_with_its_noise():
    rng = np.random.default_rng(0)
    sigma = 0.05
    scan = (1 + sigma * rng.standard_normal((48, 40, 12))).astype(np.float32)  # slices along the last axis
    pairs = planar_pairs(PlanarSR((1, 1, 4), width=4, blocks=1), scan, 4.0, sigma, rng)
    assert [p.scale for p in pairs] == [(4.0, 1.0, 1.0), (1.0, 4.0, 1.0)]
    assert [p.lr.shape for p in pairs] == [(12, 40, 12), (48, 10, 12)]
    assert all(p.truth.shape == scan.shape and p.spacing == (1.0, 1.0, 4.0) for p in pairs)
    assert [p.model.slice_axis for p in pairs] == [0, 1]
    assert all(0.9 * sigma < p.lr.std() < 1.1 * sigma for p in pairs)  # the blur took noise away: topped up


def test_the_internal_pair_is_the_scan_degraded_once_more_with_its_noise():
    rng = np.random.default_rng(0)
    sigma = 0.05
    scan = (1 + sigma * rng.standard_normal((33, 32, 30))).astype(np.float32)
    pair = internal_pair(UnpairedSR((2, 2, 2), width=4), scan, (2.0, 2.0, 2.0), "gaussian", sigma, rng)
    assert pair.lr.shape == (16, 16, 15) and pair.truth.shape == (32, 32, 30) and pair.scale == (2, 2, 2)
    assert 0.9 * sigma < pair.lr.std() < 1.1 * sigma
