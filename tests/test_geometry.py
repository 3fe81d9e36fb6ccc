"""A scan's geometry from its header and sidecar: slice axis, factors, thickness, and the refusals."""

import json

import nibabel as nib
import numpy as np
import pytest
from conftest import OBLIQUE

from mrisr import MRISRError
from mrisr.acquisition.geometry import factors_to, find_slice_axis, protocol_factors, scan_geometry, sidecar_path
from mrisr.io import save_volume


def write_scan(path, zooms, sidecar=None, affine=None):
    """A small scan whose voxels are ``zooms`` mm (the columns of an oblique rotation when ``affine`` is given)."""
    if affine is None:
        affine = np.diag([*zooms, 1.0])
    else:
        affine = affine.copy()
        affine[:3, :3] = affine[:3, :3] / np.linalg.norm(affine[:3, :3], axis=0) * np.asarray(zooms)
    save_volume(path, np.random.default_rng(0).random((6, 7, 8)).astype(np.float32), affine)
    if sidecar is not None:
        sidecar_path(path).write_text(json.dumps(sidecar))
    return path


@pytest.mark.parametrize(
    ("zooms", "axis"),
    [((1, 1, 4), 2), ((0.9, 5, 0.9), 1), ((4.4, 0.9, 0.9), 0), ((2, 2, 3), 2), ((1, 1, 1.05), None), ((2, 2, 2), None)],
)
def test_the_slice_axis_is_the_coarsest_voxel_axis_whatever_the_orientation(zooms, axis):
    assert find_slice_axis(zooms) == axis


def test_factors_need_not_be_integers_and_default_to_the_finest_in_plane_spacing():
    assert factors_to((1, 1, 4.5), 2) == (1, 1, 4.5)
    assert factors_to((2, 3, 2), 1) == (1, 1.5, 1)
    assert factors_to((0.45, 0.45, 6.0), 2)[2] == pytest.approx(13.333333, abs=1e-5)
    assert factors_to((0.9, 1.2, 5.0), 2) == (1, 1, pytest.approx(5 / 0.9, abs=1e-5))  # non-square: kept in-plane
    assert factors_to((2, 2, 2), None) == (2, 2, 2)  # isotropic: each axis doubled
    assert factors_to((1.5, 1.5, 1.5), None, 1.0) == (1.5, 1.5, 1.5)
    assert factors_to((1, 1, 4), 2, [1, 1, 2]) == (1, 1, 2)


def test_an_oblique_header_gives_its_voxel_sizes_not_its_diagonal(tmp_path):
    scan = write_scan(tmp_path / "obl.nii.gz", (0.9, 4.0, 0.9), affine=OBLIQUE)
    geometry = scan_geometry(scan)
    np.testing.assert_allclose(geometry.spacing, (0.9, 4.0, 0.9), atol=1e-4)
    assert geometry.slice_axis == 1


def test_the_thickness_comes_from_the_sidecar_or_the_option_and_its_absence_is_said(tmp_path):
    with_sidecar = write_scan(tmp_path / "a.nii.gz", (1, 1, 5), {"SliceThickness": 4, "SpacingBetweenSlices": 5})
    geometry = scan_geometry(with_sidecar)
    assert geometry.thickness == 4.0 and geometry.thickness_source == "sidecar SliceThickness"
    assert scan_geometry(with_sidecar, thickness=3.0).thickness == 3.0  # the option wins
    bare = write_scan(tmp_path / "b.nii", (1, 1, 5))
    geometry = scan_geometry(bare)
    assert geometry.thickness is None and geometry.thickness_source.startswith("not given")


@pytest.mark.parametrize(
    ("sidecar", "thickness", "message"),
    [
        ({"SliceThickness": 16}, None, "more than 3x the slice spacing"),
        ({}, 20.0, "more than 3x the slice spacing"),
        ({"SliceThickness": 4, "SpacingBetweenSlices": 2.5}, None, "does not match the file's slice spacing"),
        ({}, -1.0, "must be positive"),
    ],
)
def test_contradictory_geometry_is_one_line_naming_the_file(tmp_path, sidecar, thickness, message):
    scan = write_scan(tmp_path / "scan.nii.gz", (1, 1, 5), sidecar)
    with pytest.raises(MRISRError, match=message) as err:
        scan_geometry(scan, thickness)
    assert "scan" in str(err.value) and "\n" not in str(err.value)


def test_an_unreadable_sidecar_is_an_error_not_ignored(tmp_path):
    scan = write_scan(tmp_path / "scan.nii.gz", (1, 1, 5))
    sidecar_path(scan).write_text("{not json")
    with pytest.raises(MRISRError, match="not a readable JSON sidecar"):
        scan_geometry(scan)


def test_scans_of_one_run_must_share_a_protocol(tmp_path):
    a = write_scan(tmp_path / "a.nii.gz", (1, 1, 5))
    b = write_scan(tmp_path / "b.nii.gz", (1, 1, 5.02))
    c = write_scan(tmp_path / "c.nii.gz", (1, 1, 3))
    factors, line = protocol_factors([str(a), str(b)])
    assert factors == (1, 1, 5) and "slice axis 2" in line
    with pytest.raises(MRISRError, match="one model per protocol"):
        protocol_factors([str(a), str(c)])


def test_a_sidecar_is_found_beside_nii_and_nii_gz(tmp_path):
    assert sidecar_path(tmp_path / "sub-01_T2w.nii.gz").name == "sub-01_T2w.json"
    assert sidecar_path(tmp_path / "sub-01_T2w.nii").name == "sub-01_T2w.json"
    assert nib.load(write_scan(tmp_path / "x.nii.gz", (1, 1, 2))).shape == (6, 7, 8)
