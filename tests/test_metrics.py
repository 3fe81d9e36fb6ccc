import numpy as np
import pytest

from mrisr.metrics import normalise_pair, psnr, score, ssim


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
