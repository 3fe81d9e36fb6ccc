"""The planar (internal-learning) model and its training pairs."""

import warnings

import numpy as np
import pytest
import torch

from mrisr.acquisition.geometry import slice_axis
from mrisr.models.planar import PlanarSR, PlaneSR, output_positions, sample_last, shuffle_last, upsample_last
from mrisr.sampling.planes import acquire_along_last, noise_kept, pair_sampler, sharp_plane_stacks
from mrisr.sampling.volumes import TrainingVolume


def training_volume(data: np.ndarray, sigma: float) -> TrainingVolume:
    centres = np.argwhere(np.ones(data.shape, bool))
    return TrainingVolume(data.astype(np.float32), centres, 1.0, sigma, (1.0, 1.0, 4.0), "synthetic")


def test_shuffle_last_puts_channel_k_of_column_j_at_f_j_plus_k():
    x = torch.arange(2 * 3 * 5, dtype=torch.float32).reshape(1, 3, 2, 5)  # f = 3 channels, 2 rows, 5 columns
    out = shuffle_last(x, 3)
    assert out.shape == (1, 1, 2, 15)
    for j in range(5):
        for k in range(3):
            assert out[0, 0, 1, 3 * j + k] == x[0, k, 1, j]


def test_untrained_plane_network_is_cubic_along_the_last_axis():
    x = torch.rand(2, 1, 7, 9)
    assert torch.equal(PlaneSR(4, width=8, blocks=1)(x), upsample_last(x, 4))


@pytest.mark.parametrize("axis", [0, 1, 2])
def test_planar_model_refines_only_the_slice_axis(axis):
    scale = [1, 1, 1]
    scale[axis] = 3
    lr = torch.rand(1, 1, 5, 6, 7)
    sr = PlanarSR(scale, width=8, blocks=1).super_resolve(lr)
    assert sr.shape == (1, 1, *(n * f for n, f in zip((5, 6, 7), scale)))


def test_planar_model_is_the_same_whatever_axis_holds_the_slices():
    torch.manual_seed(0)
    last = PlanarSR((1, 1, 4), width=8, blocks=1)
    torch.nn.init.normal_(last.net.head.weight, std=0.1)  # a non-trivial network
    first = PlanarSR((4, 1, 1), width=8, blocks=1)
    first.load_state_dict(last.state_dict())
    lr = torch.rand(1, 1, 5, 6, 7)
    expected = last.super_resolve(lr).permute(0, 1, 4, 3, 2)
    assert torch.allclose(first.super_resolve(lr.permute(0, 1, 4, 3, 2)), expected, atol=1e-5)


def test_planar_model_refuses_isotropic_factors():
    with pytest.raises(ValueError, match="exactly one axis"):
        slice_axis((2, 2, 2))


def slices_by_hand(line: np.ndarray, factor: float, fwhm: float, count: int) -> np.ndarray:
    """The slice forward model written out: slice ``j`` is the Gaussian-weighted mean (FWHM ``fwhm``) of the
    line around ``(j + 1/2) * factor - 1/2``, the line's ends repeated outwards."""
    sigma = fwhm / (2 * np.sqrt(2 * np.log(2)))
    x = np.arange(-50, len(line) + 50)
    values = line[np.clip(x, 0, len(line) - 1)]
    slices = []
    for centre in (np.arange(count) + 0.5) * factor - 0.5:
        weights = np.exp(-0.5 * ((x - centre) / sigma) ** 2)
        slices.append((weights * values).sum() / weights.sum())
    return np.array(slices)


@pytest.mark.parametrize(("factor", "fwhm"), [(4, 3.5), (3, 4.5), (2.5, 2.0), (4.5, 3.0)])
def test_in_plane_pairs_are_the_slice_forward_model_voxel_for_voxel(factor, fwhm):
    """The pairs' LR planes, at integer (block-centred convolution) and other factors alike, match the slice
    forward model computed by hand, edges included."""
    planes = np.random.default_rng(0).random((3, 5, 27))
    lr = acquire_along_last(planes.astype(np.float32), factor, fwhm)
    assert lr.shape == (3, 5, int(27 // factor))
    expected = np.apply_along_axis(slices_by_hand, -1, planes, factor, fwhm, lr.shape[-1])
    np.testing.assert_allclose(lr, expected, atol=2e-6)


def test_noise_kept_is_the_measured_std_ratio_of_white_noise():
    noise = np.random.default_rng(1).standard_normal((64, 64, 256)).astype(np.float32)
    measured = acquire_along_last(noise, 4, 4.0).std()
    assert measured == pytest.approx(noise_kept(4, 4.0), rel=0.03)
    assert 0.3 < noise_kept(4, 4.0) < 0.6


def test_internal_pairs_carry_the_scans_noise_level():
    """A flat scan with Rician-free Gaussian-like noise sigma: LR patches must have std sigma, like its thick slices."""
    sigma, rng = 0.03, np.random.default_rng(2)
    scan = 0.6 + sigma * rng.standard_normal((40, 40, 10))
    sampler = pair_sampler([training_volume(scan, sigma)], [], (1, 1, 4), 4.0, (16, 8))
    lr, hr, _ = sampler.sample(np.random.default_rng(3), 32)
    assert lr.shape == (32, 1, 16, 8) and hr.shape == (32, 1, 16, 32)
    gains = hr.mean(dim=(2, 3), keepdim=True) / 0.6  # undo the per-patch gain jitter
    assert float((lr / gains).std()) == pytest.approx(sigma, rel=0.1)


def test_hr_volumes_give_pairs_in_every_orientation_and_only_they_are_sampled_without_a_scan():
    hr = np.random.default_rng(4).random((12, 16, 20)).astype(np.float32)
    stacks = sharp_plane_stacks(training_volume(hr, 0.0), (0, 1, 2), 4, 4.0, 0.0, (8, 8))
    assert len(stacks) == 6
    assert {s.hr.shape[1:] for s in stacks} == {(16, 20), (20, 16), (12, 20), (20, 12), (12, 16), (16, 12)}
    sampler = pair_sampler([], [training_volume(hr, 0.0)], (1, 1, 4), 4.0, (8, 2))
    assert sampler.external_fraction == 1.0
    lr, hr_patch, _ = sampler.sample(np.random.default_rng(5), 4)
    assert lr.shape == (4, 1, 8, 2) and hr_patch.shape == (4, 1, 8, 8)


def test_in_plane_voxels_unlike_the_target_spacing_are_warned_about():
    from mrisr.training.systems.planar import check_in_plane_spacing

    scan = training_volume(np.zeros((4, 4, 4)), 0.0)  # 1 x 1 x 4 mm: 1 mm in-plane, as the SR along z
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        check_in_plane_spacing(scan, (1, 1, 4), 2)
    scan.zooms = (0.7, 0.7, 4.0)
    with pytest.warns(UserWarning, match="in-plane voxels"):
        check_in_plane_spacing(scan, (1, 1, 4), 2)


@pytest.mark.parametrize("factor", [4.5, 1.5, 13.333333])
def test_a_non_integer_factor_gives_round_n_r_voxels_as_close_to_a_ramp_as_cubic_before_training(factor):
    """Untrained, the model is cubic interpolation read at the SR voxels' positions: on a ramp of one unit per
    slice it is off by what PyTorch's cubic kernel is off at integer factors (0.041 at 4x), no more."""
    n = 20
    model = PlanarSR((1, 1, factor), width=8, blocks=1)
    ramp = torch.arange(n, dtype=torch.float32).repeat(1, 1, 2, 3, 1)
    with torch.no_grad():
        sr = model.super_resolve(ramp)
    assert sr.shape == (1, 1, 2, 3, round(n * factor))
    positions, _ = output_positions(n, factor)
    inside = (positions > 2) & (positions < n - 3)
    np.testing.assert_allclose(sr[0, 0, 1, 2][inside], positions[inside].float(), atol=0.06)


def test_reading_the_fine_grid_at_its_own_nodes_gives_it_back():
    fine = torch.rand(2, 1, 4, 15)  # 5 slices, F = 3
    nodes = (torch.arange(15, dtype=torch.float64) + 0.5) / 3 - 0.5
    np.testing.assert_allclose(sample_last(fine, 3, nodes[None].expand(2, -1)), fine, atol=1e-5)


def test_non_integer_pairs_put_each_sharp_pixel_at_its_position_between_the_slices():
    """On a ramp along the acquired axis, a slice holds the ramp at its centre: the sharp pixels must lie on the
    line through the LR columns at the positions the sampler gives, after flips too."""
    ramp = np.broadcast_to(np.arange(96, dtype=np.float32), (20, 24, 96)).copy()
    scan = TrainingVolume(ramp, np.argwhere(np.ones(ramp.shape, bool)), 1.0, 0.0, (1.0, 4.5, 1.0), "ramp")
    sampler = pair_sampler([scan], [], (1, 4.5, 1), 4.5, (6, 5), intensity_jitter=0.0)
    sampler.internal = [s for s in sampler.internal if s.hr.shape[2] == 96]  # the stacks acquired along the ramp
    lr, hr, positions = sampler.sample(np.random.default_rng(0), 24)
    assert hr.shape[-1] == int(5 * 4.5) - 1 and positions.shape == (24, hr.shape[-1])
    checked = 0
    for k in range(24):
        row, truth = lr[k, 0, 0].numpy(), hr[k, 0, 0].numpy()
        if 9 < truth.min() and truth.max() < 95 - 9:  # away from the replicated edges
            line = np.polyval(np.polyfit(np.arange(5), row, 1), positions[k].numpy())
            np.testing.assert_allclose(line, truth, atol=1e-3)
            checked += 1
    assert checked >= 6


def test_a_scan_with_non_square_pixels_learns_only_from_its_finer_in_plane_axis():
    data = np.random.default_rng(0).random((12, 16, 5)).astype(np.float32)
    scan = TrainingVolume(data, np.argwhere(np.ones(data.shape, bool)), 1.0, 0.0, (0.9, 1.2, 5.0), "rect")
    sampler = pair_sampler([scan], [], (1, 1, 5 / 0.9), 5.0, (4, 2))
    assert len(sampler.internal) == 1 and sampler.internal[0].hr.shape[2] >= 12  # acquired along axis 0 only
