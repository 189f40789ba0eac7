"""Data-parallel training under ``torchrun``: one process per rank, each with a slice of every batch.

Every rank builds the same network from the same seed and walks the same shuffled order (rank
0's, broadcast each epoch); each global batch is split across the ranks, and each rank's loss
is weighted by its share, so DistributedDataParallel's gradient average is exactly the mean over
the global batch: the same batch size and the same optimizer steps as one process, the result
equal to it up to float rounding (for networks without batch norm or dropout, whose statistics
and masks are per rank). gloo on CPU, NCCL on CUDA; rank 0 writes the run.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist


@dataclass(frozen=True)
class Group:
    """This process's place among the ranks."""

    rank: int
    world: int
    local_rank: int

    @property
    def main(self) -> bool:
        return self.rank == 0


def join_from_environment(cuda: bool) -> Group | None:
    """Join the process group torchrun describes in the environment (``WORLD_SIZE`` > 1); None when alone."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world < 2:
        return None
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    if not dist.is_initialized():
        if cuda:
            torch.cuda.set_device(local_rank)
        dist.init_process_group(backend="nccl" if cuda else "gloo")
    return Group(dist.get_rank(), dist.get_world_size(), local_rank)


def wrap(network: torch.nn.Module, group: Group | None) -> torch.nn.Module:
    """The module to run training steps through: DDP around ``network`` for a group, else the network."""
    if group is None:
        return network
    device_ids = [group.local_rank] if next(network.parameters()).is_cuda else None
    return torch.nn.parallel.DistributedDataParallel(network, device_ids=device_ids)


def same_order(order: torch.Tensor, group: Group | None) -> torch.Tensor:
    """Rank 0's shuffled order, on every rank."""
    if group is not None:
        dist.broadcast(order, src=0)
    return order


def my_share(index: torch.Tensor, group: Group | None) -> tuple[torch.Tensor, float | None]:
    """This rank's slice of a global batch, and its loss weight: summed loss times ``world / batch``
    (None alone: the plain mean), so DDP's average over the ranks is the global batch's mean."""
    if group is None:
        return index, None
    return torch.tensor_split(index, group.world)[group.rank], group.world / len(index)


def summed(values: list[torch.Tensor], group: Group | None) -> list[torch.Tensor]:
    """Each tensor summed over the ranks (the epoch's loss, correct answers, images seen)."""
    if group is not None:
        for value in values:
            dist.all_reduce(value)
    return values


def shared_object(value: object, group: Group | None) -> object:
    """Rank 0's ``value`` on every rank (the run folder's path)."""
    if group is None:
        return value
    box = [value]
    dist.broadcast_object_list(box, src=0)
    return box[0]


def barrier(group: Group | None) -> None:
    if group is not None:
        dist.barrier()


def is_main_process() -> bool:
    """Whether this process is rank 0 of its group, or alone."""
    return not dist.is_initialized() or dist.get_rank() == 0


def leave_group() -> None:
    """Leave the process group, if this process joined one."""
    if dist.is_initialized():
        dist.destroy_process_group()
