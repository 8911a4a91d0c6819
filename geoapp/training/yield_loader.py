"""Training batches of the attention crop-yield models, built in worker processes (``torch.utils.data``).

Each item of :class:`YieldBatches` is a whole training step: the key ``(epoch, step)`` gives the
step's examples (slice ``step`` of the shuffled order of the epoch,
:func:`geoapp.training.distributed.epoch_order`), their tiles from a
:class:`~geoapp.training.yield_data.YieldTileSource` and their targets:

- with context (``semi-ha``, ``semi-sa``): ``A``, ``SN``, ``SD``, ``TN`` tiles, each (B, T, C, t, t)
  float32 standardised values, and ``tn_valid`` (B, T) bool (the quadruplet of Section III-B);
- without (``s-ha``): ``A`` alone;
- always ``target`` (B,) float32, yield in bu/acre, ``index`` (B,) int64, the example positions, and
  ``county`` (B,) int64, the examples' rows of ``ds.counties`` (what ``semi-ha-loc`` looks its
  location embedding up by; the other models do not read it).

With ``augment="dihedral"`` the tiles of each example are turned by one symmetry of the square
(:mod:`geoapp.training.augment`), the same for its anchor and context tiles.

:func:`batch_loader` wraps it in a :class:`torch.utils.data.DataLoader` (``batch_size=None``: the
items are already batches) with ``num_workers`` worker processes, pinned memory on CUDA (the copy to
the GPU is then non-blocking), ``prefetch_factor`` batches prefetched per worker and persistent
workers, so that tile gathering on the CPU overlaps the model's step on the GPU.

Determinism rule: the random context draws of a step come from a generator seeded by
``(seed, epoch, rank, step)``, so a batch depends on its key alone: not on the number of workers, nor
on which worker builds it, and a resumed run replays the same draws. Earlier versions of geoapp drew
the quadruplets of an epoch from one generator seeded by ``(seed, epoch, rank)`` consumed step after
step; the draws (not their distribution) differ from theirs, so a checkpoint trained before (the
shipped ones) is not reproduced bit for bit by a new run with the same seed.

Memory: workers are forked (Linux), so they share the standardised cube of an in-memory source
copy-on-write: it is only read, so its pages are not copied (a few pages of Python objects are). An
out-of-core source (its cube read through a block cache) is rebuilt in each worker with its own file
reader and its own :class:`~geoapp.data.tile_cache.BlockCache` of ``cache_mb``: the tiles take up to
``(workers + 1) x cache_mb`` MB in all (the main process keeps its own for validation). Each worker
holds ``prefetch_factor`` batches in flight: with context, ``4 x B x T x C x t^2 x 4`` bytes a batch
(4.6 MB for B = 32, T = 7, C = 9, t = 16; 45 MB at t = 50).
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, Sampler, get_worker_info

from geoapp.data.args import as_int, given
from geoapp.errors import InputError
from geoapp.samplers import QuadrupletSampler
from geoapp.training.augment import augment_batch, augment_rng, check_augment
from geoapp.training.distributed import DistContext, batches_per_epoch, epoch_order
from geoapp.training.yield_data import TEMPORAL_NEIGHBOURS, Examples, YieldTileSource

__all__ = [
    "TILE_KEYS",
    "YieldBatches",
    "StepKeys",
    "batch_loader",
    "auto_workers",
    "resolve_workers",
    "close_loader",
    "MAX_AUTO_WORKERS",
]

MAX_AUTO_WORKERS = 8
"""Most worker processes the automatic choice starts on a GPU machine (per process of a torchrun job)."""

TILE_KEYS: tuple[str, ...] = ("A", "SN", "SD", "TN")
"""The batch entries that hold tiles (B, T, C, t, t): the anchors and their context tiles."""

PREFETCH_FACTOR = 4
"""Batches each worker prepares ahead of the training loop."""


def _usable_cpus() -> int:
    """CPUs this process may run on (its affinity mask where the OS has one)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def auto_workers(device_type: str) -> int:
    """The worker processes of ``loader_workers`` = None (auto) on a device type (``"cuda"`` or ``"cpu"``).

    0 on the CPU, where workers would compete with the model's threads for the same cores; on CUDA
    ``min(8, CPUs - 1)``, the CPUs shared among the processes of a torchrun job on this machine
    (``LOCAL_WORLD_SIZE``), one CPU left for each process's training loop.
    """
    if device_type != "cuda":
        return 0
    per_process = _usable_cpus() // max(1, int(os.environ.get("LOCAL_WORLD_SIZE", "1") or 1))
    return max(0, min(MAX_AUTO_WORKERS, per_process - 1))


def resolve_workers(workers: int | None, device_type: str) -> int:
    """``workers`` as a number of worker processes: None is :func:`auto_workers`.

    Raises:
        InputError: ``workers`` is not None nor a whole number >= 0.
    """
    if workers is None:
        return auto_workers(device_type)
    return as_int(workers, "loader_workers", minimum=0)


class YieldBatches(Dataset):
    """The training batches of an epoch, keyed by ``(epoch, step)`` (see the module docstring).

    Args:
        source: the tile source (standardised cube in memory or out of core).
        ex: the training examples.
        batch: examples per step in this process (the global batch divided among the ranks).
        seed: the run's seed (the shuffle and the context draws).
        ctx: the process's place in the job (its rank and the world size shard the examples).
        sampler: the quadruplet sampler for models with context; None for the anchors alone.
        temporal_neighbour: ``"month"`` or ``"year"`` (:meth:`YieldTileSource.context_tiles`).
        augment: ``"none"``, or ``"dihedral"``: each example's tiles (anchor and context alike) turned by
            one symmetry of the square drawn from the step's key (:mod:`geoapp.training.augment`).

    Raises:
        InputError: an argument of the wrong type or value.
    """

    def __init__(
        self,
        source: YieldTileSource,
        ex: Examples,
        batch: int,
        seed: int,
        ctx: DistContext,
        sampler: QuadrupletSampler | None = None,
        temporal_neighbour: str = "month",
        augment: str = "none",
    ) -> None:
        if not isinstance(source, YieldTileSource):
            raise InputError(f"source must be a YieldTileSource, got {given(source)}")
        if not isinstance(ex, Examples):
            raise InputError(f"ex must be Examples from YieldTileSource.examples(), got {given(ex)}")
        if sampler is not None and not isinstance(sampler, QuadrupletSampler):
            raise InputError(f"sampler must be a geoapp.samplers.QuadrupletSampler or None, got {given(sampler)}")
        if temporal_neighbour not in TEMPORAL_NEIGHBOURS:
            raise InputError(f"temporal_neighbour must be one of {list(TEMPORAL_NEIGHBOURS)!r}, got {given(temporal_neighbour)}")
        self.source, self.ex, self.sampler, self.ctx = source, ex, sampler, ctx
        self.batch = as_int(batch, "batch", minimum=2)
        self.seed = as_int(seed, "seed", minimum=0)
        self.temporal_neighbour = temporal_neighbour
        self.augment = check_augment(augment)
        self.steps = batches_per_epoch(len(epoch_order(len(ex), 0, self.seed, ctx)), self.batch)
        self._order: tuple[int, np.ndarray] | None = None  # (epoch, shuffled positions) of the last epoch asked

    def __len__(self) -> int:
        """Steps of an epoch."""
        return self.steps

    def indices(self, epoch: int, step: int) -> np.ndarray:
        """Positions in ``ex`` (B,) of the examples of ``step`` in ``epoch``."""
        if self._order is None or self._order[0] != epoch:
            self._order = (epoch, epoch_order(len(self.ex), epoch, self.seed, self.ctx))
        return self._order[1][step * self.batch : (step + 1) * self.batch]

    def __getitem__(self, key: tuple[int, int]) -> dict[str, torch.Tensor]:
        """The batch of step ``key = (epoch, step)``: tiles, ``target``, ``index`` and ``county`` (module docstring)."""
        epoch, step = key
        if not 0 <= step < self.steps:
            raise InputError(f"step {step!r} is outside 0..{self.steps - 1} (the steps of an epoch)")
        idx = self.indices(epoch, step)
        if self.sampler is not None:
            rng = np.random.default_rng([self.seed, epoch, self.ctx.rank, step])  # the determinism rule
            out = self.source.context_tiles(self.ex, idx, self.sampler, generator=rng, temporal_neighbour=self.temporal_neighbour)
        else:
            out = {"A": self.source.anchor_tiles(self.ex, idx)}
        if self.augment == "dihedral":
            out = augment_batch(out, TILE_KEYS, augment_rng(self.seed, epoch, self.ctx.rank, step))
        out["target"] = torch.from_numpy(self.ex.target[idx])
        out["index"] = torch.from_numpy(idx)
        out["county"] = torch.from_numpy(np.asarray(self.ex.county[idx], dtype=np.int64))
        return out

    def in_worker(self) -> None:
        """Prepare this (forked) copy for a worker process: an out-of-core source gets its own reader and cache.

        An in-memory source is kept as it is: its cube is shared with the main process copy-on-write.
        """
        src = self.source
        if src.cube is None:
            self.source = YieldTileSource(
                src.ds, None, bands=src.bands, stats=(src.mean, src.std), years=src.years, cache_mb=src.cache_mb
            )


class StepKeys(Sampler):
    """The keys ``(epoch, step)`` of one epoch, in step order; :meth:`set_epoch` before each epoch.

    It runs in the main process, so a persistent worker never needs to be told the epoch.
    """

    def __init__(self, steps: int) -> None:
        self.steps = as_int(steps, "steps", minimum=0)
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        """Make the next iteration yield the keys of ``epoch``."""
        self.epoch = as_int(epoch, "epoch", minimum=0)

    def __len__(self) -> int:
        return self.steps

    def __iter__(self) -> Iterator[tuple[int, int]]:
        return iter([(self.epoch, s) for s in range(self.steps)])


def _init_worker(worker_id: int) -> None:
    """One torch thread per worker (workers must not oversubscribe the CPUs); the worker's own tile reader."""
    torch.set_num_threads(1)
    info = get_worker_info()
    if info is not None and isinstance(info.dataset, YieldBatches):
        info.dataset.in_worker()


def batch_loader(batches: YieldBatches, workers: int, pin_memory: bool) -> tuple[DataLoader, StepKeys]:
    """A DataLoader over ``batches`` and its :class:`StepKeys` (``set_epoch`` it before each epoch).

    Args:
        batches: the batches of the run.
        workers: worker processes (0: built in the calling process, one after the other).
        pin_memory: put each batch in pinned (page-locked) memory: on CUDA, for non-blocking copies.

    Raises:
        InputError: ``batches`` is not a :class:`YieldBatches`, ``workers`` not a whole number >= 0.
    """
    if not isinstance(batches, YieldBatches):
        raise InputError(f"batches must be YieldBatches, got {given(batches)}")
    workers = as_int(workers, "workers", minimum=0)
    keys = StepKeys(len(batches))
    extra = {}
    if workers > 0:
        extra = {
            "prefetch_factor": PREFETCH_FACTOR,
            "persistent_workers": True,
            "worker_init_fn": _init_worker,
            "multiprocessing_context": "fork" if "fork" in _start_methods() else None,
        }
    loader = DataLoader(batches, batch_size=None, sampler=keys, num_workers=workers, pin_memory=bool(pin_memory), **extra)
    return loader, keys


def _start_methods() -> list[str]:
    import multiprocessing

    return multiprocessing.get_all_start_methods()


def close_loader(loader: DataLoader) -> None:
    """Stop the loader's persistent worker processes now (rather than when it is garbage collected)."""
    iterator = getattr(loader, "_iterator", None)
    shutdown = getattr(iterator, "_shutdown_workers", None)
    if shutdown is not None:
        shutdown()
    loader._iterator = None
