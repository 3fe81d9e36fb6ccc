import pytest

from mrisr import MRISRError
from mrisr.config import Config, preset
from mrisr.models.registry import settle_architecture
from mrisr.training.systems.planar import PlanarSystem
from mrisr.training.systems.unpaired import UnpairedSystem


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


def test_override_goes_through_the_strict_path_and_leaves_the_original_alone():
    config = Config()
    wide = config.override({"model": {"width": 64, "scale": [1, 1, 4]}})
    assert wide.model.width == 64 and wide.model.scale == (1, 1, 4)
    assert config.model.width == 32 and config.model.scale == (2, 2, 2)
    with pytest.raises(MRISRError, match="widht"):
        config.override({"model": {"widht": 64}})


def test_old_loss_names_still_read(tmp_path):
    (tmp_path / "old.yaml").write_text("loss:\n  sty: 0.3\n  align: 0.2\n")
    config = Config.load(tmp_path / "old.yaml")
    assert (config.loss.lr_adversarial, config.loss.feature_adversarial) == (0.3, 0.2)
    assert "sty" not in config.to_dict()["loss"]
    assert Config().override({"loss": {"sty": 0.0}}).loss.lr_adversarial == 0.0
    with pytest.raises(MRISRError, match="both 'sty' and its new name"):
        Config.from_dict({"loss": {"sty": 0.3, "lr_adversarial": 0.1}})


def test_a_saved_config_keeps_what_its_run_ran_with(tmp_path):
    """A run saved before the cubic SR base and the profile shapes existed loads as it trained; a user's
    partial config gets today's defaults."""
    old = {"model": {"scale": [2, 2, 2], "width": 8}, "loss": {}, "train": {}}
    assert (Config.from_saved(old).model.upsampler, Config.from_saved(old).model.profile_shape) == (
        "trilinear",
        "gaussian",
    )
    (tmp_path / "config.yaml").write_text("model:\n  width: 8\n")
    assert Config.load(tmp_path / "config.yaml", saved=True).model.upsampler == "trilinear"
    user = Config.load(tmp_path / "config.yaml")
    assert (user.model.upsampler, user.model.profile_shape) == ("cubic", "auto")
    new = Config().override({"model": {"profile_shape": "sinc"}}).to_dict()
    assert Config.from_saved(new).model.profile_shape == "sinc"


def test_each_model_trains_at_its_own_rate_and_an_old_shared_rate_still_serves_both():
    thick, iso = ({"model": {"scale": s}} for s in ([1, 1, 4], [2, 2, 2]))
    config = Config().override({"train": {"learning_rate": 1e-3, "plane_learning_rate": 2e-4}})
    assert settle_architecture(config.override(thick)).model.architecture == "planar"
    assert settle_architecture(config.override(iso)).model.architecture == "unpaired"
    assert PlanarSystem.learning_rate(config) == 2e-4
    assert UnpairedSystem.learning_rate(config) == 1e-3
    old = {"train": {"learning_rate": 3e-4}}  # saved when one rate served both models
    saved = Config.from_saved(old).train
    assert (saved.plane_learning_rate, saved.learning_rate) == (3e-4, 3e-4)
    assert Config.from_saved({}).train.plane_learning_rate == Config().train.plane_learning_rate


def test_presets_size_the_networks_and_paper_forces_the_3d_model():
    cpu, gpu, paper = preset("cpu"), preset("gpu"), preset("paper")
    assert (paper.loss.feature_adversarial, paper.loss.nce) == (0.1, 1.0)  # the paper's losses
    assert (paper.model.upsampler, paper.model.profile_shape) == ("trilinear", "gaussian")
    assert (cpu.loss.feature_adversarial, cpu.loss.nce) == (0.0, 1.0)  # the measured default
    assert (cpu.loss.internal, paper.loss.internal) == (1.0, 0.0)  # internal pairs
    assert (cpu.model.nominal_floor, paper.model.nominal_floor) == (True, False)
    assert (cpu.train.batch_size, paper.train.batch_size) == (2, 4)  # the paper's rows were measured at 4
    assert paper.train.learning_rate == 5e-4 < cpu.train.learning_rate  # ... and at 5e-4
    assert cpu == Config()
    assert gpu.model.plane_width > cpu.model.plane_width and gpu.train.plane_batch_size > cpu.train.plane_batch_size
    assert gpu.model.width > cpu.model.width
    thick = {"model": {"scale": [1, 1, 4]}}
    assert settle_architecture(paper.override(thick)).model.architecture == "unpaired"
    with pytest.raises(MRISRError, match="unknown preset"):
        preset("laptop")


@pytest.mark.parametrize(
    ("scale", "expected"),
    [((1, 1, 4), "planar"), ((3, 1, 1), "planar"), ((2, 2, 2), "unpaired"), ((1, 2, 2), "unpaired")],
)
def test_auto_architecture_is_planar_exactly_when_one_axis_is_coarse(scale, expected):
    config = Config().override({"model": {"scale": list(scale)}})
    settled = settle_architecture(config)
    assert settled.model.architecture == expected and config.model.architecture == "auto"  # the input is kept


def test_an_unknown_architecture_is_one_clear_error():
    with pytest.raises(MRISRError, match="model.architecture must be one of"):
        settle_architecture(Config().override({"model": {"architecture": "transformer"}}))
