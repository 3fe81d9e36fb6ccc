import pytest
import torch

from mrisr.acquisition.forward import blur_decimate
from mrisr.evaluation import interpolate
from mrisr.models.blocks import pixel_shuffle_3d
from mrisr.models.discriminator import PatchDiscriminator
from mrisr.models.generator import UnpairedSR, cubic_upsample, downsample, upsample

FACTORS = [(2, 2, 2), (1, 1, 4), (1, 2, 3)]


@pytest.mark.parametrize("scale", FACTORS)
def test_every_flow_has_the_right_shape(scale):
    model = UnpairedSR(scale, width=8, encoder_blocks=1, decoder_blocks=1)
    lr = torch.rand(2, 1, 6, 5, 4)
    hr = torch.rand(2, 1, 6 * scale[0], 5 * scale[1], 4 * scale[2])
    assert model.super_resolve(lr).shape == hr.shape
    assert model.hr_encoder(hr).shape == model.lr_encoder(lr).shape == (2, 8, 6, 5, 4)
    assert model.degrade(hr, noise_sigma=torch.full((2,), 0.02)).shape == lr.shape


@pytest.mark.parametrize("scale", FACTORS)
def test_untrained_model_starts_from_interpolation(scale):
    model = UnpairedSR(scale, width=8)
    lr = torch.rand(1, 1, 5, 6, 7)
    hr = torch.rand(1, 1, 5 * scale[0], 6 * scale[1], 7 * scale[2])
    torch.testing.assert_close(model.super_resolve(lr), cubic_upsample(lr, scale))
    trilinear = UnpairedSR(scale, width=8, upsampler="trilinear")
    torch.testing.assert_close(trilinear.super_resolve(lr), upsample(lr, scale))
    torch.testing.assert_close(UnpairedSR(scale, width=8, degradation="free").degrade(hr), downsample(hr, scale))
    torch.testing.assert_close(model.degrade(hr), blur_decimate(hr, scale, model.slice_profile.fwhm()))
    expected = torch.tensor([0.75 * f if f > 1 else 0.0 for f in scale])
    torch.testing.assert_close(model.slice_profile.fwhm(), expected)


@pytest.mark.parametrize("scale", [(2, 2, 2), (1, 1, 4), (3, 1, 2)])
def test_cubic_upsampling_is_the_evaluations_cubic_baseline(scale):
    """The SR base is the cubic B-spline a user compares the SR with (SciPy's zoom), edges included."""
    lr = torch.rand(1, 1, 9, 10, 11, generator=torch.Generator().manual_seed(0))
    expected = interpolate(lr[0, 0].numpy(), scale, 3)
    torch.testing.assert_close(cubic_upsample(lr, scale)[0, 0], torch.from_numpy(expected), atol=1e-3, rtol=0)


def test_degradation_noise_is_random_and_at_the_asked_level():
    model = UnpairedSR((2, 2, 2), width=4)
    hr = torch.full((1, 1, 32, 32, 32), 0.5)
    a, b = model.degrade(hr, torch.tensor([0.05])), model.degrade(hr, torch.tensor([0.05]))
    assert not torch.equal(a, b)
    assert a.std().item() == pytest.approx(0.05, rel=0.1)


def test_pixel_shuffle_places_channels_as_sub_voxels():
    x = torch.arange(1 * 2 * 4 * 1 * 1 * 1, dtype=torch.float32).reshape(1, 8, 1, 1, 1)
    y = pixel_shuffle_3d(x, (1, 2, 4))
    assert y.shape == (1, 1, 1, 2, 4)
    assert y.flatten().tolist() == list(range(8))


def test_bad_input_shape_is_a_value_error():
    with pytest.raises(ValueError, match="B, 1, D, H, W"):
        UnpairedSR().super_resolve(torch.rand(1, 2, 4, 4, 4))


def test_patch_discriminator_scores_patches():
    scores = PatchDiscriminator(1, width=4, n_strided=2)(torch.rand(2, 1, 16, 16, 16))
    assert scores.shape == (2, 1, 4, 4, 4)


def test_learned_slice_profile_stays_in_its_physical_range():
    model = UnpairedSR((1, 1, 4), width=4)
    with torch.no_grad():
        model.slice_profile.log_fwhm.fill_(10.0)
    assert model.slice_profile.fwhm().tolist() == [0.0, 0.0, 8.0]
    with torch.no_grad():
        model.slice_profile.log_fwhm.fill_(-10.0)
    assert model.slice_profile.fwhm().tolist() == [0.0, 0.0, 2.0]


def test_unknown_upsampler_is_refused():
    with pytest.raises(ValueError, match="upsampler"):
        UnpairedSR((2, 2, 2), width=4, upsampler="nearest")


def test_unknown_degradation_model_is_refused():
    with pytest.raises(ValueError, match="degradation must be one of"):
        UnpairedSR(degradation="magic")


def test_intensity_transfer_starts_as_the_identity_and_stays_monotone():
    from mrisr.models.generator import IntensityTransfer

    transfer = IntensityTransfer(knots=4)
    x = torch.linspace(0, 1.5, 31)
    torch.testing.assert_close(transfer(x), x)
    with torch.no_grad():
        transfer.raw_slopes.copy_(torch.tensor([3.0, -4.0, 0.5, -1.0]))  # any values: slopes stay positive
    y = transfer(x)
    assert y[0] == 0 and bool((y.diff() > 0).all())


def test_a_contrast_model_learns_a_gamma_curve_from_pairs():
    """Fitted by gradient descent to x**0.6 (a brighter target), the curve recovers it within 0.02."""
    from mrisr.models.generator import IntensityTransfer

    transfer = IntensityTransfer()
    x = torch.rand(4096)
    optimiser = torch.optim.Adam(transfer.parameters(), lr=0.05)
    for _ in range(400):
        optimiser.zero_grad()
        ((transfer(x) - x**0.6) ** 2).mean().backward()
        optimiser.step()
    grid = torch.linspace(0.1, 1, 10)
    assert float((transfer(grid).detach() - grid**0.6).abs().max()) < 0.02
