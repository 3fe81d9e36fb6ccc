import pytest

from mrisr import MRISRError
from mrisr.config import Config


def test_yaml_round_trip(tmp_path):
    config = Config()
    config.model.scale = (1, 1, 4)
    config.loss.nce = 0.0
    config.train.hr = ["a.nii.gz"]
    config.save(tmp_path / "c.yaml")
    assert Config.load(tmp_path / "c.yaml") == config


def test_partial_yaml_keeps_defaults(tmp_path):
    (tmp_path / "c.yaml").write_text("loss:\n  nce: 10\n")
    config = Config.load(tmp_path / "c.yaml")
    assert config.loss.nce == 10 and config.model.scale == (2, 2, 2)


def test_unknown_keys_are_an_error(tmp_path):
    (tmp_path / "c.yaml").write_text("loss:\n  nse: 10\n")
    with pytest.raises(MRISRError, match="nse"):
        Config.load(tmp_path / "c.yaml")
