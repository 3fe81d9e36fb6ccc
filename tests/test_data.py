import numpy as np
from conftest import blob

from mrisr.intensity import foreground_mask, intensity_scale
from mrisr.io import Volume
from mrisr.sampling.synthesis import paint, random_paint, tissue_labels
from mrisr.sampling.volumes import PatchSampler, prepare_volume, shuffled_axes


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


def test_transposes_move_axes_only_onto_axes_of_the_same_voxel_size():
    rng = np.random.default_rng(0)
    orders = {tuple(shuffled_axes(rng, (8, 8, 8), (1.0, 1.0, 3.0))) for _ in range(50)}
    assert orders == {(0, 1, 2), (1, 0, 2)}  # the 3 mm axis stays; the in-plane axes swap
    assert len({tuple(shuffled_axes(rng, (8, 8, 8), (2.0, 2.0, 2.0))) for _ in range(200)}) == 6
    assert {tuple(shuffled_axes(rng, (8, 8, 4), (1.0, 1.0, 1.0))) for _ in range(50)} == {(0, 1, 2), (1, 0, 2)}


def test_transposed_patches_show_the_head_from_other_sides():
    ramp = np.broadcast_to(np.linspace(1, 2, 12)[:, None, None], (12, 12, 12)).astype(np.float32)
    vol = prepare_volume(Volume(np.ascontiguousarray(ramp), np.eye(4)), 100.0, (8, 8, 8))
    patches = PatchSampler([vol], (8, 8, 8), flip=False, transpose=True, intensity_jitter=0)
    batch = patches.sample(np.random.default_rng(0), 24)[:, 0].numpy()
    along = {int(np.argmax([np.abs(np.diff(p, axis=a)).mean() for a in range(3)])) for p in batch}
    assert along == {0, 1, 2}  # the ramp runs along every axis in turn


def test_repainted_sources_have_sharp_edges_and_new_contrasts():
    x = np.arange(32, dtype=np.float32)
    ramp = 0.3 + 0.5 / (1 + np.exp(-(x - 15.5) / 2.5))  # a template's soft boundary along axis 0
    image = np.broadcast_to(ramp[:, None, None], (32, 8, 8)).astype(np.float32)
    labels = tissue_labels(image, np.ones(image.shape, bool), classes=2)
    assert labels[0, 0, 0] == 1 and labels[-1, 0, 0] == 2  # sorted dark to bright
    flat = paint(labels, image, np.ones(3), texture=0.0, blur=0.5)[:, 4, 4]
    step = lambda profile: (profile[16] - profile[15]) / (profile[-1] - profile[0])  # noqa: E731
    assert step(ramp) < 0.11 and step(flat) > 0.6  # one voxel holds most of the edge
    np.testing.assert_allclose(paint(labels, image, np.ones(3), texture=1.0, blur=1e-6), image, rtol=1e-5)
    rng = np.random.default_rng(0)
    contrasts = [float(np.ptp(random_paint(labels, image, rng, classes=2)[[0, -1], 4, 4])) for _ in range(8)]
    assert np.ptp(contrasts) > 0.2  # each draw a different contrast
