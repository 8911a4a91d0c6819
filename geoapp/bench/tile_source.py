"""Benchmark of crop-yield training's data side: examples per second through the tile cache vs. in memory.

On a dataset (default: the embedded demo) it builds three tile sources over the same years with the
same statistics and, for each, times the set-up and ``steps`` SEMI-HA training steps on CPU (context
tiles A, SN, SD, TN cut for a batch, forward, loss, backward, AdamW step; the demo model size, the
default batch of 32), all in one run:

- ``in memory, as before``: the whole cube read at once (``as_array(...).values``), standardised and
  held as one array, tiles cut by :func:`geoapp.samplers.gather_tiles` (what training did before
  the tile cache);
- ``tile cache, all resident``: :class:`~geoapp.training.yield_data.YieldTileSource` with the default
  cache, which holds the demo cube: read a year of a band at a time, tiles cut the same way;
- ``tile cache, out of core``: the same source with a cache of ``small_cache_mb``, tiles read through
  the LRU block cache (blocks aligned with the cube's chunks).

The sources take turns, two rounds of training (best counts) and three of tile cuts alone
(quadruplets per second, no model; new draws each round), so a busy machine slows each alike;
ratios are to the first. All sources must give the same tiles (checked on the first batch).
"""

from __future__ import annotations

import math
import time
from pathlib import Path

import numpy as np
import torch

from geoapp.data.cube import as_array
from geoapp.data.cube_store import chunk_px_of
from geoapp.data.dataset import default_dataset_path, load_dataset
from geoapp.models.yield_models import YieldModel, yield_model_config
from geoapp.samplers import QuadrupletSampler
from geoapp.training.yield_data import YieldTileSource

__all__ = ["run_tile_source_benchmark"]


def _legacy_cube(source: YieldTileSource) -> np.ndarray:
    """The standardised loaded years read the way training did before the tile cache (one whole-cube read)."""
    cube = as_array(source.ds.cube, bands=source.bands, years=source.years).values.astype(np.float32, copy=False)
    cube = (cube - source.mean[None, :, :, None, None]) / source.std[None, :, :, None, None]
    cube[~np.isfinite(cube)] = 0.0
    return np.ascontiguousarray(cube)


def run_tile_source_benchmark(
    dataset: str | Path | None = None, steps: int = 15, batch: int = 32, small_cache_mb: float = 256.0, seed: int = 0
) -> dict[str, object]:
    """Time set-up, training steps and tile cuts of the three tile sources; print and return the figures."""
    torch.manual_seed(seed)
    torch.set_num_threads(max(1, torch.get_num_threads()))
    ds = load_dataset(dataset or default_dataset_path("demo"))
    train_years = ds.years[:-3]
    t0 = time.perf_counter()
    resident = YieldTileSource(ds, train_years)
    t_resident = time.perf_counter() - t0
    stats = (resident.mean, resident.std)

    t0 = time.perf_counter()
    legacy = YieldTileSource(ds, None, stats=stats, cache_mb=1e-3)  # only its bookkeeping is used
    legacy.cache = None
    legacy.cube = _legacy_cube(legacy)
    t_legacy = time.perf_counter() - t0

    t0 = time.perf_counter()
    out_of_core = YieldTileSource(ds, None, stats=stats, cache_mb=small_cache_mb)
    t_ooc = time.perf_counter() - t0
    sources = {
        "in memory, as before": (legacy, t_legacy),
        "tile cache, all resident": (resident, t_resident),
        f"tile cache, out of core ({small_cache_mb:g} MB)": (out_of_core, t_ooc),
    }

    ex = resident.examples(train_years)
    order = np.random.default_rng(seed).permutation(len(ex))
    batches = [order[i * batch : (i + 1) * batch] for i in range(steps)]
    first = {
        name: s.context_tiles(ex, batches[0], QuadrupletSampler.from_dataset(ds, generator=seed))
        for name, (s, _) in sources.items()
    }
    ref = next(iter(first.values()))
    for name, tiles in first.items():
        for k in ("A", "SN", "SD", "TN"):
            if not torch.equal(tiles[k], ref[k]):
                raise AssertionError(f"{name}: tiles {k} differ from the in-memory ones")

    mcfg = yield_model_config("semi-ha", "demo", in_channels=len(resident.bands), target_mean=float(ex.target.mean()),
                              target_std=float(ex.target.std()))  # fmt: skip

    def train(source: YieldTileSource, steps_of: list[np.ndarray]) -> float:
        """Seconds of training steps on ``steps_of`` batches, from the same initial weights."""
        torch.manual_seed(seed)
        model = YieldModel(mcfg)
        opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
        sampler = QuadrupletSampler.from_dataset(ds, generator=seed)
        rng = np.random.default_rng(seed)
        model.train()
        t0 = time.perf_counter()
        for idx in steps_of:
            tiles = source.context_tiles(ex, idx, sampler, generator=rng)
            q = model.forward_quadruplet(tiles["A"], tiles["SN"], tiles["SD"], tiles["TN"])
            terms = model.loss(q.prediction, torch.from_numpy(ex.target[idx]), q.context)
            opt.zero_grad(set_to_none=True)
            terms["total"].backward()
            opt.step()
        return time.perf_counter() - t0

    def cut(source: YieldTileSource, rep: int) -> float:
        """Seconds to cut the context tiles of every batch (new draws per ``rep``)."""
        sampler = QuadrupletSampler.from_dataset(ds, generator=seed + 1 + rep)
        rng = np.random.default_rng(seed + 1 + rep)
        t0 = time.perf_counter()
        for idx in batches:
            source.context_tiles(ex, idx, sampler, generator=rng)
        return time.perf_counter() - t0

    # The sources take turns (two rounds, the best counts), so a busy machine slows each alike; the
    # out-of-core cache starts cold, as a run does.
    train(legacy, batches[:1])  # warm-up of torch's first steps (not timed)
    train_s = {name: math.inf for name in sources}
    tiles_s = {name: math.inf for name in sources}
    for _ in range(2):
        for name, (source, _) in sources.items():
            train_s[name] = min(train_s[name], train(source, batches))
    for rep in range(3):
        for name, (source, _) in sources.items():
            tiles_s[name] = min(tiles_s[name], cut(source, rep))
    rows = {}
    for name, (source, setup) in sources.items():
        rows[name] = {
            "setup_s": round(setup, 2),
            "train_examples_per_s": round(steps * batch / train_s[name], 1),
            "tile_quadruplets_per_s": round(steps * batch / tiles_s[name], 1),
        }
        if source.cache is not None:
            c = source.cache
            rows[name].update(cache_hit_rate=round(c.hits / max(1, c.hits + c.misses), 3), cache_mb=round(c.nbytes / 1e6))
    base = rows["in memory, as before"]
    for row in rows.values():
        row["train_ratio"] = round(row["train_examples_per_s"] / base["train_examples_per_s"], 3)
        row["tile_ratio"] = round(row["tile_quadruplets_per_s"] / base["tile_quadruplets_per_s"], 3)
    chunk = chunk_px_of(ds.cube)
    print(
        f"crop-yield training data side on {ds.name} ({ds.grid.height} x {ds.grid.width} px, chunks {chunk[0]} x {chunk[1]} px), "
        f"SEMI-HA demo model on CPU, {steps} steps of {batch} examples:"
    )
    print(f"  {'source':<36} {'set-up s':>8} {'train ex/s':>10} {'ratio':>6} {'tiles quad/s':>12} {'ratio':>6}")
    for name, r in rows.items():
        print(
            f"  {name:<36} {r['setup_s']:>8} {r['train_examples_per_s']:>10} {r['train_ratio']:>6} "
            f"{r['tile_quadruplets_per_s']:>12} {r['tile_ratio']:>6}"
        )
    return {"dataset": str(ds.root), "chunk_px": list(chunk), "steps": steps, "batch": batch, "sources": rows}
