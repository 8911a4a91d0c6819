"""The batch loader of the attention trainers: same batches with and without worker processes."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from geoapp.data.dataset import load_dataset
from geoapp.errors import InputError
from geoapp.samplers import QuadrupletSampler
from geoapp.training.checkpoint import load_checkpoint
from geoapp.training.distributed import init_distributed
from geoapp.training.yield_config import YieldTrainConfig
from geoapp.training.yield_data import YieldTileSource
from geoapp.training.yield_loader import YieldBatches, auto_workers, batch_loader, close_loader, resolve_workers
from geoapp.training.yield_trainer import train_yield

from .test_yield_trainer import _cfg

TRAIN_YEARS = [2012, 2013, 2014]


@pytest.fixture(scope="module")
def ds(tiny_dataset_path):
    return load_dataset(tiny_dataset_path)


def _batches(ds, cache_mb=None, context=True, temporal_neighbour="month") -> YieldBatches:
    source = YieldTileSource(ds, TRAIN_YEARS, cache_mb=cache_mb)
    ex = source.examples(TRAIN_YEARS)
    sampler = QuadrupletSampler.from_dataset(ds, r_n=24.0, r_d=64.0, generator=0) if context else None
    ctx = init_distributed("cpu")
    return YieldBatches(source, ex, batch=16, seed=3, ctx=ctx, sampler=sampler, temporal_neighbour=temporal_neighbour)


def _epochs(batches: YieldBatches, workers: int, epochs=(0, 1)) -> list[dict[str, torch.Tensor]]:
    loader, keys = batch_loader(batches, workers, pin_memory=False)
    out = []
    try:
        for epoch in epochs:
            keys.set_epoch(epoch)
            out.extend(loader)
    finally:
        close_loader(loader)
    return out


def _assert_same(a: list[dict[str, torch.Tensor]], b: list[dict[str, torch.Tensor]]) -> None:
    assert len(a) == len(b) > 0
    for x, y in zip(a, b, strict=True):
        assert set(x) == set(y)
        for k in x:
            assert torch.equal(x[k], y[k]), k


def test_batches_do_not_depend_on_the_number_of_workers(ds):
    batches = _batches(ds)
    serial, parallel = _epochs(batches, 0), _epochs(batches, 2)
    _assert_same(serial, parallel)
    assert set(serial[0]) == {"A", "SN", "SD", "TN", "tn_valid", "target", "index", "county"}
    for item in serial:  # the examples' county rows (what semi-ha-loc looks its location embedding up by)
        np.testing.assert_array_equal(item["county"].numpy(), batches.ex.county[item["index"].numpy()])
    b = batches.batch
    assert serial[0]["A"].shape == (b, 7, 9, ds.tile_px, ds.tile_px) and serial[0]["A"].dtype == torch.float32
    steps = len(batches)
    # each epoch covers its shuffled examples once, and the two epochs differ in order and in context draws
    first = torch.cat([s["index"] for s in serial[:steps]]).numpy()
    assert sorted(first) == sorted(torch.cat([s["index"] for s in serial[steps:]]).numpy())
    assert not np.array_equal(first, torch.cat([s["index"] for s in serial[steps:]]).numpy())
    for s in serial:
        np.testing.assert_array_equal(s["target"].numpy(), batches.ex.target[s["index"].numpy()])
        np.testing.assert_array_equal(s["A"].numpy(), batches.source.anchor_tiles(batches.ex, s["index"].numpy()).numpy())


def test_a_step_draws_from_its_own_seed(ds):
    """The context draws of step s of epoch e are those of a generator seeded (seed, epoch, rank, step)."""
    batches = _batches(ds)
    got = batches[(1, 2)]
    idx = batches.indices(1, 2)
    rng = np.random.default_rng([batches.seed, 1, 0, 2])
    want = batches.source.context_tiles(batches.ex, idx, batches.sampler, generator=rng)
    for k in ("A", "SN", "SD", "TN", "tn_valid"):
        assert torch.equal(got[k], want[k]), k
    # asked again, out of order, the step gives the same batch (a resumed run replays it)
    batches[(0, 0)]
    assert torch.equal(batches[(1, 2)]["SD"], got["SD"])


def test_anchor_only_batches(ds):
    batches = _batches(ds, context=False)
    serial, parallel = _epochs(batches, 0, epochs=(0,)), _epochs(batches, 2, epochs=(0,))
    _assert_same(serial, parallel)
    assert set(serial[0]) == {"A", "target", "index", "county"}


@pytest.mark.slow  # worker start-up and block reads: about 5 s on 2 shared cores
def test_out_of_core_tiles_through_workers_equal_the_in_memory_ones(ds):
    in_memory = _batches(ds, temporal_neighbour="year")
    quarter_mb = in_memory.source.cube.nbytes / 4e6  # a cache that holds a quarter of the cube
    out_of_core = _batches(ds, cache_mb=quarter_mb, temporal_neighbour="year")
    assert in_memory.source.cube is not None and out_of_core.source.cube is None
    _assert_same(_epochs(in_memory, 0, epochs=(1,)), _epochs(out_of_core, 2, epochs=(1,)))


def test_loader_refuses_bad_arguments(ds):
    batches = _batches(ds)
    with pytest.raises(InputError, match="workers"):
        batch_loader(batches, -1, pin_memory=False)
    with pytest.raises(InputError, match="batches"):
        batch_loader([1, 2], 0, pin_memory=False)
    with pytest.raises(InputError, match="step"):
        batches[(0, len(batches))]
    with pytest.raises(InputError, match="sampler"):
        YieldBatches(batches.source, batches.ex, 16, 0, init_distributed("cpu"), sampler="near")


def test_workers_default_per_device(monkeypatch):
    assert auto_workers("cpu") == 0 and resolve_workers(None, "cpu") == 0
    monkeypatch.setattr("geoapp.training.yield_loader._usable_cpus", lambda: 16)
    assert auto_workers("cuda") == 8
    monkeypatch.setattr("geoapp.training.yield_loader._usable_cpus", lambda: 4)
    assert auto_workers("cuda") == 3
    monkeypatch.setattr("geoapp.training.yield_loader._usable_cpus", lambda: 1)
    assert auto_workers("cuda") == 0
    assert resolve_workers(2, "cpu") == 2


@pytest.mark.parametrize("bad", [-1, 1.5, "two", True])
def test_config_refuses_bad_worker_counts(bad):
    with pytest.raises(InputError, match="loader_workers"):
        YieldTrainConfig(loader_workers=bad)


def test_training_with_workers_records_them(ds, tmp_path):
    cfg = dataclasses.replace(_cfg("semi-ha", epochs=1), loader_workers=2)
    best = train_yield(cfg, ds, tmp_path, progress=False)
    card = load_checkpoint(best)[1]
    assert card["loader_workers"] == 2 and card["train_config"]["loader_workers"] == 2
    assert "loader_workers" in card["applies"]
    assert np.isfinite(card["metrics"]["val_rmse"])
