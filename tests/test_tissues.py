"""What a segmentation sees: Dice and volume error with known answers, Atropos on a phantom, and the CLI with
and without the optional extra."""

import importlib.util
import json

import nibabel as nib
import numpy as np
import pytest

from mrisr import MRISRError, datasets
from mrisr.cli import main
from mrisr.io import save_volume
from mrisr.tissues import MISSING, TISSUES, dice, segment, tissue_scores, volume_error

needs_ants = pytest.mark.skipif(importlib.util.find_spec("ants") is None, reason="the tissues extra is not installed")


def test_dice_of_half_overlapping_masks_and_of_two_empty_ones():
    a, b = np.zeros((4, 4, 4), bool), np.zeros((4, 4, 4), bool)
    assert dice(a, b) == 1.0
    a[:2], b[1:3] = True, True
    assert dice(a, b) == pytest.approx(0.5)
    assert dice(a, a) == 1.0 and dice(a, ~a) == 0.0


def test_volume_error_is_signed_percent_of_the_truth():
    assert volume_error(110, 100) == pytest.approx(10.0)
    assert volume_error(97, 100) == pytest.approx(-3.0)
    with pytest.raises(MRISRError, match="empty tissue class"):
        volume_error(5, 0)


def test_tissue_scores_of_grey_matter_turned_white():
    truth = np.zeros((10, 10, 10), np.uint8)
    truth[:, :, 0:2], truth[:, :, 2:6], truth[:, :, 6:10] = 1, 2, 3  # CSF 200, grey 400, white 400 voxels
    labels = truth.copy()
    labels[:, :5, 5] = 3  # 50 grey voxels become white
    scores = tissue_scores(labels, truth, voxel_ml=0.002)
    assert scores["dice_csf"] == 1.0 and scores["volume_error_csf"] == 0.0
    assert scores["dice_gm"] == pytest.approx(2 * 350 / 750)
    assert scores["volume_error_gm"] == pytest.approx(-12.5)
    assert scores["volume_error_wm"] == pytest.approx(12.5)
    assert scores["volume_ml_wm"] == pytest.approx(450 * 0.002)


def phantom(rng: np.random.Generator, contrast: str = "t1") -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Nested spheres: white matter inside grey matter inside CSF, in a brain mask; image, labels, mask."""
    grid = np.indices((32, 32, 32)) - 15.5
    radius = np.sqrt((grid**2).sum(0))
    labels = np.select([radius < 7, radius < 11, radius < 14], [3, 2, 1], 0).astype(np.uint8)
    brightness = {"t1": [0.0, 0.2, 0.5, 0.8], "t2": [0.0, 0.9, 0.6, 0.3]}[contrast]
    image = np.take(brightness, labels) + rng.normal(0, 0.03, labels.shape)
    return image.astype(np.float32), labels, labels > 0


@needs_ants
@pytest.mark.parametrize("contrast", ["t1", "t2"])
def test_atropos_finds_the_phantom_tissues_in_either_contrast(contrast):
    image, labels, brain = phantom(np.random.default_rng(0), contrast)
    found = segment(image, brain, (1.0, 1.0, 1.0), contrast)
    for label, tissue in enumerate(TISSUES, start=1):
        assert dice(found == label, labels == label) > 0.95, tissue
    assert not found[~brain].any()


def write_case(tmp_path, rng):
    image, labels, brain = phantom(rng)
    blurred = image.copy()
    blurred[labels == 2] = 0.65  # grey matter as bright as halfway to white: a segmenter moves some of it
    paths = {name: tmp_path / f"{name}.nii.gz" for name in ("truth", "sr", "brain")}
    for name, data in zip(paths, (image, blurred, brain.astype(np.uint8))):
        save_volume(paths[name], data, np.eye(4))
    return paths


@needs_ants
def test_evaluate_tissues_writes_dice_and_volume_error_per_method(tmp_path, capsys):
    paths = write_case(tmp_path, np.random.default_rng(1))
    out = tmp_path / "metrics.json"
    args = ["evaluate", "--truth", str(paths["truth"]), "--pred", f"same={paths['truth']}", f"sr={paths['sr']}"]
    assert main([*args, "--tissues", "--brain-mask", str(paths["brain"]), "--out", str(out)]) == 0
    metrics = json.loads(out.read_text())
    assert metrics["same"]["dice_gm"] == 1.0 and metrics["same"]["volume_error_wm"] == 0.0
    assert metrics["sr"]["psnr"] < metrics["same"]["psnr"]
    assert {f"dice_{t}" for t in TISSUES} <= set(metrics["sr"])
    assert "volume_error_gm" in capsys.readouterr().out


def test_evaluate_tissues_without_the_extra_or_the_brain_mask_is_one_line(tmp_path, capsys, monkeypatch):
    paths = write_case(tmp_path, np.random.default_rng(2))
    out = tmp_path / "metrics.json"
    args = ["evaluate", "--truth", str(paths["truth"]), "--pred", str(paths["sr"]), "--tissues", "--out", str(out)]
    real_find_spec = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "ants" else real_find_spec(name))
    assert main([*args, "--brain-mask", str(paths["brain"])]) == 1
    err = capsys.readouterr().err.strip()
    assert err == f"mrisr evaluate: error: {MISSING}" and not out.exists()
    monkeypatch.setattr(importlib.util, "find_spec", real_find_spec)
    if real_find_spec("ants") is not None:
        assert main(args) == 1
        assert "--tissues needs --brain-mask" in capsys.readouterr().err and not out.exists()


@pytest.mark.parametrize("head", datasets.HEADS)
def test_each_packaged_head_has_a_brain_mask_on_its_grid(head):
    brain = datasets.brain_mask(head)
    assert brain.shape == nib.load(datasets.head(head)).shape
    assert 1.2e6 < brain.sum() < 2.2e6  # 1.2 to 2.2 litres of 1 mm voxels: a brain, not the head or a part
