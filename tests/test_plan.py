"""The one planner of a training run: the settled config of a request, and what a run folder that holds work
means to each command."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import OBLIQUE

from mrisr import MRISRError
from mrisr.config import Config
from mrisr.io import save_volume
from mrisr.training.plan import RESUME, REUSE, TRAIN, TrainRequest, plan_training, training_config


@pytest.fixture
def thick_scan(tmp_path):
    """A scan with 4 mm slices along voxel axis 2 and 1 mm pixels."""
    affine = OBLIQUE.copy()
    affine[:3, :3] = OBLIQUE[:3, :3] / np.linalg.norm(OBLIQUE[:3, :3], axis=0) * [1.0, 1.0, 4.0]
    path = tmp_path / "scan.nii.gz"
    save_volume(path, np.random.default_rng(0).random((20, 20, 6)).astype(np.float32), affine)
    return str(path)


def test_a_request_settles_factors_from_the_header_and_the_architecture_they_call_for(thick_scan):
    config = training_config(TrainRequest(lr=[thick_scan], steps=7, seed=3, thickness=3.5))
    assert list(config.model.scale) == [1, 1, 4] and config.model.architecture == "planar"
    assert (config.train.steps, config.train.minutes, config.train.seed) == (7, None, 3)
    assert config.model.slice_thickness == 3.5
    explicit = training_config(TrainRequest(lr=[thick_scan], scale=(1, 1, 2.0), minutes=1.5))
    assert list(explicit.model.scale) == [1, 1, 2] and (explicit.train.minutes, explicit.train.steps) == (1.5, None)
    assert training_config(TrainRequest(lr=[thick_scan], contrastive=False)).loss.nce == 0.0


def test_a_request_that_no_training_could_serve_is_refused_before_any_work(thick_scan):
    with pytest.raises(MRISRError, match="needs HR volumes"):
        training_config(TrainRequest(lr=[thick_scan], scale=(2, 2, 2)))
    with pytest.raises(MRISRError, match="needs LR scans"):
        training_config(TrainRequest())
    with pytest.raises(MRISRError, match="cannot be combined"):
        training_config(TrainRequest(lr=[thick_scan], preset="gpu"), saved=Config())


def test_a_run_folder_is_reused_resumed_refused_or_replaced_as_the_command_says(thick_scan, tmp_path):
    request = TrainRequest(lr=[thick_scan], steps=5)
    run = tmp_path / "run"
    assert plan_training(request, run).action == TRAIN
    (run / "checkpoints").mkdir(parents=True)
    (run / "checkpoints" / "last.pt").write_bytes(b"")
    Config().override({"model": {"scale": [1, 1, 4]}, "train": {"steps": 9}}).save(run / "config.yaml")
    resumed = plan_training(request, run)
    assert resumed.action == RESUME and resumed.config.train.steps == 5  # the request's budget on the saved run
    assert plan_training(request, run, on_existing="resume").action == RESUME
    assert plan_training(request, run, on_existing="replace").action == TRAIN
    with pytest.raises(MRISRError, match="holds a run already"):
        plan_training(request, run, on_existing="refuse")
    (run / "model.pt").write_bytes(b"")
    reused = plan_training(request, run)
    assert reused.action == REUSE and reused.config is None and reused.model_path == run / "model.pt"
    assert plan_training(request, run, on_existing="resume").action == RESUME  # train --resume never reuses


def test_a_run_killed_while_replacing_its_last_checkpoint_is_resumed(thick_scan, tmp_path):
    """Between moving last.pt to previous.pt and writing the new last.pt, only previous.pt is there."""
    run = tmp_path / "run"
    (run / "checkpoints").mkdir(parents=True)
    (run / "checkpoints" / "previous.pt").write_bytes(b"")
    Config().override({"model": {"scale": [1, 1, 4]}, "train": {"lr": [thick_scan]}}).save(run / "config.yaml")
    assert plan_training(TrainRequest(), run, on_existing="resume").action == RESUME
