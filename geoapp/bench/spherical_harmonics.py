"""Benchmark of the spherical harmonics: addition-theorem accuracy and speed, beside scipy.

For each degree L and dtype (float32, float64), ``run_sh_benchmark`` measures

- the worst error of the addition theorem, |sum_m Y_lm^2 - (2l + 1) / (4 pi)| over l <= L, on points
  uniform on the sphere plus points within 1e-3 degrees of each pole and the poles themselves
  (absolute, and relative to (2l + 1) / (4 pi));
- points per second of :func:`geoapp.models.location.spherical_harmonics` on ``n_points`` uniform
  points in batches of ``batch_size`` (the output of one batch is (batch, (L+1)^2));

and, in the same run, the same figures for scipy evaluated per (l, m): one
``scipy.special.sph_harm_y`` call per real harmonic Y_lm (m = -l..l), the way an expanded per-(l, m)
implementation works, and per (l, |m|) (one complex call gives both Y_l,m and Y_l,-m), a faster use
of scipy. scipy is slow at high degree, so it runs on fewer points (``_scipy_points``); points per
second do not depend on that. torch runs on ``threads`` threads (default 1, as scipy uses one).
Timings are the best of ``repeats`` runs.

``python -m geoapp.bench.spherical_harmonics [--json]`` runs it from the shell.
"""

from __future__ import annotations

import json as _json
import math
import os
import platform
import time
from collections.abc import Callable, Sequence

import numpy as np
import scipy
import scipy.special
import torch

from geoapp.models.location.spherical_harmonics import num_harmonics, spherical_harmonics

__all__ = ["format_sh_table", "run_sh_benchmark"]

TARGET = "L = 40 at least 100x faster than per-(l, m) scipy, in the same run"


def run_sh_benchmark(
    degrees: Sequence[int] = (10, 40, 100),
    n_points: int = 10_000,
    json: bool = False,
    batch_size: int = 2048,
    repeats: int = 3,
    threads: int = 1,
    seed: int = 0,
) -> dict[str, object]:
    """Run the benchmark; print a markdown table (or the JSON with ``json=True``); return the figures.

    Returns:
        dict with ``rows`` (one per (L, implementation, dtype): ``worst_abs_error``,
        ``worst_rel_error``, ``points_per_s``, ``n_points``, and for ours ``speedup_vs_scipy_per_lm``
        and ``speedup_vs_scipy_per_l_abs_m``), ``target`` and ``target_met`` (L = 40 rows), and the
        settings and versions.
    """
    previous_threads = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        rows = []
        for degree in degrees:
            rows += _bench_degree(int(degree), n_points, batch_size, repeats, seed)
    finally:
        torch.set_num_threads(previous_threads)
    at_40 = [r["speedup_vs_scipy_per_lm"] for r in rows if r["degree"] == 40 and "speedup_vs_scipy_per_lm" in r]
    result: dict[str, object] = {
        "benchmark": "spherical harmonics",
        "rows": rows,
        "target": TARGET,
        "target_met": (min(at_40) >= 100.0) if at_40 else None,
        "n_points": n_points,
        "batch_size": batch_size,
        "repeats": repeats,
        "torch_threads": threads,
        "torch": torch.__version__,
        "scipy": scipy.__version__,
        "machine": f"{platform.machine()} {platform.processor() or ''} ({os.cpu_count()} logical CPUs)".replace("  ", " "),
    }
    print(_json.dumps(result, indent=1) if json else format_sh_table(result))
    return result


def format_sh_table(result: dict[str, object]) -> str:
    """The benchmark's rows as a markdown table."""
    lines = [
        "| L | implementation | dtype | worst abs. error | worst rel. error | points/s | "
        "x scipy per (l, m) | x scipy per (l, \\|m\\|) |",
        "|---:|---|---|---:|---:|---:|---:|---:|",
    ]
    for r in result["rows"]:  # type: ignore[union-attr]
        fast = [f"{r[k]:.0f}x" if k in r else "" for k in ("speedup_vs_scipy_per_lm", "speedup_vs_scipy_per_l_abs_m")]
        name = str(r["implementation"]).replace("|", "\\|")  # a bare | would split the cell
        lines.append(
            f"| {r['degree']} | {name} | {r['dtype']} | {r['worst_abs_error']:.1e} | "
            f"{r['worst_rel_error']:.1e} | {r['points_per_s']:,.0f} | {fast[0]} | {fast[1]} |"
        )
    return "\n".join(lines)


# ---- one degree ------------------------------------------------------------------------------
def _bench_degree(degree: int, n_points: int, batch_size: int, repeats: int, seed: int) -> list[dict]:
    rng = np.random.default_rng(seed + degree)
    lat, lon = _uniform_points(rng, n_points)
    acc_lat, acc_lon = _accuracy_points(rng, min(n_points, 2000))
    rows: list[dict] = []

    n_scipy = _scipy_points(degree, n_points)
    for name, per_abs_m in (("scipy per (l, m)", False), ("scipy per (l, |m|)", True)):
        run = lambda a, b, m=per_abs_m: _scipy_real(a, b, degree, m)  # noqa: E731
        seconds = _best_time(lambda r=run: r(lat[:n_scipy], lon[:n_scipy]), repeats)
        errors = _addition_errors(torch.from_numpy(run(acc_lat[:n_scipy], acc_lon[:n_scipy])), degree)
        rows.append(_row(degree, name, "float64", errors, n_scipy / seconds, n_scipy))
    per_lm, per_abs = rows[0]["points_per_s"], rows[1]["points_per_s"]

    for dtype in (torch.float32, torch.float64):
        t_lat, t_lon = torch.tensor(lat, dtype=dtype), torch.tensor(lon, dtype=dtype)
        spherical_harmonics(t_lat[:batch_size], t_lon[:batch_size], degree)  # warm-up (coefficient tables)
        seconds = _best_time(lambda a=t_lat, b=t_lon: _ours_batched(a, b, degree, batch_size), repeats)
        errors = (0.0, 0.0)
        a_lat, a_lon = torch.tensor(acc_lat, dtype=dtype), torch.tensor(acc_lon, dtype=dtype)
        for i in range(0, len(a_lat), batch_size):
            y = spherical_harmonics(a_lat[i : i + batch_size], a_lon[i : i + batch_size], degree)
            errors = tuple(max(e, f) for e, f in zip(errors, _addition_errors(y, degree), strict=True))  # type: ignore[assignment]
        row = _row(degree, "geoapp recurrence", str(dtype).removeprefix("torch."), errors, n_points / seconds, n_points)
        row["speedup_vs_scipy_per_lm"] = round(row["points_per_s"] / per_lm, 1)
        row["speedup_vs_scipy_per_l_abs_m"] = round(row["points_per_s"] / per_abs, 1)
        rows.append(row)
    return rows


def _row(degree: int, name: str, dtype: str, errors: tuple[float, float], rate: float, n: int) -> dict:
    return {
        "degree": degree,
        "implementation": name,
        "dtype": dtype,
        "worst_abs_error": float(f"{errors[0]:.3g}"),
        "worst_rel_error": float(f"{errors[1]:.3g}"),
        "points_per_s": round(rate, 1),
        "n_points": n,
    }


def _ours_batched(lat: torch.Tensor, lon: torch.Tensor, degree: int, batch_size: int) -> None:
    with torch.no_grad():
        for i in range(0, len(lat), batch_size):
            spherical_harmonics(lat[i : i + batch_size], lon[i : i + batch_size], degree)


def _scipy_real(lat: np.ndarray, lon: np.ndarray, degree: int, per_abs_m: bool) -> np.ndarray:
    """Real harmonics (our convention, float64) from scipy's complex ones, (N, (L+1)^2)."""
    polar, azimuth = np.radians(90.0 - lat), np.radians(lon)
    if hasattr(scipy.special, "sph_harm_y"):
        complex_y: Callable = lambda l, m: scipy.special.sph_harm_y(l, m, polar, azimuth)  # noqa: E731
    else:  # pragma: no cover - scipy < 1.15
        complex_y = lambda l, m: scipy.special.sph_harm(m, l, azimuth, polar)  # noqa: E731
    out = np.empty((len(lat), num_harmonics(degree)))
    root2 = math.sqrt(2.0)
    for l in range(degree + 1):
        out[:, l * l + l] = complex_y(l, 0).real
        for m in range(1, l + 1):
            sign = root2 * (-1) ** m  # no Condon-Shortley phase in ours
            c = complex_y(l, m)
            out[:, l * l + l + m] = sign * c.real
            if not per_abs_m:
                c = complex_y(l, m)  # per (l, m): Y_l,-m gets its own call
            out[:, l * l + l - m] = sign * c.imag
    return out


def _addition_errors(y: torch.Tensor, degree: int) -> tuple[float, float]:
    """Worst absolute and relative error of sum_m Y_lm^2 = (2l + 1) / (4 pi) over points and l."""
    y = y.double()
    l_of_column = torch.repeat_interleave(torch.arange(degree + 1), torch.arange(degree + 1) * 2 + 1)
    sums = torch.zeros(y.shape[0], degree + 1, dtype=torch.float64).index_add_(1, l_of_column, y * y)
    expected = (2.0 * torch.arange(degree + 1, dtype=torch.float64) + 1.0) / (4.0 * math.pi)
    err = (sums - expected).abs()
    return float(err.max()), float((err / expected).max())


def _uniform_points(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
    return np.degrees(np.arcsin(rng.uniform(-1.0, 1.0, n))), rng.uniform(-180.0, 180.0, n)


def _accuracy_points(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
    """N uniform points, then 20 within 1e-3 degrees of each pole and the two poles (first 64 near poles)."""
    offsets = rng.uniform(0.0, 1e-3, 20)
    polar = np.concatenate([90.0 - offsets, -90.0 + offsets, [90.0, -90.0]])
    lat, lon = _uniform_points(rng, n)
    lat = np.concatenate([polar, lat])
    return lat, np.concatenate([rng.uniform(-180.0, 180.0, len(polar)), lon])


def _scipy_points(degree: int, n_points: int) -> int:
    """Points for scipy: its cost grows like L^3 per point, so keep L^3 * n near 2e7 (at least 50)."""
    return int(min(n_points, max(50, 2e7 / (degree + 1) ** 3)))


def _best_time(fn: Callable[[], object], repeats: int) -> float:
    best = math.inf
    for _ in range(max(1, repeats)):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


if __name__ == "__main__":
    import argparse

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--degrees", default="10,40,100", help="comma-separated degrees L")
    parser.add_argument("--n-points", type=int, default=10_000)
    parser.add_argument("--json", action="store_true", help="print JSON instead of a markdown table")
    args = parser.parse_args()
    run_sh_benchmark(tuple(int(d) for d in args.degrees.split(",")), n_points=args.n_points, json=args.json)
