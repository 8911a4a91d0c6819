"""Location-encoder benchmark: ``python -m geoapp bench location [--json] [--markdown docs/location-benchmark.md]``.

Prints, in one run:

- geolocalization of held-out land patches (the checkpoint's own test split) by top-1 retrieval over
  the 100K land gallery: accuracy within 25/200/750/2500 km and median error; beside two baselines
  measured on the same patches: a random gallery point, and raw-pixel nearest neighbour over the
  training patches;
- the country probe (logistic regression on embeddings) for our encoder and GeoCLIP's;
- similarity latency over the 100K gallery once its embeddings are cached;
- spherical harmonics at L = 10, 40, 100 (float32/float64): addition-theorem error and speed beside
  scipy (:mod:`geoapp.bench.spherical_harmonics`).
"""

from __future__ import annotations

import contextlib
import io
import platform
import time
from pathlib import Path

import numpy as np
import torch

from geoapp.analysis.location import (
    gallery_embeddings,
    load_location_model,
    pixel_nn_baseline,
    random_baseline,
    score_geolocation,
    similarity,
)
from geoapp.analysis.probe import country_probe
from geoapp.data.galleries import load_gallery
from geoapp.data.imagery import extract_patches
from geoapp.fileio import atomic_write_text
from geoapp.models.location.geoclip import load_geoclip_encoder
from geoapp.training.location_trainer import split_locations

__all__ = ["run_location_benchmark", "write_markdown"]


def _patches(latlon: np.ndarray, cfg) -> np.ndarray:
    return extract_patches(latlon, size_px=cfg.patch_px, footprint_km=cfg.footprint_km, relief=cfg.relief)


def run_location_benchmark(checkpoint: str | None = None, quick: bool = False) -> dict:
    """Run every figure of the location benchmark; returns a JSON-serialisable dict."""
    model = load_location_model(checkpoint)
    cfg = model.config
    train, _, test = split_locations(cfg)
    if quick:
        train, test = train[:5000], test[:300]
    gallery = load_gallery("land")
    test_patches = _patches(test, cfg)
    t0 = time.perf_counter()
    gallery_embeddings(model, gallery)
    embed_s = time.perf_counter() - t0
    ours = score_geolocation(model, test_patches, test, gallery)
    rand = random_baseline(test, gallery)
    pix = pixel_nn_baseline(_patches(train, cfg), train, test_patches, test)

    refs = np.random.default_rng(0).uniform([-60, -180], [75, 180], size=(5 if quick else 20, 2))
    similarity(0.0, 0.0, model, gallery)  # warm
    times = []
    for lat, lon in refs:
        t = time.perf_counter()
        similarity(lat, lon, model, gallery)
        times.append(time.perf_counter() - t)

    n_probe = 4000 if quick else 20_000
    probe_ours = country_probe(model, n_points=n_probe)
    probe_geoclip = country_probe(load_geoclip_encoder(), n_points=n_probe)

    from geoapp.bench.spherical_harmonics import run_sh_benchmark

    with contextlib.redirect_stdout(io.StringIO()):  # it prints its own table; ours goes to the markdown
        sh = run_sh_benchmark(degrees=(10, 40) if quick else (10, 40, 100), n_points=2000 if quick else 10_000)
    return {
        "checkpoint": model.name,
        "machine": f"{platform.machine()}, {torch.get_num_threads()} threads, no GPU"
        if not torch.cuda.is_available()
        else torch.cuda.get_device_name(0),
        "n_test": int(len(test)),
        "gallery": f"{len(gallery)} land points",
        "geolocation": {"ours": ours, "random_gallery_point": rand, "pixel_nearest_neighbour": pix},
        "probe_country_accuracy": {"ours": probe_ours, "geoclip": probe_geoclip},
        "similarity_ms": {
            "median": 1000 * float(np.median(times)),
            "max": 1000 * float(np.max(times)),
            "gallery_embedding_s": embed_s,
        },
        "spherical_harmonics": sh,
    }


def write_markdown(result: dict, path: str | Path) -> Path:
    """Write the benchmark's tables to ``path`` (atomically)."""
    geo = result["geolocation"]
    keys = ["acc_25km", "acc_200km", "acc_750km", "acc_2500km", "median_km"]
    lines = [
        "# Location encoder benchmark",
        "",
        f"`python -m geoapp bench location --markdown docs/location-benchmark.md` on {result['machine']};",
        f"checkpoint `{result['checkpoint']}`, {result['n_test']} held-out land patches, gallery: {result['gallery']}.",
        "",
        "## Geolocalization (top-1 retrieval)",
        "",
        "| method | within 25 km | 200 km | 750 km | 2500 km | median error (km) |",
        "|---|---|---|---|---|---|",
    ]
    for name, row in geo.items():
        cells = [f"{100 * row[k]:.1f}%" for k in keys[:-1]] + [f"{row['median_km']:,.0f}"]
        lines.append(f"| {name.replace('_', ' ')} | " + " | ".join(cells) + " |")
    lines += [
        "",
        "Targets: at least 50% within 750 km and 80% within 2500 km (GeoCLIP reports 69.7% / 83.8% on Im2GPS3k",
        "photos, a different task), well ahead of both baselines.",
        "",
        "## Country probe (logistic regression on location embeddings, held-out points)",
        "",
        "| encoder | accuracy | majority class | countries | points |",
        "|---|---|---|---|---|",
    ]
    for name, row in result["probe_country_accuracy"].items():
        lines.append(
            f"| {name} | {100 * row['accuracy']:.1f}% | {100 * row['majority_baseline']:.1f}% "
            f"| {row['n_countries']} | {row['n_points']} |"
        )
    sim = result["similarity_ms"]
    lines += [
        "",
        "## Similarity latency (100K gallery, embeddings cached)",
        "",
        f"median {sim['median']:.1f} ms, max {sim['max']:.1f} ms (target 100 ms); "
        f"computing the gallery embeddings once: {sim['gallery_embedding_s']:.1f} s.",
        "",
        "## Spherical harmonics",
        "",
    ]
    from geoapp.bench.spherical_harmonics import format_sh_table

    sh = result["spherical_harmonics"]
    lines += [format_sh_table(sh), "", f"Target ({sh['target']}): {'met' if sh['target_met'] else 'NOT met'}."]
    path = Path(path)
    atomic_write_text(path, "\n".join(lines) + "\n")
    return path
