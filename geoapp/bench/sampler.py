"""Quadruplet-sampler benchmark: quadruplets per second on the demo grid geometry.

On the demo grid (the study area at 4 km, 420 x 542 px; 16 px tiles; the paper's r_n = 25 km and
r_d = 100 km, i.e. 6 and 25 px) with ``n`` anchors drawn uniformly over the whole grid (edges and
corners included, a harsher case than county crop centres) and random year indices, it times:

- ``offsets``: :meth:`QuadrupletSampler.sample` alone (A, SN, SD origins and TN years), no mask;
- ``offsets_masked``: the same with a valid-pixel mask that rejects about 30% of the grid in 8 px blocks;
- ``gather``: :func:`gather_tiles` of the A, SN, SD and TN tiles, each (n, 7, 9, 16, 16) float32, from one
  (7, 9, 420, 542) float32 array (months, bands, rows, cols; TN is cut from the same array, standing in
  for the previous year's);
- ``quadruplets``: sampling plus the four gathers, end to end.

Timings are the best of ``repeats`` runs after one warm-up run, on the calling thread. The sampler must
be at least 10x faster than training consumes examples; compare ``quadruplets_per_s`` with the trainer's
samples/s on the same machine.
"""

from __future__ import annotations

import platform
import time
from collections.abc import Callable

import numpy as np

from geoapp.data.bands import BANDS, MONTHS
from geoapp.data.simulate import SIMULATION_CONFIGS
from geoapp.data.study_area import study_area_grid
from geoapp.samplers.quadruplet import QuadrupletSampler, gather_tiles

__all__ = ["run_sampler_benchmark"]


def _best_seconds(fn: Callable[[], object], repeats: int) -> float:
    fn()  # warm-up
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def run_sampler_benchmark(n: int = 4096, repeats: int = 5, seed: int = 0) -> dict:
    """Time the quadruplet sampler and the tile gather on the demo grid; print and return the figures.

    Args:
        n: quadruplets per batch (the paper's batch is far smaller; 4096 shows the vectorised rate).
        repeats: timed runs per figure (the best counts), after one warm-up run.
        seed: seed of the anchors, the mask, the array and the sampler.

    Returns:
        A JSON-serialisable dict: the geometry, ``offsets_per_s``, ``offsets_masked_per_s`` (with the
        fallbacks of one masked batch), ``gather_tiles_per_s``, ``quadruplets_per_s`` (sampling plus
        four gathers) and seconds per batch, all in quadruplets (or tiles) per second.
    """
    cfg = SIMULATION_CONFIGS["demo"]
    grid = study_area_grid(cfg.resolution_m)
    h, w = grid.shape
    tile = cfg.tile_px
    n_years = len(cfg.years)
    rng = np.random.default_rng(seed)
    anchors = np.stack([rng.integers(0, h, n), rng.integers(0, w, n)], axis=1)
    years = rng.integers(0, n_years, n)

    sampler = QuadrupletSampler(grid, tile, n_years=n_years, generator=seed)
    t_offsets = _best_seconds(lambda: sampler.sample(anchors, years), repeats)

    blocks = rng.random((h // 8 + 1, w // 8 + 1)) >= 0.3
    mask = np.kron(blocks, np.ones((8, 8), dtype=bool))[:h, :w]
    masked = QuadrupletSampler(grid, tile, valid_mask=mask, n_years=n_years, generator=seed)
    t_masked = _best_seconds(lambda: masked.sample(anchors, years), repeats)
    q = masked.sample(anchors, years)

    array = rng.random((len(MONTHS), len(BANDS), h, w), dtype=np.float32)

    def gather_all(quad) -> None:
        for origins in (quad.anchor, quad.sn, quad.sd, quad.anchor):  # A, SN, SD, TN
            gather_tiles(array, origins, tile)

    q0 = sampler.sample(anchors, years)
    t_gather = _best_seconds(lambda: gather_all(q0), repeats)
    t_total = _best_seconds(lambda: gather_all(sampler.sample(anchors, years)), repeats)
    tile_bytes = len(MONTHS) * len(BANDS) * tile * tile * 4

    result = {
        "machine": f"{platform.machine()}, {platform.processor() or 'cpu'}, calling thread",
        "grid_px": [h, w],
        "resolution_m": grid.resolution_m,
        "tile_px": tile,
        "r_n_px": sampler.r_n_px,
        "r_d_px": sampler.r_d_px,
        "n": n,
        "tile_shape": [n, len(MONTHS), len(BANDS), tile, tile],
        "offsets_per_s": n / t_offsets,
        "offsets_masked_per_s": n / t_masked,
        "masked_invalid_fraction": float(1.0 - mask.mean()),
        "masked_fallbacks": q.n_fallback,
        "gather_tiles_per_s": 4 * n / t_gather,
        "gather_gb_per_s": 4 * n * tile_bytes / t_gather / 1e9,
        "quadruplets_per_s": n / t_total,
        "seconds_per_batch": {"offsets": t_offsets, "offsets_masked": t_masked, "gather_4_tiles": t_gather, "total": t_total},
    }
    print(
        f"quadruplet sampler, demo grid {h} x {w} px at {grid.resolution_m / 1000:g} km, tile {tile} px, "
        f"r_n {sampler.r_n_px} px, r_d {sampler.r_d_px} px, N = {n} (best of {repeats}):"
    )
    print(f"  offsets (A, SN, SD, TN)            {result['offsets_per_s']:>14,.0f} quadruplets/s")
    print(
        f"  offsets, {100 * result['masked_invalid_fraction']:.0f}% of pixels masked      "
        f"{result['offsets_masked_per_s']:>14,.0f} quadruplets/s (fallbacks {q.n_fallback})"
    )
    print(
        f"  gather (N, 7, 9, {tile}, {tile}) float32 tiles {result['gather_tiles_per_s']:>14,.0f} tiles/s "
        f"({result['gather_gb_per_s']:.2f} GB/s)"
    )
    print(f"  sample + gather A, SN, SD, TN      {result['quadruplets_per_s']:>14,.0f} quadruplets/s")
    return result
