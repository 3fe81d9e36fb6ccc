import pickle

import pytest
import torch
from conftest import tiny_config

from mrisr import MRISRError
from mrisr.models.checkpoint import load_checkpoint, load_model, save_checkpoint
from mrisr.models.registry import build_network


@pytest.fixture
def saved(tmp_path):
    config = tiny_config(["hr.nii.gz"], ["lr.nii.gz"], scale=(1, 1, 4))
    model = build_network(config)
    path = tmp_path / "model.pt"
    save_checkpoint(path, model, config, step=7)
    return path, model


def test_a_model_round_trips_with_its_metadata(saved):
    path, model = saved
    loaded, meta = load_model(path)
    assert loaded.scale == (1, 1, 4) and meta["step"] == 7
    assert meta["normalisation"] == {"method": "percentile", "percentile": 99.9}
    for name, value in model.state_dict().items():
        torch.testing.assert_close(loaded.state_dict()[name], value)


class Payload:
    def __reduce__(self):
        return (print, ("pwned",))


def test_a_pickled_payload_is_refused(tmp_path):
    path = tmp_path / "evil.pt"
    torch.save({"format": "mrisr-checkpoint", "x": Payload()}, path)
    with pytest.raises(MRISRError, match="refused"):
        load_checkpoint(path)


def test_other_files_are_not_checkpoints(tmp_path):
    (tmp_path / "a.pt").write_bytes(b"not a zip")
    with pytest.raises(MRISRError, match="not an mrisr checkpoint"):
        load_checkpoint(tmp_path / "a.pt")
    torch.save({"weights": torch.zeros(2)}, tmp_path / "b.pt")
    with pytest.raises(MRISRError, match="not an mrisr checkpoint"):
        load_checkpoint(tmp_path / "b.pt")
    with open(tmp_path / "c.pt", "wb") as f:
        pickle.dump([1, 2], f)
    with pytest.raises(MRISRError, match="c.pt"):
        load_checkpoint(tmp_path / "c.pt")


def test_truncated_checkpoint_is_detected(saved, tmp_path):
    path, _ = saved
    cut = tmp_path / "cut.pt"
    cut.write_bytes(path.read_bytes()[:3000])
    with pytest.raises(MRISRError, match="cut.pt"):
        load_checkpoint(cut)


def test_tampered_weights_and_other_versions_are_refused(saved, tmp_path):
    path, _ = saved
    payload = torch.load(path, weights_only=True)
    name = next(iter(payload["generator"]))
    payload["generator"][name] = payload["generator"][name] + 1
    torch.save(payload, tmp_path / "tampered.pt")
    with pytest.raises(MRISRError, match="hash"):
        load_checkpoint(tmp_path / "tampered.pt")
    payload = torch.load(path, weights_only=True)
    payload["format_version"] = 99
    torch.save(payload, tmp_path / "future.pt")
    with pytest.raises(MRISRError, match="version 99"):
        load_checkpoint(tmp_path / "future.pt")
