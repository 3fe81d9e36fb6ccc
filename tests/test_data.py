import numpy as np
from conftest import blob

from mrisr.data import PatchSampler, foreground_mask, intensity_scale, prepare_volume
from mrisr.io import Volume


def test_patches_come_from_the_foreground():
    data = np.zeros((64, 64, 64), np.float32)
    data[40:56, 40:56, 40:56] = blob((16, 16, 16), (8, 8, 8), sigma=6) + 0.5
    vol = prepare_volume(Volume(data, np.eye(4)), 99.9, (8, 8, 8))
    patches = PatchSampler([vol], (8, 8, 8), flip=False, intensity_jitter=0).sample(np.random.default_rng(0), 32)
    assert patches.shape == (32, 1, 8, 8, 8)
    assert (patches.flatten(1).amax(1) > 0.5).all()  # every patch holds foreground


def test_small_volumes_are_padded_to_one_patch():
    vol = prepare_volume(Volume(np.random.rand(5, 20, 20).astype(np.float32), np.eye(4)), 99.9, (16, 16, 16))
    assert vol.data.shape == (16, 20, 20)
    assert PatchSampler([vol], (16, 16, 16)).sample(np.random.default_rng(0), 2).shape == (2, 1, 16, 16, 16)


def test_sampling_is_reproducible():
    vol = prepare_volume(Volume(np.random.rand(20, 20, 20).astype(np.float32) + 1, np.eye(4)), 99.9, (8, 8, 8))
    sampler = PatchSampler([vol], (8, 8, 8))
    a = sampler.sample(np.random.default_rng(5), 4)
    b = sampler.sample(np.random.default_rng(5), 4)
    assert np.array_equal(a.numpy(), b.numpy())


def test_normalisation_maps_the_percentile_to_one():
    data = np.linspace(0, 1000, 10_000)
    assert intensity_scale(data, 99.0) == np.percentile(data, 99.0)
    assert foreground_mask(np.pad(np.ones((6, 6, 6)), 3)).sum() == 216


def test_gamma_augmentation_changes_contrast_not_range():
    vol = prepare_volume(Volume(np.random.rand(20, 20, 20).astype(np.float32) + 0.2, np.eye(4)), 100.0, (8, 8, 8))
    plain = PatchSampler([vol], (8, 8, 8), flip=False, intensity_jitter=0)
    gamma = PatchSampler([vol], (8, 8, 8), flip=False, intensity_jitter=0, gamma_range=(2.0, 2.0))
    a, b = plain.sample(np.random.default_rng(1), 1), gamma.sample(np.random.default_rng(1), 1)
    np.testing.assert_allclose(b.numpy(), a.numpy() ** 2, rtol=1e-5)
