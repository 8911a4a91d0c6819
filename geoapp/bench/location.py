"""Location-encoder benchmark: ``python -m geoapp bench location [--json] [--markdown docs/location-benchmark.md]``.

Prints, in one run:

- geolocalization by top-1 retrieval over the 100K land gallery, accuracy within 25/200/750/2500 km
  and the median error, for three sets of places: the checkpoint's random held-out test split; its
  spatial-block split (whole cells of the globe no training point lies in); 300 random land points
  anywhere (not the checkpoint's split: what a user's click would be). Each for both inputs (RGB +
  relief, and RGB alone as an uploaded image is) and at the reference footprint and two others,
  beside two baselines on the same patches: a random gallery point, and raw-pixel nearest neighbour
  over the training locations' patches (same input, reference footprint);
- for every encoder (ours and GeoCLIP's): the similarity field's fall-off with distance and its rank
  correlation with what places look like (:mod:`geoapp.analysis.field`), the country probe and the
  distance-to-coast regression probe (:mod:`geoapp.analysis.probe`);
- similarity latency over the 100K gallery once its embeddings are cached;
- spherical harmonics at L = 10, 40, 100 (float32/float64): addition-theorem error and speed beside
  scipy (:mod:`geoapp.bench.spherical_harmonics`).
"""

from __future__ import annotations

import contextlib
import io
import platform
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from geoapp.analysis.field import DISTANCES_KM, appearance_correlation, field_falloff
from geoapp.analysis.location import (
    gallery_embeddings,
    load_location_model,
    pixel_nn_baseline,
    random_baseline,
    score_geolocation,
    similarity,
)
from geoapp.analysis.probe import country_probe, regression_probe
from geoapp.data.galleries import load_gallery
from geoapp.data.land import sample_land_points
from geoapp.fileio import atomic_write_text
from geoapp.models.location.geoclip import load_geoclip_encoder
from geoapp.training.location_trainer import block_test_locations, reference_patches, split_locations

__all__ = ["run_location_benchmark", "write_markdown", "RANDOM_POINTS_SEED"]

RANDOM_POINTS_SEED = 12345
"""Seed of the 300 random land points (a draw of its own, not any checkpoint's split)."""

_KEYS = ["acc_25km", "acc_200km", "acc_750km", "acc_2500km", "median_km"]


def _footprints(cfg) -> list[float]:
    """The reference footprint and, where trained, half and four times it (within the trained range)."""
    ref = float(cfg.footprint_km)
    others = [f for f in (ref / 2.0, ref * 4.0) if cfg.footprint_min_km <= f <= cfg.footprint_max_km]
    return [ref, *others]


def _geolocation_rows(model, gallery, sets: dict[str, np.ndarray], train: np.ndarray, progress: bool) -> list[dict]:
    """One row per (set, input, footprint, method): accuracy within each radius and the median error."""
    cfg = model.config
    inputs = {"RGB + relief": False, "RGB only": True} if cfg.relief else {"RGB only": False}
    rows = []
    train_patches = {name: reference_patches(cfg, train, rgb_only=rgb) for name, rgb in inputs.items()}
    jobs = [(s, i, f) for s in sets for i in inputs for f in _footprints(cfg)]
    for set_name, input_name, footprint in tqdm(jobs, desc="geolocalization", disable=not progress):
        points = sets[set_name]
        scaled = replace(cfg, footprint_km=footprint)
        patches = reference_patches(scaled, points, rgb_only=inputs[input_name])
        base = {"set": set_name, "input": input_name, "footprint_km": footprint, "n": int(len(points))}
        rows.append({**base, "method": "ours", **score_geolocation(model, patches, points, gallery)})
        if footprint == cfg.footprint_km:
            rows.append({**base, "method": "random gallery point", **random_baseline(points, gallery)})
            pix = pixel_nn_baseline(train_patches[input_name], train, patches, points)
            rows.append({**base, "method": "pixel nearest neighbour", **pix})
    return rows


def _encoder_rows(encoders: dict, n_probe: int, quick: bool, progress: bool) -> dict[str, dict]:
    """Field fall-off, appearance correlation and the two probes, per encoder."""
    out = {}
    for name, enc in tqdm(encoders.items(), desc="encoders", disable=not progress):
        reg = regression_probe(enc, n_points=n_probe)
        out[name] = {
            "falloff": field_falloff(enc, n_refs=600 if quick else 3000),
            "appearance_rank_correlation": appearance_correlation(enc, n_pairs=2000 if quick else 10_000),
            "country_probe": country_probe(enc, n_points=n_probe),
            "regression_probe": reg.summary(),
        }
    return out


def run_location_benchmark(checkpoint: str | None = None, quick: bool = False, progress: bool = True) -> dict:
    """Run every figure of the location benchmark; returns a JSON-serialisable dict."""
    model = load_location_model(checkpoint)
    cfg = model.config
    train, _, test = split_locations(cfg)
    blocks = block_test_locations(cfg)
    anywhere = sample_land_points(300, seed=RANDOM_POINTS_SEED)
    if quick:
        train, test, blocks = train[:5000], test[:300], blocks[:300]
    gallery = load_gallery("land")
    t0 = time.perf_counter()
    gallery_embeddings(model, gallery)
    embed_s = time.perf_counter() - t0
    sets = {"random held-out": test, "spatial blocks": blocks, "300 random land points": anywhere}
    rows = _geolocation_rows(model, gallery, {k: v for k, v in sets.items() if len(v)}, train, progress)

    refs = np.random.default_rng(0).uniform([-60, -180], [75, 180], size=(5 if quick else 20, 2))
    similarity(0.0, 0.0, model, gallery)  # warm
    times = []
    for lat, lon in refs:
        t = time.perf_counter()
        similarity(lat, lon, model, gallery)
        times.append(time.perf_counter() - t)

    encoders = {"ours": model, "geoclip": load_geoclip_encoder()}
    per_encoder = _encoder_rows(encoders, n_probe=4000 if quick else 20_000, quick=quick, progress=progress)

    from geoapp.bench.spherical_harmonics import run_sh_benchmark

    with contextlib.redirect_stdout(io.StringIO()):  # it prints its own table; ours goes to the markdown
        sh = run_sh_benchmark(degrees=(10, 40) if quick else (10, 40, 100), n_points=2000 if quick else 10_000)
    return {
        "checkpoint": model.name,
        "machine": f"{platform.machine()}, {torch.get_num_threads()} threads, no GPU"
        if not torch.cuda.is_available()
        else torch.cuda.get_device_name(0),
        "config": {
            "footprint_km": cfg.footprint_km,
            "footprint_range_km": [cfg.footprint_min_km, cfg.footprint_max_km],
            "holdout_blocks": f"{cfg.holdout_block_fraction:.0%} of the mostly-land {cfg.holdout_block_deg:g}-degree cells",
            "n_train": int(cfg.n_train),
        },
        "sets": {k: int(len(v)) for k, v in sets.items()},
        "gallery": f"{len(gallery)} land points",
        "geolocation": rows,
        "encoders": per_encoder,
        "similarity_ms": {
            "median": 1000 * float(np.median(times)),
            "max": 1000 * float(np.max(times)),
            "gallery_embedding_s": embed_s,
        },
        "spherical_harmonics": sh,
    }


def _pct(x: float) -> str:
    return f"{100 * x:.1f}%"


READING_HEADING = "## Reading these figures"
"""A section of the benchmark file written by hand: kept when the tables are rewritten."""


def write_markdown(result: dict, path: str | Path, extra: str = "") -> Path:
    """Write the benchmark's tables to ``path`` (atomically); ``extra`` Markdown is appended (notes on the figures).

    A section headed :data:`READING_HEADING` already in the file (the figures' reading, written by
    hand) is kept at the end, unless ``extra`` replaces it.
    """
    cfg = result["config"]
    lo, hi = cfg["footprint_range_km"]
    lines = [
        "# Location encoder benchmark",
        "",
        f"`python -m geoapp bench location --markdown docs/location-benchmark.md` on {result['machine']};",
        f"checkpoint `{result['checkpoint']}` (trained on {cfg['n_train']:,} land points, footprints {lo:g}-{hi:g} km,",
        f"reference {cfg['footprint_km']:g} km; held out: {cfg['holdout_blocks']}); gallery: {result['gallery']}.",
        "",
        "## Geolocalization (top-1 retrieval)",
        "",
        "Sets: " + "; ".join(f"{k} ({v} points)" for k, v in result["sets"].items()) + ".",
        "",
        "| set | input | footprint (km) | method | within 25 km | 200 km | 750 km | 2500 km | median error (km) |",
        "|---|---|---:|---|---:|---:|---:|---:|---:|",
    ]
    for row in result["geolocation"]:
        cells = [_pct(row[k]) for k in _KEYS[:-1]] + [f"{row['median_km']:,.0f}"]
        lines.append(
            f"| {row['set']} | {row['input']} | {row['footprint_km']:,.0f} | {row['method']} | " + " | ".join(cells) + " |"
        )
    lines += [
        "",
        "Targets, on the 300 random land points, RGB only, at the reference footprint: at least 50% within",
        "750 km and 80% within 2500 km.",
        "",
        "## What the embeddings know (every encoder)",
        "",
        "Similarity field: median cosine similarity between a land reference and a land point at each distance;",
        "appearance: Spearman rank correlation, over random land pairs, between location similarity and how alike",
        "their patches look (mean and spread of R, G, B and relief). Country probe: logistic regression, held-out",
        "accuracy. Regression probe: ridge regression of the distance to the coast (km), held-out R^2 and RMSE",
        "(predicting the mean everywhere gives R^2 0).",
        "",
        "| encoder | "
        + " | ".join(f"sim. at {d:,} km" for d in DISTANCES_KM)
        + " | appearance corr. | country probe | coast R^2 | coast RMSE (km) |",
        "|---|" + "---:|" * (len(DISTANCES_KM) + 4),
    ]
    for name, enc in result["encoders"].items():
        fall = " | ".join(f"{enc['falloff'][str(d)]:.2f}" for d in DISTANCES_KM)
        reg = enc["regression_probe"]
        lines.append(
            f"| {name} | {fall} | {enc['appearance_rank_correlation']:.2f} | {_pct(enc['country_probe']['accuracy'])} "
            f"| {reg['r2']:.2f} | {reg['rmse_km']:,.0f} |"
        )
    if result["encoders"]:
        first = next(iter(result["encoders"].values()))
        country, reg = first["country_probe"], first["regression_probe"]
        lines += [
            "",
            f"Country probe: {country['n_countries']} countries, {country['n_points']:,} points, majority class "
            f"{_pct(country['majority_baseline'])}. Regression probe: {reg['n_test']:,} held-out points; predicting the "
            f"mean gives RMSE {reg['mean_baseline_rmse_km']:,.0f} km.",
        ]
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
    if not extra and path.is_file():
        old = path.read_text()
        if READING_HEADING in old:
            extra = old[old.index(READING_HEADING) :]
    if extra:
        lines += ["", extra.strip()]
    atomic_write_text(path, "\n".join(lines) + "\n")
    return path
