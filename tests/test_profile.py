"""Degradation recovery on known truth: the slice profile and noise of simulated acquisitions of real MRI."""

import numpy as np
import pytest

from mrisr import datasets
from mrisr.acquisition.forward import SimulationParams, crop_to_multiple, degrade
from mrisr.acquisition.noise import estimate_noise_sigma
from mrisr.acquisition.profile import estimate_fwhm, power_spectrum, spectral_misfit
from mrisr.intensity import intensity_scale
from mrisr.io import load_volume


@pytest.fixture(scope="module")
def colin() -> np.ndarray:
    data = load_volume(datasets.colin27()).data
    return data / intensity_scale(data, 99.9)


@pytest.mark.parametrize(
    ("scale", "fwhm", "sigma"),
    [
        ((2, 2, 2), (1.5, 2.5, 3.0), 0.01),
        ((2, 2, 2), (2.0, 2.0, 2.0), 0.03),
        ((1, 1, 4), (0.0, 0.0, 4.0), 0.005),
        ((1, 1, 4), (0.0, 0.0, 6.0), 0.05),
    ],
)
def test_slice_profile_and_noise_are_recovered_within_10_percent(colin, scale, fwhm, sigma):
    """The reference is the HR volume itself (2×2×2) or the scan's own in-plane axes (thick slices), but only
    spectra are used: no voxel is paired."""
    lr = degrade(crop_to_multiple(colin, scale), SimulationParams(scale=scale, fwhm=fwhm, noise_sigma=sigma))
    noise = estimate_noise_sigma(lr)
    assert noise == pytest.approx(sigma, rel=0.1)
    estimate = estimate_fwhm(lr, scale, [colin], noise_sigma=noise)
    np.testing.assert_allclose(estimate, fwhm, rtol=0.1)


def test_the_misfit_is_smallest_for_the_true_gain_and_floor():
    rng = np.random.default_rng(0)
    clean = rng.random((500, 32)).cumsum(axis=1) / 10  # a red spectrum
    target = power_spectrum(clean * 2 + rng.normal(0, 0.1, clean.shape))
    model = power_spectrum(clean)
    assert spectral_misfit(target, model, 0.01) < 0.01 < spectral_misfit(target, model, 0.0)


def test_axes_too_short_for_spectra_keep_the_slice_wide_default():
    small = np.random.default_rng(0).random((20, 24, 20))
    assert estimate_fwhm(small, (2, 2, 2), [small]) == (2.0, 2.0, 2.0)
    assert estimate_fwhm(small, (1, 1, 4), [small]) == (0.0, 0.0, 4.0)


def test_thick_slices_are_measured_against_the_scan_itself_not_a_smoother_template(colin):
    """A population template as the only HR volume would bias a 4-voxel profile low (3.1); the scan's own
    in-plane axes are used instead and land within 10%."""
    lr = degrade(crop_to_multiple(colin, (1, 1, 4)), SimulationParams(scale=(1, 1, 4), fwhm=(0, 0, 4.0)))
    template = load_volume(datasets.template("mni2009a")).data
    estimate = estimate_fwhm(lr, (1, 1, 4), [template / intensity_scale(template, 99.9)])
    assert estimate[:2] == (0.0, 0.0) and estimate[2] == pytest.approx(4.0, rel=0.1)
