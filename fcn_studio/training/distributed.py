"""Multi-process training under ``torchrun``: detection, process group, rank-0 duties.

``torchrun --nproc_per_node N -m fcn_studio train ...`` sets ``RANK``, ``WORLD_SIZE`` and
``LOCAL_RANK``; :func:`setup` then joins the process group (NCCL when each process has a
GPU, gloo on CPUs), pins each process to ``cuda:LOCAL_RANK`` and, on CPUs, splits the cores
between the processes so they do not oversubscribe them. A plain single-process run gets a
``DistContext`` with ``world_size == 1`` and every helper degrades to a no-op.

Only rank 0 writes checkpoints and prints the summary; every decision that must be the same
on all ranks (stop on cancel, time budget, NaN loss) is agreed through :meth:`DistContext.agree`.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist

from fcn_studio.errors import TrainingError


@dataclass(frozen=True)
class DistContext:
    """Where this process sits in the job; ``world_size == 1`` for an ordinary run."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    local_world_size: int = 1
    backend: str = ""

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def agree(self, *flags: bool, device: torch.device | None = None) -> tuple[bool, ...]:
        """Each flag OR-ed over all ranks (one small all-reduce): stop if any rank must stop."""
        if not self.enabled:
            return tuple(bool(f) for f in flags)
        t = torch.tensor([1.0 if f else 0.0 for f in flags], device=device or self.device())
        dist.all_reduce(t, op=dist.ReduceOp.MAX)
        return tuple(bool(v > 0) for v in t.tolist())

    def all_reduce_(self, tensor: torch.Tensor) -> None:
        """Sum ``tensor`` over ranks in place (moved to the collective's device and back)."""
        if not self.enabled:
            return
        dev = self.device()
        t = tensor.to(dev)
        dist.all_reduce(t, op=dist.ReduceOp.SUM)
        tensor.copy_(t.to(tensor.device))

    def mean(self, value: float) -> float:
        if not self.enabled:
            return value
        t = torch.tensor([value], dtype=torch.float64, device=self.device())
        dist.all_reduce(t, op=dist.ReduceOp.SUM)
        return float(t.item()) / self.world_size

    def device(self) -> torch.device:
        return torch.device("cuda", self.local_rank) if self.backend == "nccl" else torch.device("cpu")

    def sync_buffers(self, model: torch.nn.Module) -> None:
        """Average floating buffers (BatchNorm running statistics) over ranks; copy others from rank 0.

        DDP keeps parameters identical but each rank's last forward pass updates its own
        running statistics; without this, ranks would validate (and rank 0 would save)
        slightly different models.
        """
        if not self.enabled:
            return
        dev = self.device()
        for buf in model.buffers():
            t = buf.detach().to(dev)
            if t.is_floating_point():
                dist.all_reduce(t, op=dist.ReduceOp.SUM)
                t /= self.world_size
            else:
                dist.broadcast(t, src=0)
            buf.copy_(t.to(buf.device))

    def barrier(self) -> None:
        if self.enabled:
            dist.barrier()


def env_world() -> tuple[int, int, int, int]:
    """(rank, world size, local rank, local world size) from torchrun's environment."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    local = int(os.environ.get("LOCAL_RANK", str(rank)))
    local_world = int(os.environ.get("LOCAL_WORLD_SIZE", str(world)))
    return rank, world, local, local_world


def setup(device_name: str = "auto") -> DistContext:
    """Join the torchrun job if there is one (idempotent); else return a single-process context."""
    rank, world, local, local_world = env_world()
    if world <= 1:
        return DistContext()
    want_cuda = device_name in ("auto", "cuda") or device_name.startswith("cuda")
    use_nccl = want_cuda and torch.cuda.is_available() and torch.cuda.device_count() > local
    backend = "nccl" if use_nccl else "gloo"
    if use_nccl:
        torch.cuda.set_device(local)
    else:
        # gloo on CPUs: N processes share the cores; give each its part.
        torch.set_num_threads(max(1, (os.cpu_count() or 1) // max(1, local_world)))
    if not dist.is_initialized():
        try:
            dist.init_process_group(backend=backend)
        except Exception as exc:  # network/rendezvous problems: say what to check
            raise TrainingError(f"cannot join the distributed job ({backend}, rank {rank}/{world}): {exc}") from None
    return DistContext(rank=rank, world_size=world, local_rank=local, local_world_size=local_world, backend=backend)


def teardown(ctx: DistContext) -> None:
    """Leave the process group (only if this run joined one)."""
    if ctx.enabled and dist.is_initialized():
        dist.destroy_process_group()
