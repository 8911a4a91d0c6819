"""Benchmark of the embedded dataset build: wall time, peak resident memory and the cube's size.

Each repeat builds the dataset in a fresh Python process (so peak memory is that build's alone) into
a temporary folder (or ``out``), and reads the child's peak RSS from ``getrusage(RUSAGE_CHILDREN)``.
The child's progress bar goes to this process's stderr, so a long build (the ``paper`` config, a
1 km grid) can be followed in a log.
"""

from __future__ import annotations

import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

__all__ = ["run_data_benchmark"]

_CHILD = (
    "import sys, time; t=time.perf_counter();"
    "from geoapp.data.dataset import build_default_dataset;"
    "build_default_dataset(sys.argv[1], progress=sys.argv[3] == '1', out_dir=sys.argv[2], force=True,"
    " scheduler=sys.argv[4] or None, memory_gb=float(sys.argv[5]));"
    "print(time.perf_counter()-t)"
)

BUDGETS = {
    "demo": "demo build: about 30 s and at most 4 GB on a 2-core machine",
    "paper": "paper build (1 km, 13 states, 2003-2018): peak memory under 3 GB on a 2-core, 24 GB machine",
}


def run_data_benchmark(
    config: str = "demo",
    repeats: int = 1,
    out: str | Path | None = None,
    progress: bool = False,
    scheduler: str | None = None,
    memory_gb: float = 3.0,
) -> dict[str, object]:
    """Build the ``config`` dataset ``repeats`` times; return times (s), peak memory (MB) and cube size (MB).

    Args:
        config: ``demo`` or ``paper``.
        repeats: builds to time.
        out: build into this folder (kept, replaced by each repeat) instead of a temporary one.
        progress: show the child's progress bar (stderr).
        scheduler: a dask.distributed scheduler address for the build, or None for local threads.
        memory_gb: the build's memory budget (years simulated at once).
    """
    from geoapp.data.parallel import local_threads
    from geoapp.data.simulate import SIMULATION_CONFIGS, years_in_flight

    times, inner, peaks, sizes = [], [], [], []
    for _ in range(max(1, repeats)):
        with tempfile.TemporaryDirectory() as tmp:
            folder = Path(out) if out is not None else Path(tmp) / "ds"
            before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
            t0 = time.perf_counter()
            args = [config, str(folder), "1" if progress else "0", scheduler or "", str(memory_gb)]
            done = subprocess.run([sys.executable, "-c", _CHILD, *args], check=True, stdout=subprocess.PIPE, text=True)
            times.append(time.perf_counter() - t0)
            inner.append(float(done.stdout.strip().splitlines()[-1]))
            peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
            peaks.append(max(peak, before) / 1024.0)  # Linux reports KiB
            sizes.append((folder / "cube.nc").stat().st_size / 1e6)
    cfg = SIMULATION_CONFIGS[config]
    return {
        "config": config,
        "repeats": len(times),
        "years": len(cfg.years),
        "years_in_flight": years_in_flight(cfg, memory_gb, local_threads()) if scheduler is None else "cluster",
        "build_seconds_min": round(min(inner), 2),
        "process_seconds_min": round(min(times), 2),
        "peak_rss_mb_max": round(max(peaks), 1),
        "cube_mb": round(max(sizes), 1),
        "budget": BUDGETS.get(config, ""),
    }
