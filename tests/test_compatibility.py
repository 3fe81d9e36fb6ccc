"""A ``model.pt`` written by mrisr 0.1.0 (checkpoint format 2) still loads and gives the same SR and consistency
map (fixtures made by ``tests/data/checkpoint-v2/make.py`` with that version)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from mrisr.inference.loaded import LoadedModel
from mrisr.inference.writing import Companions, super_resolve_file
from mrisr.io import load_volume

FIXTURES = Path(__file__).parent / "data" / "checkpoint-v2"


@pytest.mark.parametrize("architecture", ["planar", "unpaired"])
def test_an_older_model_gives_the_same_sr(architecture, tmp_path):
    folder = FIXTURES / architecture
    model = LoadedModel.load(folder / "model.pt", "cpu", "fp32")
    assert model.meta["config"]["model"]["architecture"] == architecture
    companions = Companions(consistency=tmp_path / "consistency.nii.gz")
    out = super_resolve_file(model, folder / "lr.nii.gz", tmp_path / "sr.nii.gz", companions=companions, flips=2)
    expected = np.load(folder / "expected.npz")
    np.testing.assert_allclose(load_volume(out).data, expected["sr"], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(load_volume(companions.consistency).data, expected["consistency"], rtol=1e-5, atol=1e-6)
