"""Tiles read out of core through the block cache equal tiles read from memory; a tile loads only its blocks."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from geoapp.data.dataset import load_dataset, save_simulated
from geoapp.errors import InputError
from geoapp.samplers import QuadrupletSampler
from geoapp.training.yield_data import CACHE_ENV, DEFAULT_TILE_CACHE_MB, YieldTileSource, tile_cache_mb

TRAIN = [2012, 2013, 2014]


@pytest.fixture(scope="module")
def holey(tiny_sim, tmp_path_factory):
    """The tiny dataset with missing pixels: 5% of NDVI values and a strip of the sand band."""
    cube = tiny_sim.cube.copy(deep=True)
    rng = np.random.default_rng(0)
    ndvi = cube["ndvi"].values
    ndvi[rng.random(ndvi.shape) < 0.05] = np.nan
    cube["sand"].values[:5, :] = np.nan
    folder = save_simulated(dataclasses.replace(tiny_sim, cube=cube), tmp_path_factory.mktemp("holey") / "holey")
    return load_dataset(folder)


def test_out_of_core_tiles_equal_tiles_from_memory(holey):
    memory = YieldTileSource(holey, TRAIN, cache_mb=10_000)
    out_of_core = YieldTileSource(holey, TRAIN, cache_mb=0.5)  # under one block: every new block evicts the last
    assert memory.cube is not None and memory.cache is None
    assert out_of_core.cube is None and out_of_core.cache is not None
    np.testing.assert_array_equal(out_of_core.mean, memory.mean)
    assert out_of_core.n_missing == memory.n_missing > 0

    ex = memory.examples([2013, 2015, 2016])
    idx = np.arange(len(ex))
    torch.testing.assert_close(out_of_core.anchor_tiles(ex, idx), memory.anchor_tiles(ex, idx), rtol=0, atol=0)
    torch.testing.assert_close(
        out_of_core.anchor_tiles(ex, idx[:50], mask_group="VI"),
        memory.anchor_tiles(ex, idx[:50], mask_group="VI"),
        rtol=0,
        atol=0,
    )
    for tn in ("month", "year"):
        a = memory.context_tiles(ex, idx[:64], QuadrupletSampler.from_dataset(holey, generator=3), temporal_neighbour=tn)
        b = out_of_core.context_tiles(ex, idx[:64], QuadrupletSampler.from_dataset(holey, generator=3), temporal_neighbour=tn)
        for key in a:
            torch.testing.assert_close(b[key], a[key], rtol=0, atol=0)
    cache = out_of_core.cache
    assert cache.nbytes <= cache.block_px**2 * 7 * 9 * 4  # one block at most
    assert cache.misses > 4 * 3  # blocks were dropped and read again


def test_a_tile_loads_only_the_blocks_under_it(holey):
    source = YieldTileSource(holey, TRAIN, cache_mb=0.5)
    cache = source.cache
    assert cache.block_px == 64 and min(source.grid_shape) > 64 + source.tile_px
    loads: list[tuple[int, slice, slice]] = []
    read = cache._load

    def counting(lead: int, rows: slice, cols: slice) -> np.ndarray:
        loads.append((lead, rows, cols))
        return read(lead, rows, cols)

    cache._load = counting
    year = np.array([holey.years.index(2013)])
    source.tiles(np.array([[10, 20]]), year)  # inside block (0, 0)
    assert [(r.start, r.stop, c.start, c.stop) for _, r, c in loads] == [(0, 64, 0, 64)]
    loads.clear()
    source.tiles(np.array([[60, 60]]), year)  # straddles four blocks; (0, 0) was the last one read
    assert sorted((r.start, c.start) for _, r, c in loads) == [(0, 64), (64, 0), (64, 64)]


def test_tile_cache_size_from_the_environment(monkeypatch):
    monkeypatch.delenv(CACHE_ENV, raising=False)
    assert tile_cache_mb() == DEFAULT_TILE_CACHE_MB
    monkeypatch.setenv(CACHE_ENV, "512")
    assert tile_cache_mb() == 512.0
    for bad in ("lots", "-1", "0", "nan"):
        monkeypatch.setenv(CACHE_ENV, bad)
        with pytest.raises(InputError, match=rf"{CACHE_ENV} must be a positive number of MB such as 4096, got '{bad}'"):
            tile_cache_mb()


def test_tiles_off_the_grid_are_refused(holey):
    source = YieldTileSource(holey, TRAIN, cache_mb=0.5)
    with pytest.raises(InputError, match=r"tile #0 at origin \(-1, 0\) \(lead 0\) leaves the 116x124 grid"):
        source.tiles(np.array([[-1, 0]]), np.array([0]))
