import nibabel as nib
import numpy as np
import pytest
from conftest import OBLIQUE, blob, world_centroid

from mrisr.inference import output_name, super_resolve_array, super_resolve_file
from mrisr.io import refine_affine, save_volume
from mrisr.models import UnpairedSR


@pytest.mark.parametrize("scale", [(2, 2, 2), (1, 1, 4)])
@pytest.mark.parametrize("shape", [(20, 23, 17), (9, 40, 12)])
def test_output_overlays_the_input_in_world_space(tmp_path, scale, shape):
    data = 100 * blob(shape, [n / 2 - 0.7 for n in shape], sigma=3.0) + 5
    header = nib.Nifti1Header()
    header.set_xyzt_units("mm")
    save_volume(tmp_path / "in.nii.gz", data, OBLIQUE, header)
    out = super_resolve_file(UnpairedSR(scale, width=4), tmp_path / "in.nii.gz", tmp_path / "out.nii.gz")
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


def test_outputs_are_identical_across_runs():
    model = UnpairedSR((2, 2, 2), width=4)
    for p in model.parameters():
        p.data.normal_(0, 0.05)
    lr = np.random.default_rng(0).random((40, 36, 20)).astype(np.float32)
    np.testing.assert_array_equal(super_resolve_array(model, lr), super_resolve_array(model, lr))


def test_a_volume_smaller_than_a_window_is_padded():
    sr = super_resolve_array(UnpairedSR((1, 1, 4), width=4), np.random.rand(5, 6, 3).astype(np.float32) + 1)
    assert sr.shape == (5, 6, 12)


def test_output_names_follow_the_input():
    from pathlib import Path

    assert output_name(Path("sub-01_T1w.nii.gz")) == "sub-01_T1w_sr.nii.gz"
    assert output_name(Path("a.nii")) == "a_sr.nii.gz"


def test_a_volume_too_large_for_memory_is_refused_before_work():
    from mrisr import MRISRError
    from mrisr.inference import check_memory, memory_needed

    assert memory_needed((512, 512, 512), (2, 2, 2)) > 12 * 2**30
    with pytest.raises(MRISRError, match=r"needs about 13\.0 GiB"):
        check_memory((512, 512, 512), (2, 2, 2), 8.0, "big.nii.gz")
    check_memory((90, 108, 90), (2, 2, 2), 8.0, "colin.nii.gz")
