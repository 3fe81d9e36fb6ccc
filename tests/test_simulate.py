import numpy as np
import pytest

from mrisr import MRISRError
from mrisr.acquisition.simulate import SliceParams, simulate_slices
from mrisr.io import Volume


def test_slices_that_do_not_fall_on_whole_voxels_are_refused_not_cut_to_one():
    """4 mm slices over 0.9765625 mm voxels meet whole voxels only every 125 slices: an error, not one slice."""
    data = np.random.default_rng(0).random((8, 8, 256)).astype(np.float32)
    fine = Volume(data, np.diag([1.0, 1.0, 0.9765625, 1.0]))
    with pytest.raises(MRISRError, match="do not fall on whole"):
        simulate_slices(fine, SliceParams(axis=2, spacing=4.0, thickness=4.0))
    case = simulate_slices(Volume(data, np.diag([1.0, 1.0, 1.0, 1.0])), SliceParams(axis=2, spacing=4.5))
    assert case.lr.data.shape == (8, 8, 56) and case.truth.data.shape == (8, 8, 252)
