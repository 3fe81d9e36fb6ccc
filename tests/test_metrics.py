import numpy as np
import pytest

from mrisr.metrics import ause, local_rms_error, normalise_pair, psnr, score, sparsification_curve, ssim


def test_psnr_of_a_known_error():
    truth = np.zeros((10, 10, 10))
    assert psnr(truth + 0.1, truth) == pytest.approx(20.0)
    assert psnr(truth, truth) == float("inf")


def test_ssim_is_one_for_identical_and_lower_for_noisy():
    rng = np.random.default_rng(0)
    truth = rng.random((24, 24, 24))
    assert ssim(truth, truth) == pytest.approx(1.0)
    assert ssim(truth + rng.normal(0, 0.3, truth.shape), truth) < 0.9


def test_mask_restricts_the_score():
    truth = np.zeros((20, 20, 20))
    pred = truth.copy()
    pred[:5] = 0.5
    mask = np.zeros_like(truth, bool)
    mask[10:] = True
    result = score(pred, truth, mask)
    assert result["psnr_fg"] == float("inf") and result["psnr"] < 20
    assert result["ssim_fg"] > result["ssim"]


def test_both_volumes_are_scaled_by_the_truth():
    truth = np.linspace(0, 200, 1000)
    t, p = normalise_pair(truth, 2 * truth, 100.0)
    assert t.max() == pytest.approx(1.0) and p.max() == pytest.approx(2.0)


def test_sparsification_error_is_zero_for_the_error_itself_and_grows_as_the_ranking_fails():
    rng = np.random.default_rng(0)
    error = rng.random(10_000)
    assert ause(error, error) == pytest.approx(0.0, abs=1e-12)
    noisy, unrelated = error + 0.3 * rng.random(10_000), rng.random(10_000)
    assert 0 < ause(noisy, error) < ause(unrelated, error) < ause(-error, error)
    curve = sparsification_curve(error, error, np.array([0.0, 0.5]))
    assert curve[0] == pytest.approx(error.mean()) and curve[1] == pytest.approx(np.sort(error)[:5000].mean())


def test_the_local_error_is_the_smoothed_squared_error():
    truth = np.zeros((21, 21, 21))
    pred = truth.copy()
    pred[10, 10, 10] = 1.0
    local = local_rms_error(pred, truth, sigma=1.5)
    assert local.argmax() == 10 * 21 * 21 + 10 * 21 + 10 and (local**2).sum() == pytest.approx(1.0, rel=1e-3)
