"""The error map learned from the scan: its pairs, features, network and conformal scale."""

import numpy as np
import pytest
from scipy import ndimage, stats

from mrisr.acquisition.forward import acquire_axis
from mrisr.acquisition.model import Acquisition
from mrisr.evaluation import interpolate
from mrisr.models.generator import UnpairedSR
from mrisr.models.planar import PlanarSR
from mrisr.trust.errornet import (
    COVERAGE,
    PLANAR_COVERAGE,
    PairSamples,
    block_halves,
    conformal_scale,
    fit_error_net,
    pair_samples,
    predict,
)
from mrisr.trust.features import (
    DEPTH_CAP,
    FEATURES,
    derivative_magnitude,
    error_features,
    feature_columns,
    head_depth,
    reacquired,
    slice_phase,
)
from mrisr.trust.pairs import cycle_pair, internal_pair, planar_pairs, sr_acquisition


def known_error(features: np.ndarray) -> np.ndarray:
    """An error that grows with the first feature where the second is large: an interaction."""
    return np.exp(-3 + 0.8 * np.log(features[:, 0]) * (features[:, 1] > 0.1) + 0.5 * features[:, 12])


def test_the_error_net_ranks_a_known_error_field_and_is_seeded(monkeypatch):
    monkeypatch.setattr("mrisr.trust.errornet.FIT_STEPS", 500)  # a quarter of a scan's fit: enough for this field
    rng = np.random.default_rng(0)
    n = 20_000
    features = np.exp(rng.normal(-2, 1, (n, len(FEATURES)))).astype(np.float32)
    error = known_error(features) * np.exp(rng.normal(0, 0.2, n))
    net = fit_error_net(features[: n // 2], error[: n // 2], seed=0)
    held_out = stats.spearmanr(predict(net, features[n // 2 :]), error[n // 2 :]).statistic
    assert held_out > 0.85
    again = fit_error_net(features[: n // 2], error[: n // 2], seed=0)
    np.testing.assert_array_equal(predict(net, features[:100]), predict(again, features[:100]))
    assert not np.array_equal(predict(net, features[:100]), predict(fit_error_net(features, error, 1), features[:100]))


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
    wider = conformal_scale(predicted[:20_000], residual[:20_000], noise, PLANAR_COVERAGE)
    assert 0.96 < np.mean(np.abs(error[20_000:]) <= 2 * wider * predicted[20_000:]) < 0.99


def samples_of(error_std: float, rng: np.random.Generator, n: int = 20_000) -> PairSamples:
    """Pair samples whose |SR − truth| is Gaussian with std ``error_std`` times their one feature."""
    features = np.exp(rng.normal(-3, 0.5, (n, len(FEATURES)))).astype(np.float32)
    residual = np.abs(error_std * features[:, 0] * rng.standard_normal(n))
    return PairSamples(features, error_std * features[:, 0], residual, rng.random(n) < 0.5, 0.0)


def test_held_out_scales_follow_each_pairs_error_and_the_target(monkeypatch):
    monkeypatch.setattr("mrisr.trust.errornet.FIT_STEPS", 300)
    rng = np.random.default_rng(0)
    cycle, internal = samples_of(1.0, rng), samples_of(4.0, rng)  # the internal pair errs four times as much
    net = fit_error_net(cycle.features[cycle.fit], cycle.local[cycle.fit], seed=0)

    def scale_on(samples: PairSamples, rows: np.ndarray, coverage: float) -> float:
        return conformal_scale(predict(net, samples.features[rows]), samples.residual[rows], samples.noise, coverage)

    low, high = scale_on(cycle, ~cycle.fit, COVERAGE), scale_on(internal, np.ones_like(internal.fit), COVERAGE)
    assert 3.5 < high / low < 4.5
    assert scale_on(cycle, ~cycle.fit, PLANAR_COVERAGE) > low  # a wider target, a wider band


def test_reacquiring_the_truth_gives_back_its_input_whole_factors_or_not():
    rng = np.random.default_rng(0)
    truth = ndimage.gaussian_filter(rng.standard_normal((16, 12, 40)), 2).astype(np.float32)
    pair = internal_pair(UnpairedSR((2, 2, 2), width=4), truth, Acquisition((2, 2, 2), (2.0, 2.0, 2.0)), rng)
    np.testing.assert_allclose(reacquired(pair.truth, pair.lr.shape, pair.acquisition), pair.lr, atol=1e-5)
    thick = Acquisition((1.0, 1.0, 2.5), (0.0, 0.0, 2.5))
    lr = acquire_axis(truth, 2, 2.5, 2.5)
    np.testing.assert_allclose(reacquired(truth, lr.shape, thick), lr, atol=1e-5)


def test_the_cycle_pair_takes_the_sr_as_its_noiseless_truth_and_samples_are_capped(monkeypatch):
    rng = np.random.default_rng(0)
    sr = np.ones((32, 32, 32), np.float32)
    sr[3:29, 3:29, 3:29] = 2  # the central box of 0.8 of each axis
    pair = cycle_pair(
        UnpairedSR((2, 2, 2), width=4), sr, Acquisition((2, 2, 2), (2.0, 2.0, 2.0), noise_sigma=0.05), rng
    )
    assert pair.noise == 0 and pair.truth.shape == (26, 26, 26) and pair.lr.shape == (13, 13, 13)  # a central box
    assert np.all(pair.truth == 2) and 0.045 < pair.lr.std() < 0.055  # noise topped up to the scan's
    monkeypatch.setattr("mrisr.trust.errornet.PAIR_VOXELS", 1000)
    samples = pair_samples(pair, pair.truth + 0.01, peak=1.0, seed=0)
    assert samples.features.shape == (1000, len(FEATURES)) and samples.noise == 0
    np.testing.assert_allclose(samples.residual, 0.01, rtol=1e-3)


def test_derivatives_are_per_sr_voxel_and_split_across_and_along():
    ramp = np.broadcast_to(3.0 * np.arange(20, dtype=np.float32), (16, 16, 20)).copy()  # 3 per voxel along z
    inner = (slice(6, 10),) * 2 + (slice(6, 14),)
    np.testing.assert_allclose(derivative_magnitude(ramp, (1, 1, 1))[inner], 3.0, rtol=1e-3)
    np.testing.assert_allclose(derivative_magnitude(ramp, (1, 1, 4))[inner], 0.75, rtol=1e-3)  # 4 SR voxels apart
    assert np.abs(derivative_magnitude(ramp, (1, 1, 1), axes=(0, 1))).max() < 1e-4
    assert np.abs(derivative_magnitude(ramp, (1, 1, 1), order=2)[inner]).max() < 1e-3  # no curvature


def test_head_depth_is_zero_outside_and_grows_inward_to_its_cap():
    grids = np.meshgrid(*[np.arange(64.0)] * 3, indexing="ij")
    ball = (sum((g - 32) ** 2 for g in grids) < 28**2).astype(np.float32)
    depth = head_depth(ball, (1, 1, 1))
    assert depth[0, 0, 0] == 0 and depth[32, 32, 32] == DEPTH_CAP
    assert 1 <= depth[32, 32, 5] < depth[32, 32, 10] < depth[32, 32, 16] <= DEPTH_CAP
    assert head_depth(np.ones((9, 9, 9), np.float32), (1, 1, 1))[4, 4, 4] == 5  # the field of view ends it too


def test_error_features_are_one_finite_row_per_sr_voxel():
    rng = np.random.default_rng(0)
    lr = (1 + 0.05 * rng.standard_normal((12, 10, 8))).astype(np.float32)
    cubic = interpolate(lr, (1, 1, 4), 3)
    thick = Acquisition((1, 1, 4), (0.0, 0.0, 4.0))
    features = error_features(cubic, lr, thick, (1, 1, 1), peak=1.0)
    assert features.shape == (cubic.size, len(FEATURES)) and np.all(np.isfinite(features))
    assert [name for name, _ in feature_columns(cubic, lr, thick, (1, 1, 1))] == list(FEATURES)
    column = dict(zip(FEATURES, features.T))
    assert np.abs(column["detail"]).max() < 1e-5  # the SR is cubic: no detail added
    np.testing.assert_allclose(column["phase"], slice_phase(cubic.shape, (1, 1, 4)).ravel())
    assert 0.03 < np.median(column["noise"]) < 0.08  # the input's noise, std 0.05


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
    pairs = planar_pairs(PlanarSR((1, 1, 4), width=4, blocks=1), scan, Acquisition.slices(2, 4, 4.0, sigma), rng)
    assert [p.scale for p in pairs] == [(4.0, 1.0, 1.0), (1.0, 4.0, 1.0)]
    assert [p.lr.shape for p in pairs] == [(12, 40, 12), (48, 10, 12)]
    assert all(p.truth.shape == scan.shape and p.spacing == (1.0, 1.0, 4.0) for p in pairs)
    assert [p.model.slice_axis for p in pairs] == [0, 1]
    assert all(0.9 * sigma < p.lr.std() < 1.1 * sigma for p in pairs)  # the blur took noise away: topped up


def test_the_internal_pair_is_the_scan_degraded_once_more_with_its_noise():
    rng = np.random.default_rng(0)
    sigma = 0.05
    scan = (1 + sigma * rng.standard_normal((33, 32, 30))).astype(np.float32)
    pair = internal_pair(
        UnpairedSR((2, 2, 2), width=4), scan, Acquisition((2, 2, 2), (2.0, 2.0, 2.0), noise_sigma=sigma), rng
    )
    assert pair.lr.shape == (16, 16, 15) and pair.truth.shape == (32, 32, 30) and pair.scale == (2, 2, 2)
    assert 0.9 * sigma < pair.lr.std() < 1.1 * sigma


def test_the_sr_is_seen_as_acquired_by_the_models_profile_gaussian_for_the_planar_model():
    sinc = sr_acquisition(UnpairedSR((2, 2, 2), width=4), Acquisition((2, 2, 2), (2.0, 2.0, 2.0), "sinc"))
    assert sinc == Acquisition((2, 2, 2), (2.0, 2.0, 2.0), "sinc")
    planar = sr_acquisition(PlanarSR((1, 1, 4), width=4, blocks=1), Acquisition((1, 1, 4), (0.0, 0.0, 4.0), "sinc"))
    assert planar == Acquisition((1, 1, 4), (0.0, 0.0, 4.0), "gaussian")  # its pairs are acquired alike
