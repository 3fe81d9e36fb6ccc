"""The experiment's generated inputs are not in the repository; regenerated, they match the recorded hashes.

``results/data_hashes.json`` holds the SHA-256 of the voxels and the affine of every input the committed
results were computed from, so that a later comparison on the same file (e.g. the thick-slice Colin27)
stays valid after ``mrisr experiment`` rebuilds it.
"""

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest

from mrisr import datasets
from mrisr.acquisition.simulate import simulate
from mrisr.apps.experiment.grid import DegradationSpec
from mrisr.io import load_volume

RECORDED = json.loads((Path(__file__).parents[1] / "results" / "data_hashes.json").read_text())["files"]


def sha256(array: np.ndarray) -> str:
    return hashlib.sha256(np.ascontiguousarray(array, dtype=np.float32).tobytes()).hexdigest()


@pytest.mark.parametrize(
    ("path", "source", "spec"),
    [
        (
            "results/long/data/colin27_thick-1x1x4.nii.gz",
            "colin27",
            DegradationSpec("thick-1x1x4", "gaussian", (1, 1, 4)),
        ),
        (
            "results/long/data/mni2009a_gaussian-rician-2x2x2.nii.gz",
            "mni2009a",
            DegradationSpec("gaussian-rician-2x2x2", "gaussian", (2, 2, 2), 0.02),
        ),
    ],
)
def test_regenerated_inputs_match_their_recorded_hashes(path, source, spec):
    path_of = datasets.colin27() if source == "colin27" else datasets.template(source)
    lr = simulate(load_volume(path_of), spec.params()).lr
    assert (sha256(lr.data), sha256(lr.affine)) == (RECORDED[path]["data_sha256"], RECORDED[path]["affine_sha256"])
