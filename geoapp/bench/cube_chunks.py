"""Benchmark of the cube's chunk size: file size, and the cost of a tile read, per chunk side.

On a grid of the ``paper`` config's size (the 13-state study area at 1 km) it writes one year of one
dynamic band (7 monthly slots of a smooth random field plus noise, int16-packed like every band)
with :class:`~geoapp.data.cube_store.CubeWriter` at several chunk sides, the whole grid included
(how cubes were stored before), then reads ``n_tiles`` tiles of ``tile_px`` at random places, all
months each, with HDF5's chunk cache off (a tile of one of the paper cube's 16 x 7 slots rarely
finds its chunks cached), after one read that loads the file's metadata, and reports per chunk side:

- ``mb``: the file's size;
- ``bytes_per_tile``: bytes the process read from the file per tile (``rchar`` of ``/proc/self/io``,
  Linux): the compressed chunks the tile overlaps;
- ``ms_per_tile``: wall time per tile (read and decompress) on the calling thread (best of ``repeats``).
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import netCDF4
import numpy as np

from geoapp.data.bands import MONTHS
from geoapp.data.cube import open_cube
from geoapp.data.cube_store import CubeWriter
from geoapp.data.fields import random_fields
from geoapp.data.simulate import SIMULATION_CONFIGS

__all__ = ["run_chunk_benchmark", "read_bytes"]


def read_bytes() -> int:
    """Bytes this process has read through read() calls so far (``rchar``), or -1 off Linux."""
    try:
        for line in Path("/proc/self/io").read_text().splitlines():
            if line.startswith("rchar:"):
                return int(line.split()[1])
    except OSError:
        pass
    return -1


def run_chunk_benchmark(
    chunk_sides: tuple[int, ...] = (32, 50, 64, 128, 0), n_tiles: int = 100, repeats: int = 3, seed: int = 0
) -> list[dict[str, float]]:
    """Write one year of one band at each chunk side (0: the whole grid) and time tile reads; print a table."""
    from geoapp.data.study_area import study_area_grid

    cfg = SIMULATION_CONFIGS["paper"]
    grid = study_area_grid(cfg.resolution_m, cfg.states)
    h, w = grid.shape
    tile = cfg.tile_px
    rng = np.random.default_rng(seed)
    field = random_fields(grid.x, grid.y, 60.0, len(MONTHS), rng)
    values = (0.5 + 0.15 * field + rng.normal(0, 0.02, field.shape)).astype(np.float32)  # NDVI-like
    del field
    origins = np.stack([rng.integers(0, h - tile, n_tiles), rng.integers(0, w - tile, n_tiles)], axis=1)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for side in chunk_sides:
            path = Path(tmp) / f"cube_{side}.nc"
            with CubeWriter(path, grid, [cfg.first_year], "chunk benchmark", simulated=True, chunk_px=side or max(h, w),
                            require_all=False) as writer:  # fmt: skip
                writer.write_year("ndvi", cfg.first_year, values)
            open_cube(path).close()  # a valid cube
            best, per_tile_bytes = float("inf"), 0.0
            for _ in range(repeats):
                with netCDF4.Dataset(path) as nc:
                    var = nc["ndvi"]
                    var.set_var_chunk_cache(size=0, nelems=0, preemption=0.0)
                    var[0, :, :tile, :tile]  # the chunk index and metadata
                    start_bytes, t0 = read_bytes(), time.perf_counter()
                    for r, c in origins.tolist():
                        var[0, :, r : r + tile, c : c + tile]
                    best = min(best, time.perf_counter() - t0)
                    per_tile_bytes = (read_bytes() - start_bytes) / n_tiles
            rows.append(
                {
                    "chunk_px": side or f"whole grid ({h} x {w})",
                    "mb": round(path.stat().st_size / 1e6, 1),
                    "bytes_per_tile": round(per_tile_bytes),
                    "ms_per_tile": round(1000 * best / n_tiles, 3),
                }
            )
    print(f"tile reads ({tile} x {tile} px, 7 months, one band) from one year of a {h} x {w} grid, {n_tiles} tiles:")
    print(f"  {'chunk':>26} {'file MB':>8} {'bytes/tile':>11} {'ms/tile':>8}")
    for r in rows:
        print(f"  {r['chunk_px']!s:>26} {r['mb']:>8} {r['bytes_per_tile']:>11,} {r['ms_per_tile']:>8}")
    return rows
