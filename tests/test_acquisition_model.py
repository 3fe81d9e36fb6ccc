"""The one description of an acquisition: thick slices on any axis, a profile moved to the axis a scan is sliced
along, the shapes it knows, and what the simulation and a loaded model say with it."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from mrisr import MRISRError
from mrisr.acquisition.forward import SimulationParams
from mrisr.acquisition.model import Acquisition
from mrisr.acquisition.simulate import SliceParams, simulate, simulate_slices
from mrisr.config import Config
from mrisr.inference.loaded import LoadedModel
from mrisr.io import Volume
from mrisr.models.checkpoint import save_checkpoint
from mrisr.models.planar import PlanarSR


def test_thick_slices_name_their_axis_and_move_to_another():
    slices = Acquisition.slices(2, 4.5, 3.8, noise_sigma=0.01)
    assert slices.scale == (1, 1, 4.5) and slices.fwhm == (0.0, 0.0, 3.8) and slices.slice_axis == 2
    coronal = slices.on_axes((1, 4.5, 1))
    assert coronal == Acquisition((1, 4.5, 1), (0.0, 3.8, 0.0), "gaussian", 0.01)
    assert Acquisition((2, 2, 2), (2.0, 2.0, 2.0)).slice_axis is None
    assert Acquisition((2, 2, 2), (2.0, 2.0, 2.0)).on_axes((2, 2, 2)).fwhm == (2.0, 2.0, 2.0)
    with pytest.raises(MRISRError, match="slice-profile shape"):
        Acquisition((1, 1, 4), (0.0, 0.0, 4.0), "box")


def test_every_simulated_scan_says_how_it_was_acquired():
    truth = np.random.default_rng(0).random((24, 24, 30)).astype(np.float32)
    volume = Volume(truth, np.eye(4))
    sliced = simulate_slices(volume, SliceParams(axis=2, spacing=5.0, thickness=4.0, noise_sigma=0.01))
    assert sliced.acquisition == Acquisition.slices(2, 5, 4.0, 0.01)
    assert sliced.lr.data.shape[2] * 5 == sliced.truth.data.shape[2]
    kspace = simulate(volume, SimulationParams(scale=(2, 2, 2), kind="kspace"))
    assert kspace.acquisition == Acquisition((2, 2, 2), (2.0, 2.0, 2.0), "sinc")


def test_a_planar_model_serves_its_profile_on_the_axis_a_scan_is_sliced_along(tmp_path):
    config = Config().override(
        {"model": {"scale": [1, 1, 4], "architecture": "planar", "plane_width": 4, "plane_blocks": 1}}
    )
    network = PlanarSR((1, 1, 4), width=4, blocks=1)
    acquisition = {"fwhm_hr_voxels": [0.0, 0.0, 3.6], "fwhm_source": "estimated"}
    save_checkpoint(tmp_path / "model.pt", network, config, step=1, acquisition=acquisition)
    model = LoadedModel.load(tmp_path / "model.pt", "cpu", "fp32")
    assert model.served_acquisition((1, 1, 4)) == Acquisition.slices(2, 4, 3.6)
    assert model.served_acquisition((4, 1, 1)) == Acquisition.slices(0, 4, 3.6)
    assert model.percentile == config.train.percentile and model.precision == "float32"
    untrained = LoadedModel(network)
    assert untrained.percentile == 99.9 and untrained.dtype == torch.float32
    with pytest.raises(ValueError, match="checkpoint"):
        untrained.served_acquisition((1, 1, 4))
