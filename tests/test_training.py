import dataclasses
import json
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import torch
from conftest import straight_and_resumed, tiny_config

from mrisr import MRISRError
from mrisr.cli import main
from mrisr.console import console
from mrisr.distributed import Replica
from mrisr.models.checkpoint import load_checkpoint
from mrisr.training import Trainer, make_trainer, train
from mrisr.training.systems.unpaired import rician_debiased


def weights(trainer: Trainer) -> dict[str, torch.Tensor]:
    return {k: v.clone() for k, v in trainer.system.generator.state_dict().items()}


def test_resume_continues_identically(tmp_path, real_data):
    config = tiny_config([str(real_data["template"])], [str(real_data["colin"])], steps=4)
    straight, resumed = straight_and_resumed(config, tmp_path)
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
    config.model.architecture = "unpaired"
    config.loss.nce = 0.0
    losses = make_trainer(config, tmp_path / "run").train_step()
    assert "nce" not in losses and losses["cyc"] > 0


@pytest.mark.parametrize("degradation", ["physics", "free"])
def test_no_reconstruction_skips_its_decoding(tmp_path, real_data, degradation):
    config = tiny_config([str(real_data["template"])], [str(real_data["colin"])])
    config.model.degradation = degradation
    config.loss.rec = 0.0
    trainer = make_trainer(config, tmp_path / "run")
    losses = trainer.train_step()
    assert "rec" not in losses and losses["nce"] > 0  # the HR encoder still feeds InfoNCE
    assert trainer.system._last.sr_s is None and trainer.system._last.rec_t is None


def test_generator_losses_fall_on_real_data(tmp_path, real_data):
    config = tiny_config([str(real_data["template"])], [str(real_data["colin"])])
    config.train.learning_rate = 2e-3
    trainer = make_trainer(config, tmp_path / "run")
    first = [trainer.train_step()["cyc"] for _ in range(5)]
    for _ in range(30):
        trainer.train_step()
    last = [trainer.train_step()["cyc"] for _ in range(5)]
    assert sum(last) < sum(first)


def test_a_killed_run_resumes_to_the_same_weights(tmp_path, real_data):
    """SIGKILL mid-training, then --resume: the final weights equal an uninterrupted run's, bit for bit."""
    config = tiny_config([str(real_data["template"])], [str(real_data["colin"])], steps=40)
    config.train.checkpoint_every = 1
    reference = make_trainer(config, tmp_path / "reference")
    reference.train()

    run = tmp_path / "killed"
    run.mkdir()
    config.save(tmp_path / "config.yaml")
    command = [sys.executable, "-m", "mrisr", "train", "--config", str(tmp_path / "config.yaml"), "--out", str(run)]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while not (run / "checkpoints" / "previous.pt").exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(0.3)
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert not (run / "model.pt").exists(), "the run finished before it could be killed"
    assert main(["train", "--out", str(run), "--resume"]) == 0
    resumed = load_checkpoint(run / "model.pt")["generator"]
    for name, value in load_checkpoint(tmp_path / "reference" / "model.pt")["generator"].items():
        torch.testing.assert_close(resumed[name], value, rtol=0, atol=0)


def test_a_damaged_last_checkpoint_falls_back_to_the_previous(tmp_path, real_data):
    config = tiny_config([str(real_data["template"])], [str(real_data["colin"])], steps=4)
    trainer = make_trainer(config, tmp_path / "run")
    for _ in range(2):
        trainer.train_step()
        trainer.save_state()
    last = tmp_path / "run" / "checkpoints" / "last.pt"
    last.write_bytes(last.read_bytes()[:1000])
    with pytest.warns(UserWarning, match="previous.pt"):
        resumed = make_trainer(config, tmp_path / "run", resume=True)
    assert resumed.step == 1


def test_paired_validation_keeps_the_best_ssim_model(tmp_path, real_data, monkeypatch):
    """model.pt is the generator of the best validation score (step 2 of 4 here), not the last one."""
    from mrisr.training import loop

    config = tiny_config([str(real_data["template"])], [str(real_data["colin"])], steps=4)
    lr = tmp_path / "val_lr.nii.gz"
    assert main(["simulate", str(real_data["colin"]), "-o", str(lr)]) == 0
    config.train.val_lr, config.train.val_hr = [str(lr)], [str(real_data["colin"])]
    config.train.val_every = 1
    scripted, seen, measured = iter([0.5, 0.9, 0.7, 0.6, 0.6]), [], []  # steps 1-4, then the end of the run

    def validation_ssim(generator, train_config, device):
        measured.append(real_validation(generator, train_config, device))
        seen.append({k: v.clone() for k, v in generator.state_dict().items()})
        return next(scripted)

    real_validation = loop.validation_ssim
    monkeypatch.setattr(loop, "validation_ssim", validation_ssim)
    model = load_checkpoint(train(config, tmp_path / "run"))
    assert model["val_ssim"] == 0.9 and model["step"] == 2
    assert all(torch.equal(model["generator"][k], v) for k, v in seen[1].items())
    assert not all(torch.equal(model["generator"][k], v) for k, v in seen[-1].items())  # the last one differs
    assert all(0.2 < score < 1 for score in measured)  # the real score of an SR against its truth


def test_a_learned_contrast_curve_trains_and_is_reported(tmp_path, real_data, capsys):
    config = tiny_config([str(real_data["template"])], [str(real_data["colin"])], steps=3)
    config.model.contrast = True
    trainer = make_trainer(config, tmp_path / "run")
    start = trainer.system.generator.contrast.raw_slopes.detach().clone()
    trainer.train()
    slopes = trainer.system.generator.contrast.raw_slopes.detach()
    assert not torch.equal(slopes, start)  # the LR discriminator moves it
    curve = json.loads((tmp_path / "run" / "degradation.json").read_text())["contrast_curve"]
    assert list(curve) == ["0.00", "0.25", "0.50", "0.75", "1.00"] and curve["0.00"] == 0
    assert main(["report", str(tmp_path / "run")]) == 0
    assert "contrast curve" in capsys.readouterr().out


def test_the_profile_is_settled_without_changing_the_callers_config(tmp_path, real_data):
    """Two trainers from one config both estimate the profile; the config they were given is left alone."""
    config = tiny_config([str(real_data["template"])], [str(real_data["colin"])])
    first, second = make_trainer(config, tmp_path / "a"), make_trainer(config, tmp_path / "b")
    assert config.model.fixed_fwhm is None
    assert first.system.config.model.fixed_fwhm == second.system.config.model.fixed_fwhm is not None
    assert first.system.settled.profile_source == second.system.settled.profile_source
    assert first.system.settled.profile_source.startswith("estimated")


def test_a_frozen_physics_model_trains_no_lr_discriminator_and_no_lr_decoder(tmp_path, real_data):
    config = tiny_config([str(real_data["template"])], [str(real_data["colin"])])
    frozen = make_trainer(config, tmp_path / "frozen")
    assert frozen.system.lr_disc is None and frozen.system.generator.lr_decoder is None
    assert "lr_adversarial" not in frozen.train_step()
    config.model.profile = "learn"
    learned = make_trainer(config, tmp_path / "learned")
    assert learned.system.lr_disc is not None and "lr_adversarial" in learned.train_step()


def test_without_feature_alignment_no_feature_discriminator_trains(tmp_path, real_data):
    """A zero weight builds no network: with a frozen profile nothing adversarial is left, so no "d" step."""
    config = tiny_config([str(real_data["template"])], [str(real_data["colin"])], steps=2)
    config.loss.feature_adversarial = 0.0
    trainer = make_trainer(config, tmp_path / "run")
    assert trainer.system.feat_disc is None and set(trainer.system.optimizers) == {"g"}
    losses = trainer.train_step()
    assert "feature_adversarial" not in losses and "d" not in losses and losses["nce"] > 0
    trainer.train()  # checkpoints and exports without the missing networks
    assert (tmp_path / "run" / "model.pt").is_file()
    config.model.profile = "learn"  # the LR discriminator alone still trains
    learned = make_trainer(config, tmp_path / "learned")
    assert learned.system.feat_disc is None and "d" in learned.train_step()


def test_divergence_is_judged_on_the_recent_median_against_the_first_step():
    from mrisr.training.state import divergence_warning

    assert divergence_warning(0.02, [0.01] * 50 + [5.0] * 10) is None  # a late spike alone is not divergence
    assert divergence_warning(0.02, [0.029] * 100) is None  # within 1.5x: noise, not divergence
    assert "diverged" in divergence_warning(0.02, [0.05] * 100)
    assert "diverged" in divergence_warning(0.02, [float("nan")] * 100)
    assert divergence_warning(None, [1.0]) is None  # a checkpoint from before the record


def test_a_diverging_run_warns_at_the_end_and_in_its_report(tmp_path, real_data, capsys):
    thick = tmp_path / "thick.nii.gz"
    assert main(["simulate", str(real_data["colin"]), "-o", str(thick), "--scale", "1", "1", "4"]) == 0
    config = tiny_config([], [str(thick)], scale=(1, 1, 4), steps=12)
    config.train.plane_learning_rate = 1.0  # far too high: the zero-initialised head leaves cubic at once
    with console():
        train(config, tmp_path / "run")
    assert "training diverged" in capsys.readouterr().err
    main(["report", str(tmp_path / "run")])
    assert "warning: training diverged" in capsys.readouterr().out


def test_resume_keeps_the_loss_record(tmp_path, real_data):
    config = tiny_config([str(real_data["template"])], [str(real_data["colin"])], steps=4)
    straight, resumed = straight_and_resumed(config, tmp_path)
    assert resumed.progress.first_loss == straight.progress.first_loss
    assert list(resumed.progress.recent_losses) == list(straight.progress.recent_losses)


def test_internal_pairs_super_resolve_the_scan_from_its_own_coarser_copy(tmp_path, real_data):
    """ZSSR-style pairs: X_t patches twice the LR patch, degraded once more, are the cycle's third input;
    the noise the profile averages away is put back, and runs without them keep their random streams."""
    config = tiny_config([str(real_data["template"])], [str(real_data["colin"])], steps=2)
    assert config.loss.internal == 1.0  # on by default
    config.loss.internal = 0.0
    plain = make_trainer(config, tmp_path / "plain")
    assert plain.system.internal_sampler is None and "internal" not in plain.train_step()
    config.loss.internal = 1.0
    trainer = make_trainer(config, tmp_path / "internal")
    system = trainer.system
    assert system.internal_sampler.patch_size == system.hr_patch  # the LR volume is large enough
    assert 0.9 < system.noise_lost < 1.0  # a 2x2x2 profile keeps about a fifth of white noise's std
    batch = system.sample_batch(np.random.default_rng(0), Replica())
    assert batch.internal.shape[2:] == system.hr_patch
    forward = system.forward_train(batch)
    assert forward.sr_internal.shape == batch.internal.shape
    assert batch.sigma is not None and float(batch.sigma.min()) > 0  # the scan's noise, measured in its air
    torch.testing.assert_close(forward.internal, rician_debiased(batch.internal, batch.sigma))  # Rician floor off
    assert bool((forward.internal <= batch.internal).all()) and not torch.equal(forward.internal, batch.internal)
    losses = trainer.train_step()
    assert losses["internal"] > 0 and losses["g"] >= losses["internal"]


def test_the_rician_floor_is_removed_from_the_air_and_barely_touches_tissue():
    sigma = torch.tensor([0.02])
    generator = torch.Generator().manual_seed(0)
    air = (torch.randn(1, 2, 4096, generator=generator) * 0.02).norm(dim=1, keepdim=True)  # Rayleigh magnitudes
    tissue = torch.full((1, 1, 8), 0.8)
    assert float(rician_debiased(air, sigma).median()) == 0.0 and float(air.median()) > 0.02
    torch.testing.assert_close(rician_debiased(tissue, sigma), tissue, atol=1e-3, rtol=0)


def test_train_init_starts_from_another_models_weights_and_refuses_another_network(tmp_path, real_data):
    config = tiny_config([str(real_data["template"])], [str(real_data["colin"])], steps=2)
    first = train(config, tmp_path / "first")
    config.train.init = str(first)
    warm = make_trainer(config, tmp_path / "warm")
    for name, value in load_checkpoint(first)["generator"].items():
        torch.testing.assert_close(warm.system.generator.state_dict()[name], value, rtol=0, atol=0)
    cold = make_trainer(dataclasses.replace(config, train=dataclasses.replace(config.train, init=None)), tmp_path / "c")
    cold_weights, warm_weights = cold.system.generator.state_dict(), warm.system.generator.state_dict()
    assert any(not torch.equal(cold_weights[k], v) for k, v in warm_weights.items())  # init did something
    config.model.width = 16
    with pytest.raises(MRISRError, match="its network is not this run's"):
        make_trainer(config, tmp_path / "other")


@pytest.mark.parametrize("scale", [(2, 2, 2), (1, 1, 4)])
def test_bf16_training_runs_the_forward_in_bf16_and_keeps_fp32_weights(tmp_path, real_data, scale):
    config = tiny_config([str(real_data["template"])], [str(real_data["colin"])], scale=scale)
    config.train.precision = "bf16"
    trainer = make_trainer(config, tmp_path / "run")
    before = weights(trainer)
    losses = trainer.train_step()
    after = weights(trainer)
    assert all(np.isfinite(value) for value in losses.values())
    assert all(value.dtype == torch.float32 for value in after.values())
    assert any(not torch.equal(before[name], after[name]) for name in before)
    if scale == (2, 2, 2):  # the 3D model's features: computed under the autocast
        assert trainer.system._last.f_s.dtype == torch.bfloat16


def test_an_unknown_training_precision_is_refused_before_the_run_folder_is_written(tmp_path, real_data):
    config = tiny_config([str(real_data["template"])], [str(real_data["colin"])])
    config.train.precision = "fp16"
    with pytest.raises(MRISRError, match="train.precision"):
        make_trainer(config, tmp_path / "run")
    assert not (tmp_path / "run").exists()
