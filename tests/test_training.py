import torch
from conftest import tiny_config

from mrisr.checkpoint import load_checkpoint
from mrisr.training import Trainer, train


def weights(trainer: Trainer) -> dict[str, torch.Tensor]:
    return {k: v.clone() for k, v in trainer.generator.state_dict().items()}


def test_resume_continues_identically(tmp_path, real_data):
    config = tiny_config([str(real_data["template"])], [str(real_data["colin"])], steps=4)
    straight = Trainer(config, tmp_path / "straight")
    for _ in range(4):
        straight.train_step()

    first = Trainer(config, tmp_path / "split")
    first.train_step(), first.train_step()
    first.save_state()
    resumed = Trainer(config, tmp_path / "split", resume=True)
    assert resumed.step == 2
    resumed.train_step(), resumed.train_step()
    for name, value in weights(straight).items():
        torch.testing.assert_close(weights(resumed)[name], value, rtol=0, atol=0)


def test_training_writes_config_checkpoint_logs_and_model(tmp_path, real_data):
    config = tiny_config([str(real_data["template"])], [str(real_data["colin"])], steps=3)
    model_path = train(config, tmp_path / "run")
    assert model_path.is_file() and (tmp_path / "run" / "config.yaml").is_file()
    assert any((tmp_path / "run" / "tensorboard").iterdir())
    state = load_checkpoint(tmp_path / "run" / "checkpoints" / "last.pt")
    assert state["step"] == 3 and state["scale"] == [2, 2, 2]
    assert 0 < state["noise_sigmas"][0] < 0.1


def test_no_contrastive_drops_the_nce_term(tmp_path, real_data):
    config = tiny_config([str(real_data["template"])], [str(real_data["colin"])], scale=(1, 1, 4))
    config.loss.nce = 0.0
    losses = Trainer(config, tmp_path / "run").train_step()
    assert "nce" not in losses and losses["cyc"] > 0


def test_generator_losses_fall_on_real_data(tmp_path, real_data):
    config = tiny_config([str(real_data["template"])], [str(real_data["colin"])])
    config.train.learning_rate = 2e-3
    trainer = Trainer(config, tmp_path / "run")
    first = [trainer.train_step()["cyc"] for _ in range(5)]
    for _ in range(30):
        trainer.train_step()
    last = [trainer.train_step()["cyc"] for _ in range(5)]
    assert sum(last) < sum(first)
