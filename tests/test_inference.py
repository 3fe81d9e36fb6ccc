import nibabel as nib
import numpy as np
import pytest
import torch
from conftest import OBLIQUE, blob, world_centroid

from mrisr import MRISRError
from mrisr.inference.loaded import LoadedModel
from mrisr.inference.orient import fit_to_scan
from mrisr.inference.running import flip_ensemble, super_resolve_array
from mrisr.inference.writing import super_resolve_file
from mrisr.io import output_name, refine_affine, save_volume
from mrisr.models.generator import UnpairedSR
from mrisr.models.planar import PlanarSR


@pytest.mark.parametrize("scale", [(2, 2, 2), (1, 1, 4)])
@pytest.mark.parametrize("shape", [(20, 23, 17), (9, 40, 12)])
def test_output_overlays_the_input_in_world_space(tmp_path, scale, shape):
    data = 100 * blob(shape, [n / 2 - 0.7 for n in shape], sigma=3.0) + 5
    header = nib.Nifti1Header()
    header.set_xyzt_units("mm")
    save_volume(tmp_path / "in.nii.gz", data, OBLIQUE, header)
    out = super_resolve_file(LoadedModel(UnpairedSR(scale, width=4)), tmp_path / "in.nii.gz", tmp_path / "out.nii.gz")
    img = nib.load(out)
    assert img.shape == tuple(n * f for n, f in zip(shape, scale))
    np.testing.assert_allclose(img.affine, refine_affine(OBLIQUE, scale), atol=1e-4)
    np.testing.assert_allclose(img.get_qform(), img.get_sform(), atol=1e-4)
    np.testing.assert_allclose(img.header.get_zooms(), nib.affines.voxel_sizes(OBLIQUE) / scale, rtol=1e-5)
    assert img.header.get_xyzt_units()[0] == "mm"
    sr = img.get_fdata()
    np.testing.assert_allclose(world_centroid(sr - 5, img.affine), world_centroid(data - 5, OBLIQUE), atol=0.05)


def test_intensities_map_back_to_the_input_range():
    model = UnpairedSR((2, 2, 2), width=4)
    lr = blob((16, 16, 16), (8, 8, 8), sigma=4) + 0.1
    small = super_resolve_array(model, lr)
    large = super_resolve_array(model, 1000 * lr)
    np.testing.assert_allclose(large, 1000 * small, rtol=1e-4)
    assert abs(small.mean() - lr.mean()) < 0.01


def random_model(width: int) -> UnpairedSR:
    """A 2x2x2 model with seeded random weights, so that its output is far from interpolation.

    The free degradation model builds every module, so the seeded draws (and the margins of the tests
    below) are those of the model these tests were written on; inference uses only E_LR and D_SR."""
    torch.manual_seed(0)
    model = UnpairedSR((2, 2, 2), width=width, degradation="free")
    for p in model.parameters():
        p.data.normal_(0, 0.05)
    return model


def test_outputs_are_identical_across_runs():
    model = random_model(width=4)
    lr = np.random.default_rng(0).random((40, 36, 20)).astype(np.float32)
    np.testing.assert_array_equal(super_resolve_array(model, lr), super_resolve_array(model, lr))


def test_a_volume_smaller_than_a_window_is_padded():
    sr = super_resolve_array(UnpairedSR((1, 1, 4), width=4), np.random.rand(5, 6, 3).astype(np.float32) + 1)
    assert sr.shape == (5, 6, 12)


def test_output_names_follow_the_input():
    from pathlib import Path

    assert output_name(Path("sub-01_T1w.nii.gz")) == "sub-01_T1w_sr.nii.gz"
    assert output_name(Path("a.nii")) == "a_sr.nii.gz"


def test_memory_plan_streams_a_512_cube_in_slabs_and_refuses_what_cannot_fit():
    from mrisr import MRISRError
    from mrisr.inference.memory import check_memory, plan_slab_depth

    assert check_memory((90, 108, 90), (2, 2, 2), 4.0, "colin.nii.gz") == 90  # one slab: the whole volume
    depth = check_memory((512, 512, 512), (2, 2, 2), 4.0, "big.nii.gz")
    assert 8 <= depth < 512
    assert plan_slab_depth((512, 512, 512), (2, 2, 2), 2 * 2**30) < depth
    with pytest.raises(MRISRError, match=r"big\.nii\.gz: .* needs at least 2\.\d GiB, above the limit of 1 GiB"):
        check_memory((512, 512, 512), (2, 2, 2), 1.0, "big.nii.gz")


def test_one_window_only_where_the_memory_plan_leaves_room_for_it():
    from mrisr.inference.memory import WHOLE_SLAB_VOXELS, check_memory, one_window_voxels

    assert one_window_voxels((90, 108, 90), (2, 2, 2), 90, 4.0) == WHOLE_SLAB_VOXELS  # a 2 mm head: one window
    depth = check_memory((512, 512, 512), (2, 2, 2), 4.0, "big.nii.gz")
    assert one_window_voxels((512, 512, 512), (2, 2, 2), depth, 4.0) < 512 * 512 * (depth + 16)
    assert one_window_voxels((90, 108, 90), (2, 2, 2), 90, 0.8) == 0  # a tight bound keeps small windows


def test_slabs_match_the_single_pass_up_to_window_seams():
    """Slabs move the sliding-window grid, so seams differ as window seams do; an off-by-one slab is 30x worse."""
    model = random_model(width=4)
    lr = (blob((24, 20, 40), (12, 10, 20), sigma=6) + 0.1).astype(np.float32)
    whole = super_resolve_array(model, lr)
    slabbed = super_resolve_array(model, lr, slab_depth=9)
    assert slabbed.shape == whole.shape
    assert np.abs(slabbed - whole).mean() < 0.005 * whole.max()
    assert np.abs(np.roll(slabbed, 1, axis=2) - whole).mean() > 0.05 * whole.max()


def test_a_small_slab_runs_as_one_window_and_agrees_with_sliding_windows(monkeypatch):
    model = random_model(width=4)
    lr = (blob((40, 36, 40), (20, 18, 20), sigma=8) + 0.1).astype(np.float32)
    calls = []
    forward = model.super_resolve
    monkeypatch.setattr(model, "super_resolve", lambda x: calls.append(x.shape) or forward(x))
    whole = super_resolve_array(model, lr)
    assert calls == [(1, 1, 40, 36, 40)]
    windowed = super_resolve_array(model, lr, whole_slab_voxels=0)
    assert len(calls) > 8  # 32³ windows with a quarter overlap
    assert np.abs(windowed - whole).mean() < 0.005 * whole.max()


def test_a_streamed_file_equals_the_array_in_memory(tmp_path):
    from mrisr.inference.memory import RUNTIME_BYTES, one_window_voxels
    from mrisr.inference.running import super_resolve_slabs

    model = UnpairedSR((1, 1, 4), width=4)
    lr = (blob((12, 10, 30), (6, 5, 15), sigma=4) + 0.1).astype(np.float32)
    save_volume(tmp_path / "in.nii", lr, OBLIQUE)
    limit_gb = (RUNTIME_BYTES + 300_000) / 2**30  # room for a few slices beyond the runtime
    out = super_resolve_file(LoadedModel(model), tmp_path / "in.nii", tmp_path / "out.nii.gz", max_memory_gb=limit_gb)
    streamed = nib.load(out).get_fdata(dtype=np.float32)
    depth = check_memory_depth(lr.shape, model.scale, limit_gb)
    assert 0 < depth < 30  # the limit forced several slabs
    window = one_window_voxels(lr.shape, model.scale, depth, limit_gb)
    slabs = [sr for sr, _ in super_resolve_slabs(model, lr, slab_depth=depth, whole_slab_voxels=window)]
    np.testing.assert_array_equal(streamed, np.concatenate(slabs, 2))


def check_memory_depth(shape, scale, limit_gb):
    from mrisr.inference.memory import check_memory

    return check_memory(shape, scale, limit_gb, "x")


def test_shards_partition_the_file_list():
    from pathlib import Path

    from mrisr import MRISRError
    from mrisr.inference.batch import select_shard

    files = [Path(f"{i}.nii.gz") for i in range(7)]
    shards = [select_shard(files, f"{i}/3") for i in range(3)]
    assert sorted(sum(shards, [])) == sorted(files) and [len(s) for s in shards] == [3, 2, 2]
    for bad in ("3/3", "1", "a/b", "-1/2"):
        with pytest.raises(MRISRError, match="--shard"):
            select_shard(files, bad)


def test_bf16_inference_stays_close_to_fp32():
    from mrisr.device import resolve_precision

    model = random_model(width=8)
    lr = (blob((20, 20, 20), (10, 10, 10), sigma=5) + 0.1).astype(np.float32)
    fp32 = super_resolve_array(model, lr)
    bf16 = super_resolve_array(model, lr, dtype=torch.bfloat16)
    assert 0 < np.abs(bf16 - fp32).max() < 0.02 * fp32.max()
    assert resolve_precision("fp32", torch.device("cpu")) == torch.float32
    assert resolve_precision("auto", torch.device("cpu")) in (torch.float32, torch.bfloat16)


@pytest.mark.parametrize(("amx", "expected"), [(True, torch.bfloat16), (False, torch.float32)])
def test_auto_precision_on_a_cpu_is_bf16_only_with_amx(monkeypatch, amx, expected):
    from mrisr.device import cpu_bf16_units, resolve_precision

    monkeypatch.setattr(torch.backends.mkldnn, "is_available", lambda: True)
    monkeypatch.setattr(torch.cpu, "_is_amx_tile_supported", lambda: amx)
    monkeypatch.setattr(torch.cpu, "_is_avx512_bf16_supported", lambda: True)
    assert cpu_bf16_units() == ("AMX" if amx else "AVX-512")
    assert resolve_precision("auto", torch.device("cpu")) == expected


def test_the_flip_ensemble_is_the_mean_of_the_flipped_passes():
    x = torch.rand(1, 1, 6, 5, 4, generator=torch.Generator().manual_seed(0))
    ramp = torch.arange(6.0)[:, None, None]  # a predictor that is not flip-equivariant along the first axis

    def predict(v: torch.Tensor) -> torch.Tensor:
        return v + ramp

    assert torch.equal(flip_ensemble(predict, x, 1), predict(x))
    expected = (predict(x) + predict(x.flip(2)).flip(2)) / 2  # FLIPS[1] flips the first spatial axis
    torch.testing.assert_close(flip_ensemble(predict, x, 2), expected)
    torch.testing.assert_close(flip_ensemble(predict, x, 8), x + ramp.mean())  # every flip: the ramp averages out
    torch.testing.assert_close(flip_ensemble(lambda v: 2 * v, x, 8), 2 * x)  # an equivariant one is unchanged
    with pytest.raises(ValueError, match="flips"):
        flip_ensemble(predict, x, 9)
    calls = []
    counted = flip_ensemble(lambda v: calls.append(1) or predict(v), x, 4, plain=predict(x))
    torch.testing.assert_close(counted, flip_ensemble(predict, x, 4))
    assert len(calls) == 3  # a plain prediction already made is not made again


def test_a_file_super_resolved_with_flips_equals_the_array_ensemble(tmp_path):
    torch.manual_seed(0)
    model = UnpairedSR((2, 2, 2), width=4).eval()
    with torch.no_grad():
        for parameter in model.parameters():  # no zero-initialised head: a network that is not flip-equivariant
            parameter.normal_(0, 0.1)
    lr = np.random.default_rng(0).random((12, 10, 8)).astype(np.float32)
    save_volume(tmp_path / "lr.nii.gz", lr, np.eye(4))
    out = super_resolve_file(LoadedModel(model), tmp_path / "lr.nii.gz", tmp_path / "sr.nii.gz", flips=4)
    plain = super_resolve_array(model, lr)
    ensemble = super_resolve_array(model, lr, flips=4)
    np.testing.assert_allclose(nib.load(out).get_fdata(), ensemble, rtol=1e-5, atol=1e-5)
    assert np.abs(ensemble - plain).max() > 1e-4  # the flips changed the SR


def scan_affine(zooms) -> np.ndarray:
    """The oblique, non-RAS rotation of ``OBLIQUE`` with voxels of ``zooms`` mm."""
    affine = OBLIQUE.copy()
    affine[:3, :3] = OBLIQUE[:3, :3] / nib.affines.voxel_sizes(OBLIQUE) * np.asarray(zooms)
    return affine


@pytest.mark.parametrize(
    ("zooms", "factor"),
    [((1.0, 1.0, 4.5), 4.5), ((1.0, 5.0, 1.0), 5), ((3.0, 2.0, 2.0), 1.5), ((0.9, 1.2, 5.0), 5 / 0.9)],
)
def test_any_factor_in_any_orientation_keeps_the_field_of_view_and_the_world_positions(tmp_path, zooms, factor):
    """A planar model trained on axial slices serves a coronal or sagittal scan; the SR covers the input's field
    of view exactly, its voxels are the factor finer along the slice axis, and a blob stays where it was."""
    axis = int(np.argmax(zooms))
    shape = (16, 18, 14)
    data = 100 * blob(shape, [n / 2 - 0.7 for n in shape], sigma=2.5) + 5
    affine = scan_affine(zooms)
    save_volume(tmp_path / "in.nii.gz", data, affine)
    model = PlanarSR((1, 1, factor), width=4, blocks=1).eval()  # trained along axis 2
    out = super_resolve_file(LoadedModel(model), tmp_path / "in.nii.gz", tmp_path / "out.nii.gz", flips=1)
    img = nib.load(out)
    expected = list(shape)
    expected[axis] = round(shape[axis] * factor)
    assert img.shape == tuple(expected)
    np.testing.assert_allclose(img.get_qform(), img.get_sform(), atol=1e-4)
    sr_zooms = np.asarray(zooms, float)
    sr_zooms[axis] = zooms[axis] * shape[axis] / expected[axis]
    np.testing.assert_allclose(img.header.get_zooms(), sr_zooms, rtol=1e-5)
    for corner in np.ndindex(2, 2, 2):  # the outer edges of the corner voxels: the same field of view
        sign = np.where(np.asarray(corner) == 1, 0.5, -0.5)
        lr_edge = nib.affines.apply_affine(affine, np.asarray(corner) * (np.asarray(shape) - 1) + sign)
        sr_edge = nib.affines.apply_affine(img.affine, np.asarray(corner) * (np.asarray(expected) - 1) + sign)
        np.testing.assert_allclose(sr_edge, lr_edge, atol=1e-3)
    np.testing.assert_allclose(
        world_centroid(img.get_fdata() - 5, img.affine), world_centroid(data - 5, affine), atol=0.15
    )


def test_a_scan_of_another_slice_spacing_than_the_model_learned_is_refused(tmp_path):
    save_volume(
        tmp_path / "in.nii.gz", np.random.default_rng(0).random((8, 8, 6)).astype(np.float32), scan_affine((1, 1, 3))
    )
    meta = {"acquisition": {"sr_voxel_mm": [1.0, 1.0, 1.0]}}
    with pytest.raises(MRISRError, match="slices every 3 mm, but the model super-resolves slices every 4.5 mm"):
        fit_to_scan(PlanarSR((1, 1, 4.5), width=4, blocks=1), (1, 1, 3), "in.nii.gz", meta)
    assert fit_to_scan(PlanarSR((1, 1, 4.5), width=4, blocks=1), (4.5, 1, 1), "x", meta).scale == (4.5, 1, 1)
