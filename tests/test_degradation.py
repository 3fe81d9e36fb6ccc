import numpy as np
import pytest
import torch
from conftest import blob, world_centroid

from mrisr import MRISRError
from mrisr.acquisition.forward import (
    FWHM_TO_SIGMA,
    SimulationParams,
    acquire,
    acquire_axis,
    bias_field,
    blur_decimate,
    crop_to_multiple,
    degrade,
    gaussian_downsample,
    kspace_downsample,
    profile_weights,
    sample_params,
    slice_centres,
    white_noise_kept,
)
from mrisr.acquisition.noise import estimate_noise_sigma, rician, rician_sigma, rician_variance_factor
from mrisr.io import coarsen_affine

AFFINE = np.array([[0.0, 1.0, 0.0, -20.0], [-1.0, 0.0, 0.0, 30.0], [0.0, 0.0, 1.0, 5.0], [0, 0, 0, 1]])


@pytest.mark.parametrize("downsample", [gaussian_downsample, kspace_downsample])
@pytest.mark.parametrize("scale", [(2, 2, 2), (1, 1, 4), (3, 1, 2)])
def test_lr_sits_at_block_centres_in_world_space(downsample, scale):
    hr = blob((48, 48, 48), (23.3, 20.6, 25.1), sigma=4.0)
    lr = downsample(hr, scale)
    assert lr.shape == tuple(48 // f for f in scale)
    np.testing.assert_allclose(world_centroid(lr, coarsen_affine(AFFINE, scale)), world_centroid(hr, AFFINE), atol=0.02)


@pytest.mark.parametrize("downsample", [gaussian_downsample, kspace_downsample])
def test_factor_one_is_identity(downsample):
    hr = np.random.default_rng(0).random((10, 12, 14)).astype(np.float32)
    np.testing.assert_allclose(downsample(hr, (1, 1, 1)), hr, atol=1e-5)


@pytest.mark.parametrize("downsample", [gaussian_downsample, kspace_downsample])
def test_mean_intensity_is_kept(downsample):
    hr = blob((32, 32, 32), (16, 15, 17), sigma=5) + 0.2
    assert downsample(hr, (2, 2, 2)).mean() == pytest.approx(hr.mean(), rel=0.01)


def test_kspace_keeps_the_central_spectrum_only_sampled_at_block_centres():
    """Cosines inside the kept band come through unchanged at LR block centres ``f*j + (f-1)/2``; a cosine
    beyond the LR's Nyquist frequency is gone."""
    n, low, high = 32, 3, 12  # cycles per field of view: the LR (16 voxels) keeps -8..7
    x = np.arange(n)

    def wave(cycles, where):
        return np.cos(2 * np.pi * cycles * where / n)

    along_x, along_z = wave(low, x) + 0.5 * wave(high, x), 0.3 * wave(low, x)
    hr = 2.0 + along_x[:, None, None] + along_z[None, None, :] + np.zeros((1, 4, 1))
    lr = kspace_downsample(hr, (2, 1, 2))
    centres = 2 * np.arange(n // 2) + 0.5
    expected = 2.0 + wave(low, centres)[:, None, None] + 0.3 * wave(low, centres)[None, None, :]
    assert lr.shape == (16, 4, 16)
    np.testing.assert_allclose(lr, np.broadcast_to(expected, lr.shape), atol=1e-5)
    spectrum = np.abs(np.fft.fft(lr[:, 0, 0] - lr[:, 0, 0].mean()))
    assert spectrum[low] > 100 * np.delete(spectrum, [low, 16 - low]).max()


def test_the_sinc_profile_is_the_kspace_crop_in_torch():
    """The training forward model of k-space truncation matches the simulation's FFT crop far from the edges
    (the crop is periodic; the torch profile replicates edges), where a Gaussian of the same factor does not."""
    hr = blob((48, 48, 48), (23.3, 20.6, 25.1), sigma=2.0) + 0.3 * blob((48, 48, 48), (30, 28, 20), sigma=1.0)
    truth = kspace_downsample(hr, (2, 2, 2))[6:-6, 6:-6, 6:-6]
    x, fwhm = torch.from_numpy(hr.astype(np.float64))[None, None], torch.tensor([2.0, 2.0, 2.0], dtype=torch.float64)
    errors = {}
    for shape in ("gaussian", "sinc"):
        lr = blur_decimate(x, (2, 2, 2), fwhm, shape)[0, 0].numpy()[6:-6, 6:-6, 6:-6]
        errors[shape] = np.sqrt(np.mean((lr - truth) ** 2))
    assert errors["sinc"] < 0.2 * errors["gaussian"]


def test_the_sinc_profile_is_centred_on_the_block_and_ignores_the_fwhm():
    weights, radius = profile_weights(2, torch.tensor(1.0, dtype=torch.float64), "sinc")
    same, _ = profile_weights(2, torch.tensor(3.0, dtype=torch.float64), "sinc")
    torch.testing.assert_close(weights, same)
    torch.testing.assert_close(weights, weights.flip(0))  # symmetric about (f - 1) / 2, the block centre
    assert float(weights.sum()) == pytest.approx(1.0) and radius == 13
    with pytest.raises(MRISRError, match="slice-profile shape"):
        profile_weights(2, torch.tensor(1.0), "box")


def test_thicker_profile_blurs_more():
    hr = np.zeros((16, 16, 32), np.float32)
    hr[:, :, 16:] = 1.0
    thin = gaussian_downsample(hr, (1, 1, 4), fwhm=(0, 0, 2))
    thick = gaussian_downsample(hr, (1, 1, 4), fwhm=(0, 0, 8))
    assert np.abs(np.diff(thick[0, 0])).max() < np.abs(np.diff(thin[0, 0])).max()


def test_shape_must_be_a_multiple_of_the_factor():
    with pytest.raises(MRISRError, match="multiple"):
        gaussian_downsample(np.zeros((9, 8, 8)), (2, 2, 2))
    assert crop_to_multiple(np.zeros((9, 8, 7)), (2, 2, 2)).shape == (8, 8, 6)


@pytest.mark.parametrize("sigma", [0.01, 0.02, 0.05])
def test_noise_sigma_is_recovered_from_the_air(sigma):
    image = np.zeros((60, 60, 60), np.float32)
    image[15:45, 15:45, 15:45] = 0.8
    noisy = rician(image, *np.random.default_rng(0).normal(0, sigma, (2, *image.shape)))
    assert estimate_noise_sigma(noisy) == pytest.approx(sigma, rel=0.05)
    no_air = blob((40, 40, 40), (20, 20, 20), sigma=30) + 0.3
    no_air = rician(no_air, *np.random.default_rng(1).normal(0, sigma, (2, *no_air.shape)))
    assert estimate_noise_sigma(no_air) == pytest.approx(sigma, rel=0.1)


@pytest.mark.parametrize("sigma", [0.01, 0.02])
def test_a_smooth_background_in_the_air_is_not_read_as_noise(sigma):
    """A template's averaged background (here a ramp from 0.03 to 0.08) has a second moment far above the
    noise's: only its spread about the smooth part is noise."""
    image = np.zeros((60, 60, 60), np.float32)
    image[15:45, 15:45, 15:45] = 0.8
    image += np.linspace(0.03, 0.08, 60, dtype=np.float32)[:, None, None]
    noisy = rician(image, *np.random.default_rng(2).normal(0, sigma, (2, *image.shape)))
    assert estimate_noise_sigma(noisy) == pytest.approx(sigma, rel=0.1)
    assert np.sqrt(np.mean(noisy[:6, :6, :6] ** 2) / 2) > 1.3 * sigma  # the Rayleigh moment alone would not


@pytest.mark.parametrize("snr", [1.0, 3.0, 10.0])
def test_rician_sigma_inverts_the_mean_and_spread_of_rician_samples(snr):
    """Away from pure air, where the inversion is ill-conditioned and the second moment serves instead."""
    noise = np.random.default_rng(3).normal(0, 1.0, (2, 200_000))
    samples = rician(np.float64(snr), *noise)
    assert rician_variance_factor(0.0) == pytest.approx(2 - np.pi / 2)
    assert rician_variance_factor(snr) == pytest.approx(samples.var(), rel=0.02)
    assert rician_sigma(samples.mean(), samples.std()) == pytest.approx(1.0, rel=0.03)


def test_parameters_are_drawn_apart_from_the_deterministic_transform():
    params = sample_params(np.random.default_rng(3), (2, 2, 2), noise_range=(0.01, 0.03), bias_strength=0.1)
    assert params == sample_params(np.random.default_rng(3), (2, 2, 2), noise_range=(0.01, 0.03), bias_strength=0.1)
    hr = blob((16, 16, 16), (8, 8, 8)) + 0.1
    np.testing.assert_array_equal(degrade(hr, params), degrade(hr, params))
    assert 0.01 <= params.noise_sigma <= 0.03 and len(params.bias_coeffs) == 9


def test_bias_field_is_the_exponential_of_its_polynomial():
    """exp(c·(x, y, z, xy, xz, yz, x², y², z²)) over [-1, 1]³: 1 at the centre, known values at faces and corners."""
    c = [0.3, -0.2, 0.1, 0.05, 0.0, 0.0, 0.1, 0.0, -0.15]
    field = bias_field((31, 31, 31), c)
    assert field[15, 15, 15] == pytest.approx(1.0)
    assert field[30, 15, 15] == pytest.approx(np.exp(c[0] + c[6]), rel=1e-5)  # x = 1
    assert field[15, 0, 15] == pytest.approx(np.exp(-c[1]), rel=1e-5)  # y = -1
    assert field[15, 15, 30] == pytest.approx(np.exp(c[2] + c[8]), rel=1e-5)  # z = 1
    assert field[30, 30, 15] == pytest.approx(np.exp(c[0] + c[1] + c[3] + c[6]), rel=1e-5)  # x = y = 1
    hr = blob((31, 31, 31), (15, 15, 15), sigma=6) + 0.2
    np.testing.assert_allclose(degrade(hr, SimulationParams(scale=(1, 1, 1), bias_coeffs=c)), hr * field, rtol=1e-5)


def test_unknown_kind_is_an_error():
    with pytest.raises(MRISRError, match="unknown degradation"):
        degrade(np.ones((4, 4, 4)), SimulationParams(kind="nearest"))


@pytest.mark.parametrize(("spacing", "thickness"), [(5.0, 4.0), (4.5, 4.5), (6.0, 5.0), (3.0, 4.5)])
def test_a_delta_along_the_slice_axis_gives_the_slice_profile_at_the_slice_spacing(spacing, thickness):
    """Slices ``thickness`` voxels thick (FWHM) every ``spacing`` voxels: gaps and overlaps alike."""
    n = 200
    line = np.zeros((1, 1, n))
    line[..., 101] = 1.0
    lr = acquire_axis(line, 2, spacing, thickness)[0, 0]
    centres = slice_centres(len(lr), spacing)
    sigma = thickness * FWHM_TO_SIGMA
    expected = np.exp(-0.5 * ((101 - centres) / sigma) ** 2) / (sigma * np.sqrt(2 * np.pi))
    np.testing.assert_allclose(lr, expected, atol=2e-3)
    assert len(lr) == int(n / spacing)
    half = lr[np.abs(101 - centres) <= thickness / 2]  # within half the FWHM: at least half the peak
    assert half.size == 0 or half.min() >= 0.5 * expected.max() - 2e-3


def test_the_slice_forward_model_at_an_integer_factor_is_the_block_centred_one():
    hr = np.random.default_rng(0).random((8, 12, 16))
    np.testing.assert_allclose(acquire_axis(hr, 1, 4, 3.0), gaussian_downsample(hr, (1, 4, 1), (0, 3.0, 0)), atol=1e-4)
    expected = gaussian_downsample(hr, (2, 1, 4))
    np.testing.assert_allclose(acquire(hr, (2, 1, 4), (2.0, 0, 4.0), (4, 12, 4)), expected, atol=1e-6)


def test_slice_centres_keep_the_field_of_view():
    """Voxel edges aligned: the first slice starts where the first fine voxel does, the last ends with the last."""
    centres = slice_centres(4, 4.5)
    np.testing.assert_allclose(centres[0] - 4.5 / 2, -0.5)
    np.testing.assert_allclose(centres[-1] + 4.5 / 2, 4 * 4.5 - 0.5)


@pytest.mark.parametrize("shape", ["gaussian", "sinc"])
def test_the_noise_kept_is_the_std_of_white_noise_after_the_forward_model(shape):
    noise = torch.randn(1, 1, 64, 64, 64, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    scale, fwhm = (2, 2, 1), (2.0, 2.0, 1.0)
    degraded = blur_decimate(noise, scale, torch.tensor(fwhm, dtype=torch.float64), shape)[..., 4:-4, 4:-4, 4:-4]
    assert float(degraded.std()) == pytest.approx(white_noise_kept(scale, fwhm, shape), rel=0.03)
