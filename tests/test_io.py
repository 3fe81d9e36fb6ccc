import gzip
import os
import subprocess
import sys

import nibabel as nib
import numpy as np
import pytest
from conftest import OBLIQUE, blob, world_centroid
from hypothesis import given, settings
from hypothesis import strategies as st

from mrisr import MRISRError
from mrisr.io import (
    atomic_write,
    check_output_path,
    coarsen_affine,
    list_nifti,
    load_volume,
    refine_affine,
    save_volume,
)

LPS = np.diag([-1.0, -1.0, 1.0, 1.0]) @ np.diag([1.2, 1.0, 3.0, 1.0])


@pytest.mark.parametrize("scale", [(2, 2, 2), (1, 1, 4), (3, 2, 1)])
@pytest.mark.parametrize("affine", [np.eye(4), OBLIQUE, LPS])
def test_refined_voxels_average_to_the_coarse_voxel(scale, affine):
    fine = refine_affine(affine, scale)
    first_block = np.array(np.meshgrid(*[np.arange(f) for f in scale], indexing="ij")).reshape(3, -1).T
    mean_world = nib.affines.apply_affine(fine, first_block).mean(0)
    np.testing.assert_allclose(mean_world, affine[:3, 3], atol=1e-9)
    np.testing.assert_allclose(nib.affines.voxel_sizes(fine), nib.affines.voxel_sizes(affine) / scale)


@settings(max_examples=50, deadline=None)
@given(
    st.lists(st.floats(-3, 3), min_size=9, max_size=9),
    st.lists(st.floats(-200, 200), min_size=3, max_size=3),
    st.tuples(st.integers(1, 5), st.integers(1, 5), st.integers(1, 5)),
)
def test_coarsen_inverts_refine_for_any_affine(linear, shift, scale):
    affine = np.eye(4)
    affine[:3, :3] = np.reshape(linear, (3, 3)) + 4 * np.eye(3)
    affine[:3, 3] = shift
    np.testing.assert_allclose(coarsen_affine(refine_affine(affine, scale), scale), affine, atol=1e-8)


@pytest.mark.parametrize("shape", [(16, 17, 15), (15, 15, 15)])
@pytest.mark.parametrize("affine", [OBLIQUE, LPS])
def test_field_of_view_is_unchanged_on_even_and_odd_shapes(shape, affine):
    scale = (2, 2, 3)
    fine_shape = [n * f for n, f in zip(shape, scale)]
    coarse_corners = nib.affines.apply_affine(affine, [[-0.5] * 3, [n - 0.5 for n in shape]])
    fine_corners = nib.affines.apply_affine(refine_affine(affine, scale), [[-0.5] * 3, [n - 0.5 for n in fine_shape]])
    np.testing.assert_allclose(fine_corners, coarse_corners, atol=1e-9)


def test_header_survives_a_round_trip(tmp_path):
    header = nib.Nifti1Header()
    header.set_xyzt_units("mm", "sec")
    header["descrip"] = b"scanner X"
    header.set_qform(OBLIQUE, code=1)
    header.set_sform(OBLIQUE, code=4)
    path = tmp_path / "x.nii.gz"
    save_volume(path, np.random.rand(6, 7, 8), OBLIQUE, header)
    img = nib.load(path)
    assert img.header.get_xyzt_units() == ("mm", "sec")
    assert img.header["descrip"].tobytes().startswith(b"scanner X")
    assert int(img.header["qform_code"]) == 1 and int(img.header["sform_code"]) == 4
    np.testing.assert_allclose(img.get_qform(), img.get_sform(), atol=1e-5)
    np.testing.assert_allclose(img.affine, OBLIQUE, atol=1e-5)
    assert img.get_data_dtype() == np.float32


def test_blob_keeps_its_world_position_when_written_on_a_refined_grid(tmp_path):
    coarse = blob((12, 13, 11), (5.3, 6.1, 4.7), sigma=2.0)
    fine = np.kron(coarse, np.ones((2, 2, 2)))  # each coarse voxel split into its 2x2x2 block
    np.testing.assert_allclose(
        world_centroid(fine, refine_affine(OBLIQUE, (2, 2, 2))), world_centroid(coarse, OBLIQUE), atol=1e-6
    )


def write(path, data, affine=None):
    nib.save(nib.Nifti1Image(np.asarray(data), np.eye(4) if affine is None else affine), str(path))
    return path


def garbage(path):
    path.write_bytes(np.random.default_rng(0).bytes(500))
    return path


def with_sform(path, affine):
    """Rewrite a file's header with an affine nibabel would refuse to build an image from."""
    img = nib.load(path)
    header = img.header.copy()
    header["qform_code"] = 0
    header["sform_code"] = 1
    header["srow_x"], header["srow_y"], header["srow_z"] = affine[:3]
    nib.save(nib.Nifti1Image(np.asarray(img.dataobj), None, header), path)
    return path


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda p: garbage(p), "not a readable NIfTI"),
        (lambda p: write(p, np.zeros((8, 8))), "2D image"),
        (lambda p: write(p, np.random.rand(8, 8, 8, 3)), "volume_index"),
        (lambda p: write(p, np.full((8, 8, 8), np.nan)), "NaN or Inf"),
        (lambda p: write(p, np.ones((8, 8, 8))), "constant"),
        (lambda p: with_sform(write(p, np.random.rand(8, 8, 8)), np.diag([1.0, 0.0, 1.0, 1.0])), "singular"),
        (lambda p: with_sform(write(p, np.random.rand(8, 8, 8)), np.full((4, 4), np.nan)), "NaN or Inf"),
    ],
)
def test_bad_input_gives_one_clear_error_naming_the_file(tmp_path, make, message):
    path = make(tmp_path / "bad.nii.gz")
    with pytest.raises(MRISRError, match=message) as err:
        load_volume(path)
    assert str(path) in str(err.value) and "\n" not in str(err.value)


def test_truncated_gzip_is_reported(tmp_path):
    path = write(tmp_path / "full.nii.gz", np.random.rand(20, 20, 20))
    cut = tmp_path / "cut.nii.gz"
    cut.write_bytes(path.read_bytes()[:2000])
    with pytest.raises(MRISRError, match="cut.nii.gz"):
        load_volume(cut)


def test_header_claiming_more_data_than_the_file_holds_is_reported(tmp_path):
    path = write(tmp_path / "short.nii", np.random.rand(20, 20, 20))
    path.write_bytes(path.read_bytes()[:-4000])
    with pytest.raises(MRISRError, match="truncated or corrupt"):
        load_volume(path)


def test_a_volume_can_be_chosen_from_a_4d_file(tmp_path):
    data = np.random.rand(6, 6, 6, 3).astype(np.float32)
    vol = load_volume(write(tmp_path / "dwi.nii.gz", data), volume_index=2)
    np.testing.assert_array_equal(vol.data, data[..., 2])
    with pytest.raises(MRISRError, match="outside 0..2"):
        load_volume(tmp_path / "dwi.nii.gz", volume_index=5)


def test_nonfinite_voxels_can_be_cleaned_explicitly(tmp_path):
    data = np.random.rand(6, 6, 6)
    data[1, 2, 3] = np.inf
    with pytest.warns(UserWarning, match="1 NaN/Inf"):
        vol = load_volume(write(tmp_path / "x.nii.gz", data), allow_nonfinite=True)
    assert vol.data[1, 2, 3] == 0


def test_integer_data_with_scaling_is_read_in_real_units(tmp_path):
    img = nib.Nifti1Image(np.arange(512, dtype=np.int16).reshape(8, 8, 8), np.eye(4))
    img.header.set_slope_inter(0.5, 10.0)
    nib.save(img, tmp_path / "scaled.nii.gz")
    vol = load_volume(tmp_path / "scaled.nii.gz")
    assert vol.data[0, 0, 1] == pytest.approx(10.5)


def test_existing_output_is_refused_without_overwrite(tmp_path):
    target = tmp_path / "out.nii.gz"
    target.write_bytes(b"precious")
    with pytest.raises(MRISRError, match="--overwrite"):
        check_output_path(target, overwrite=False)
    assert check_output_path(target, overwrite=True) == target


def test_output_below_a_file_is_refused(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(MRISRError, match="output folder"):
        check_output_path(blocker / "out.nii.gz", overwrite=False)


def test_empty_folder_is_an_error(tmp_path):
    with pytest.raises(MRISRError, match="no .nii"):
        list_nifti([tmp_path])


def test_gzip_helper_files_are_not_left_behind(tmp_path):
    save_volume(tmp_path / "a.nii.gz", np.random.rand(4, 4, 4), np.eye(4))
    assert [p.name for p in tmp_path.iterdir()] == ["a.nii.gz"]
    with gzip.open(tmp_path / "a.nii.gz") as f:
        assert len(f.read()) > 352


def test_outputs_get_the_usual_permissions(tmp_path):
    import os

    save_volume(tmp_path / "a.nii.gz", np.random.rand(4, 4, 4), np.eye(4))
    mask = os.umask(0)
    os.umask(mask)
    assert (tmp_path / "a.nii.gz").stat().st_mode & 0o777 == 0o666 & ~mask


@settings(max_examples=25, deadline=None)
@given(
    endian=st.sampled_from("<>"),
    dtype=st.sampled_from([np.int16, np.uint8, np.float32, np.float64]),
    slope=st.floats(0.1, 10),
    inter=st.floats(-100, 100),
    units=st.sampled_from(["mm", "meter", "micron", "unknown"]),
    codes=st.tuples(st.integers(0, 4), st.integers(0, 4)),
    descrip=st.text(st.characters(min_codepoint=32, max_codepoint=126), max_size=60),
    comment=st.none() | st.text(st.characters(min_codepoint=33, max_codepoint=126), min_size=1, max_size=40),
    n_slabs=st.integers(1, 4),
)
def test_any_header_survives_loading_and_streamed_writing(
    tmp_path_factory, endian, dtype, slope, inter, units, codes, descrip, comment, n_slabs
):  # noqa: PLR0913
    """Whatever the input's byte order, storage type, scaling, units, codes and extensions, the output keeps
    them (as float32 in real units), and writing in slabs gives the same file as writing at once."""
    from mrisr.io import save_volume_slabs

    tmp = tmp_path_factory.mktemp("hdr")
    raw = np.random.default_rng(0).integers(0, 200, (6, 5, 8)).astype(dtype)
    header = nib.Nifti1Header(endianness=endian)
    header.set_data_dtype(dtype)
    header.set_xyzt_units(units, "sec")
    header["descrip"] = descrip.encode()
    header.set_qform(OBLIQUE, code=codes[0])
    header.set_sform(OBLIQUE, code=codes[1])
    if comment is not None:
        header.extensions.append(nib.nifti1.Nifti1Extension("comment", comment.encode()))
    img = nib.Nifti1Image(raw, OBLIQUE, header)
    img.header.set_slope_inter(slope if np.issubdtype(dtype, np.integer) else 1.0, inter)
    nib.save(img, tmp / "in.nii.gz")

    volume = load_volume(tmp / "in.nii.gz")
    np.testing.assert_allclose(volume.data, np.asarray(nib.load(tmp / "in.nii.gz").dataobj), rtol=1e-6)
    slabs = np.array_split(volume.data, n_slabs, axis=2)
    save_volume_slabs(tmp / "out.nii.gz", volume.data.shape, volume.affine, volume.header, slabs)
    save_volume(tmp / "once.nii", volume.data, volume.affine, volume.header)

    out, once = nib.load(tmp / "out.nii.gz"), nib.load(tmp / "once.nii")
    np.testing.assert_array_equal(out.get_fdata(dtype=np.float32), volume.data)
    np.testing.assert_array_equal(once.get_fdata(dtype=np.float32), volume.data)
    assert out.get_data_dtype().newbyteorder("=") == np.float32
    assert out.header.get_slope_inter() in [(1.0, 0.0), (None, None)]
    assert out.header.get_xyzt_units() == (units, "sec")
    assert out.header["descrip"].tobytes().rstrip(b"\0") == descrip.encode()[:79]
    assert [e.get_content() for e in out.header.extensions] == ([] if comment is None else [comment.encode()])
    written = nib.load(tmp / "in.nii.gz").header  # nibabel sets an sform code when there was none
    assert int(out.header["qform_code"]) == (int(written["qform_code"]) or int(written["sform_code"]) or 1)
    np.testing.assert_allclose(out.affine, OBLIQUE, atol=1e-4)
    np.testing.assert_allclose(out.get_qform(), out.get_sform(), atol=1e-4)


@settings(max_examples=40, deadline=None)
@given(st.lists(st.sampled_from([0.0, 1.0, -2.5, 1e-9, 1e9, np.nan, np.inf]), min_size=12, max_size=12))
def test_any_affine_loads_or_is_refused_in_one_line(tmp_path_factory, entries):
    """Absurd affines (zero, NaN, singular, huge) give a one-line MRISRError naming the file, never a crash."""
    path = tmp_path_factory.mktemp("aff") / "odd.nii.gz"
    affine = np.eye(4)
    affine[:3, :] = np.reshape(entries, (3, 4))
    header = nib.Nifti1Header()
    header.set_sform(affine, code=1)
    header.set_qform(None, code=0)
    nib.save(nib.Nifti1Image(np.random.rand(4, 4, 4).astype(np.float32), None, header), path)
    try:
        volume = load_volume(path)
    except MRISRError as err:
        assert str(err).startswith(str(path)) and "\n" not in str(err)
    else:
        assert np.all(np.isfinite(volume.affine)) and abs(np.linalg.det(volume.affine[:3, :3])) > 0


def test_atomic_write_removes_temps_of_dead_writers_and_keeps_those_of_live_ones(tmp_path):
    """A killed run's temp file is cleaned up; a concurrent writer's (a live process) is left to finish."""
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    stale = tmp_path / f".out.txt.{dead.stdout.strip()}.abc.tmp.txt"
    live = tmp_path / f".out.txt.{os.getppid()}.def.tmp.txt"
    stale.write_text("half"), live.write_text("in progress")
    atomic_write(tmp_path / "out.txt", lambda tmp: open(tmp, "w").write("done"))
    assert (tmp_path / "out.txt").read_text() == "done"
    assert not stale.exists() and live.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["out.txt", live.name])
