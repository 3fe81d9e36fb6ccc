"""Data-parallel training across processes started by ``torchrun`` (gloo on CPU, nccl on CUDA).

Every replica draws the same *global* batch from the same seeded generators and keeps its own rows, so
the ranks see distinct patches and noise, a run with ``N`` processes of batch ``B`` follows a 1-process
run of batch ``N*B`` up to floating-point summation order, and one checkpoint resumes them all.
Gradients are averaged with ``all_reduce`` after each backward pass — what ``DistributedDataParallel``
does — because one training step calls the generator's parts several times each, which DDP's
one-forward-per-backward wrapper does not allow.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterable
from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch import nn

from mrisr import MRISRError
from mrisr.device import resolve_device


@dataclass(frozen=True)
class Replica:
    """This process's place in the run: rank ``rank`` of ``world``, computing on ``device``."""

    rank: int = 0
    world: int = 1
    device: torch.device = torch.device("cpu")

    @property
    def is_main(self) -> bool:
        """Rank 0 logs, checkpoints and exports."""
        return self.rank == 0

    def shard(self, batch: torch.Tensor) -> torch.Tensor:
        """This replica's rows of a global batch (the first dimension must divide by ``world``)."""
        rows = batch.shape[0] // self.world
        return batch[self.rank * rows : (self.rank + 1) * rows]


def init_replica(device_name: str = "auto") -> Replica:
    """Join the process group that ``torchrun`` describes in the environment, or run alone without one."""
    device = resolve_device(device_name)
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world == 1:
        return Replica(device=device)
    if device.type == "cuda":
        device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
        torch.cuda.set_device(device)
    if not dist.is_initialized():
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    return Replica(dist.get_rank(), dist.get_world_size(), device)


def average_gradients(parameters: Iterable[nn.Parameter], replica: Replica) -> None:
    """Replace each gradient by its mean over the replicas, in one flat all-reduce."""
    if replica.world == 1:
        return
    grads = [p.grad for p in parameters if p.grad is not None]
    flat = torch.cat([g.reshape(-1) for g in grads])
    dist.all_reduce(flat)
    flat /= replica.world
    offset = 0
    for g in grads:
        g.copy_(flat[offset : offset + g.numel()].view_as(g))
        offset += g.numel()


def broadcast_parameters(modules: Iterable[nn.Module], replica: Replica) -> None:
    """Give every replica rank 0's weights."""
    if replica.world == 1:
        return
    for module in modules:
        for tensor in module.state_dict().values():
            dist.broadcast(tensor, src=0)


def global_max(value: float, replica: Replica) -> float:
    """The largest ``value`` over the replicas (e.g. elapsed time, so that all stop at the same step)."""
    if replica.world == 1:
        return value
    t = torch.tensor([value], dtype=torch.float64, device=replica.device)
    dist.all_reduce(t, op=dist.ReduceOp.MAX)
    return float(t)


def check_in_sync(modules: Iterable[nn.Module], replica: Replica) -> None:
    """Refuse to go on if the replicas' weights have drifted apart (they must stay bit-identical)."""
    if replica.world == 1:
        return
    sums = [torch.cat([t.detach().double().reshape(-1) for t in m.state_dict().values()]).sum() for m in modules]
    local = torch.stack(sums).to(replica.device)
    gathered = [torch.zeros_like(local) for _ in range(replica.world)]
    dist.all_gather(gathered, local)
    if any(not torch.equal(g, gathered[0]) for g in gathered):
        raise MRISRError(f"rank {replica.rank}: the replicas' weights differ; the run is not data-parallel")


def finish(replica: Replica) -> None:
    """Wait for every replica, then leave the process group."""
    if replica.world > 1 and dist.is_initialized():
        dist.barrier()
        dist.destroy_process_group()


def optimizer_step(optimizer: torch.optim.Optimizer, loss: torch.Tensor, replica: Replica) -> None:
    """One optimiser step on ``loss``, with gradients averaged over the replicas."""
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    average_gradients((p for group in optimizer.param_groups for p in group["params"]), replica)
    optimizer.step()


def relaunch_under_torchrun(argv: list[str], nproc: int) -> None:
    """Run the ``mrisr`` command ``argv`` again as ``nproc`` data-parallel processes under ``torchrun`` on this
    machine (``--nproc`` itself left out)."""
    rest, skip = [], False
    for arg in argv:
        if skip or arg.startswith("--nproc="):
            skip = False
            continue
        skip = arg == "--nproc"
        if not skip:
            rest.append(arg)
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc-per-node={nproc}"]
    code = subprocess.run([*command, "-m", "mrisr", *rest], check=False).returncode
    if code != 0:
        raise MRISRError(f"torchrun with {nproc} processes exited with status {code}")


def is_replica() -> bool:
    """Whether this process is one of a ``torchrun`` group (its launcher sets ``WORLD_SIZE``)."""
    return "WORLD_SIZE" in os.environ
