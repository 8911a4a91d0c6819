"""Benchmark of the embedded dataset build: wall time and peak resident memory.

Each repeat builds the dataset in a fresh Python process (so peak memory is that build's alone) into
a temporary folder, and reads the child's peak RSS from ``getrusage(RUSAGE_CHILDREN)``.
"""

from __future__ import annotations

import resource
import subprocess
import sys
import tempfile
import time

__all__ = ["run_data_benchmark"]

_CHILD = (
    "import sys, time; t=time.perf_counter();"
    "from geoapp.data.dataset import build_default_dataset;"
    "build_default_dataset(sys.argv[1], progress=False, out_dir=sys.argv[2]);"
    "print(time.perf_counter()-t)"
)


def run_data_benchmark(config: str = "demo", repeats: int = 1) -> dict[str, object]:
    """Build the ``config`` dataset ``repeats`` times; return times (s) and peak memory (MB)."""
    times, inner, peaks = [], [], []
    for _ in range(max(1, repeats)):
        with tempfile.TemporaryDirectory() as tmp:
            before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
            t0 = time.perf_counter()
            out = subprocess.run([sys.executable, "-c", _CHILD, config, f"{tmp}/ds"], check=True, capture_output=True, text=True)
            times.append(time.perf_counter() - t0)
            inner.append(float(out.stdout.strip().splitlines()[-1]))
            peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
            peaks.append(max(peak, before) / 1024.0)  # Linux reports KiB
    return {
        "config": config,
        "repeats": len(times),
        "build_seconds_min": round(min(inner), 2),
        "process_seconds_min": round(min(times), 2),
        "peak_rss_mb_max": round(max(peaks), 1),
        "budget": "demo build: at most 60 s and 4 GB on a 2-core machine",
    }
