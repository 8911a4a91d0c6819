"""Data-parallel training under ``torchrun``: process group, sharded example order, rank-0 I/O.

Both trainers run unchanged in one process or under ``torchrun --nproc_per_node=N -m geoapp train
...``. torchrun sets ``RANK``, ``WORLD_SIZE`` and ``LOCAL_RANK`` in each worker's environment;
:func:`init_distributed` reads them, joins the process group (``nccl`` when the workers have GPUs,
``gloo`` on CPU) and gives each worker its device (``cuda:LOCAL_RANK`` on GPUs).

The model is wrapped in :class:`~torch.nn.parallel.DistributedDataParallel` (gradients are averaged
across workers after every backward pass), each worker draws its share of every epoch's examples from
a :class:`~torch.utils.data.DistributedSampler` (same seed everywhere, disjoint shards of equal
length, so every worker runs the same number of steps), and the global batch size is split between
workers. Validation, checkpoints, metrics and progress come from rank 0 only; its decisions (stop
early) are broadcast so that every worker leaves the epoch loop together. BatchNorm statistics are
per worker (no SyncBatchNorm: it needs CUDA), and DDP copies rank 0's buffers to all workers at each
forward pass, so the saved model is rank 0's, the same layout as a single-process checkpoint.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, replace

import numpy as np
import torch
import torch.distributed as dist
from torch import nn
from torch.utils.data import DistributedSampler

from geoapp.errors import InputError
from geoapp.training.device import DeviceInfo, resolve_device

__all__ = [
    "DistContext",
    "init_distributed",
    "epoch_order",
    "batches_per_epoch",
    "wrap_model",
    "mean_across",
    "broadcast_value",
    "shutdown",
]


@dataclass(frozen=True)
class DistContext:
    """Where this process sits in the job: rank, world size, and the device it trains on."""

    rank: int
    world_size: int
    local_rank: int
    device: DeviceInfo
    backend: str | None  # None in a single process

    @property
    def is_main(self) -> bool:
        """True on rank 0, the worker that validates and writes checkpoints, metrics and status."""
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        """True when more than one worker takes part."""
        return self.world_size > 1


def _env_int(name: str, default: int) -> int:
    value = os.environ.get(name)
    if value is None:
        return default
    try:
        return int(value)
    except ValueError:
        raise InputError(f"environment variable {name}={value!r} must be an integer (torchrun sets it)") from None


def init_distributed(device_choice: str = "auto") -> DistContext:
    """Join the torchrun process group if there is one; otherwise a single-process context.

    Args:
        device_choice: ``auto``, ``cuda`` or ``cpu`` (see :func:`~geoapp.training.device.resolve_device`).
            Under torchrun with GPUs, worker ``LOCAL_RANK`` takes ``cuda:LOCAL_RANK``.

    Raises:
        InputError: more local workers than GPUs, or a malformed torchrun environment.
    """
    world = _env_int("WORLD_SIZE", 1)
    rank, local_rank = _env_int("RANK", 0), _env_int("LOCAL_RANK", 0)
    device = resolve_device(device_choice)
    if world <= 1:
        return DistContext(0, 1, 0, device, None)
    if device.device.type == "cuda":
        if local_rank >= torch.cuda.device_count():
            raise InputError(f"worker {local_rank} has no GPU: {torch.cuda.device_count()} visible; lower --nproc_per_node")
        torch.cuda.set_device(local_rank)
        props = torch.cuda.get_device_properties(local_rank)
        device = replace(device, device=torch.device("cuda", local_rank), name=props.name)
    backend = "nccl" if device.device.type == "cuda" else "gloo"
    if not dist.is_initialized():
        dist.init_process_group(backend=backend)
    return DistContext(rank, world, local_rank, device, backend)


class _Indices(torch.utils.data.Dataset):
    def __init__(self, n: int) -> None:
        self.n = n

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, i: int) -> int:
        return i


def epoch_order(n: int, epoch: int, seed: int, ctx: DistContext) -> np.ndarray:
    """The shuffled example indices of this worker for ``epoch`` (all of them in a single process).

    The shuffle depends on (seed, epoch) only, so a resumed run replays the same order, and the
    shards of all workers are disjoint (padded by repeating a few examples to equal length).
    """
    sampler = DistributedSampler(_Indices(n), num_replicas=ctx.world_size, rank=ctx.rank, shuffle=True, seed=seed)
    sampler.set_epoch(epoch)
    return np.fromiter(iter(sampler), dtype=np.int64, count=len(sampler))


def batches_per_epoch(n: int, batch: int) -> int:
    """Batches of ``batch`` in a shard of ``n`` examples.

    A last batch of a single example is dropped (BatchNorm needs two), so every step trains and a
    resumed learning-rate schedule replays exactly.
    """
    return n // batch + (1 if n % batch >= 2 else 0)


def wrap_model(model: nn.Module, ctx: DistContext) -> nn.Module:
    """``model`` wrapped in DistributedDataParallel when distributed; the model itself otherwise."""
    if not ctx.distributed:
        return model
    ids = [ctx.device.device.index] if ctx.device.device.type == "cuda" else None
    return nn.parallel.DistributedDataParallel(model, device_ids=ids)


def mean_across(values: dict[str, float], ctx: DistContext) -> dict[str, float]:
    """The mean of each value over all workers (the values themselves in a single process)."""
    if not ctx.distributed or not values:
        return values
    keys = sorted(values)
    t = torch.tensor([float(values[k]) for k in keys], dtype=torch.float64, device=ctx.device.device)
    dist.all_reduce(t)
    return {k: float(v) / ctx.world_size for k, v in zip(keys, t.tolist(), strict=True)}


def broadcast_value(value: float, ctx: DistContext) -> float:
    """Rank 0's ``value`` on every worker (e.g. the validation RMSE that decides early stopping)."""
    if not ctx.distributed:
        return value
    t = torch.tensor([float(value)], dtype=torch.float64, device=ctx.device.device)
    dist.broadcast(t, src=0)
    return float(t.item())


def shutdown(ctx: DistContext) -> None:
    """Leave the process group (after the last collective)."""
    if ctx.distributed and dist.is_initialized():
        dist.barrier()
        dist.destroy_process_group()
