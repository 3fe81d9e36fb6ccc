"""Data-parallel training with torchrun: 2 gloo processes on the CPU."""

import torch
from conftest import tiny_config

from mrisr.cli import main
from mrisr.distributed import Replica
from mrisr.models.checkpoint import load_checkpoint
from mrisr.training import make_trainer


def test_a_replica_keeps_its_rows_of_the_global_batch():
    batch = torch.arange(8)
    shards = [Replica(rank, 4).shard(batch) for rank in range(4)]
    assert torch.equal(torch.cat(shards), batch) and all(len(s) == 2 for s in shards)


def test_two_processes_match_one_process_with_the_same_global_batch(tmp_path, real_data):
    """``mrisr train --nproc 2`` with batch 2 per process vs 1 process with batch 4: same patches, noise and
    NCE locations, so the weights may differ only by float summation order (asserted within 1e-6 after 4
    steps; different batches differ by orders of magnitude more). The ranks' weights are compared bit for
    bit inside the run (``check_in_sync``), which fails it otherwise."""
    config = tiny_config([str(real_data["template"])], [str(real_data["colin"])], steps=4)
    config.train.batch_size = 4
    config.train.checkpoint_every = 2
    make_trainer(config, tmp_path / "single").train()

    config.train.batch_size = 2
    config.save(tmp_path / "ddp.yaml")
    args = ["train", "--config", str(tmp_path / "ddp.yaml"), "--out", str(tmp_path / "ddp"), "--nproc", "2"]
    assert main(args) == 0
    single = load_checkpoint(tmp_path / "single" / "model.pt")
    ddp = load_checkpoint(tmp_path / "ddp" / "model.pt")
    assert ddp["step"] == single["step"] == 4
    for name, value in single["generator"].items():
        torch.testing.assert_close(ddp["generator"][name], value, rtol=0, atol=1e-6)
    moved = sum(
        float((load_checkpoint(tmp_path / "ddp" / "checkpoints" / "last.pt")["generator"][k] - v).abs().sum())
        for k, v in make_trainer(config, tmp_path / "fresh").system.generator.state_dict().items()
    )
    assert moved > 0  # training changed the weights: the comparison is not between two initial states
