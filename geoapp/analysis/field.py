"""What a similarity field looks like: how it falls off with distance, and whether it follows appearance.

A location encoder's similarity map (cosine similarity of every place to a reference) should be
warm around the reference and at places like it, and cold far away and at places unlike it. Two
figures measure that for any encoder (:class:`geoapp.analysis.location.LocationEncoderLike`):

- :func:`field_falloff`: the median similarity between a land reference and a land point at a given
  great-circle distance (e.g. 100, 500, 2,000 and 5,000 km) in a random direction. A smooth field
  falls off gradually; a "location hash" drops to noise within a few hundred km.
- :func:`appearance_correlation`: over random pairs of land points, Spearman's rank correlation
  between their location similarity and how alike their Blue Marble patches look (mean and spread
  of red, green, blue and shaded relief over a patch of ``footprint_km``, standardised; the
  negative Euclidean distance of these 8 statistics).
"""

from __future__ import annotations

import numpy as np
import torch
from scipy.stats import spearmanr

from geoapp.data.geodesy import destination
from geoapp.data.imagery import extract_patches
from geoapp.data.land import is_land, sample_land_points

__all__ = ["DISTANCES_KM", "field_falloff", "appearance_correlation", "appearance_statistics"]

DISTANCES_KM = (100, 500, 2000, 5000)
"""Distances at which :func:`field_falloff` reports the median similarity, km."""


def _embed(encoder, latlon: np.ndarray, batch: int = 8192) -> torch.Tensor:
    """(N, D) float unit-norm location embeddings of (N, 2) lat/lon degrees."""
    t = torch.as_tensor(latlon, dtype=torch.float32)
    with torch.no_grad():
        out = [encoder.embed_locations(t[i : i + batch, 0], t[i : i + batch, 1]).float() for i in range(0, len(t), batch)]
    return torch.cat(out) if out else torch.empty((0, 0))


def field_falloff(encoder, distances_km: tuple[int, ...] = DISTANCES_KM, n_refs: int = 3000, seed: int = 0) -> dict[str, float]:
    """Median cosine similarity between a land reference and a land point ``d`` km away, for each ``d``.

    ``n_refs`` references uniform on land (seeded); for each, a random bearing (redrawn up to 8
    times until the point at distance ``d`` is on land; references with no land there are skipped).
    Returns ``{"100": median, ...}`` keyed by the distance in km.
    """
    rng = np.random.default_rng([seed, 21])
    refs = sample_land_points(n_refs, seed=rng)
    ref_emb = _embed(encoder, refs)
    out = {}
    for d in distances_km:
        lat, lon = np.full(len(refs), np.nan), np.full(len(refs), np.nan)
        todo = np.arange(len(refs))
        for _ in range(8):
            la, lo = destination(refs[todo, 0], refs[todo, 1], rng.uniform(0.0, 360.0, len(todo)), float(d))
            ok = is_land(la, lo) & (la > -60.0)
            lat[todo[ok]], lon[todo[ok]] = la[ok], lo[ok]
            todo = todo[~ok]
            if len(todo) == 0:
                break
        keep = np.isfinite(lat)
        emb = _embed(encoder, np.column_stack([lat[keep], lon[keep]]))
        out[str(d)] = float(torch.median((emb * ref_emb[keep]).sum(dim=1)))
    return out


def appearance_statistics(latlon: np.ndarray, footprint_km: float = 400.0, size_px: int = 32) -> np.ndarray:
    """(N, 8) mean and standard deviation of R, G, B and shaded relief over each point's patch (0-255 units)."""
    patches = extract_patches(latlon, size_px=size_px, footprint_km=footprint_km, relief=True).astype(np.float32)
    flat = patches.reshape(len(patches), -1, 4)
    return np.concatenate([flat.mean(axis=1), flat.std(axis=1)], axis=1)


def appearance_correlation(
    encoder, n_pairs: int = 10_000, n_points: int = 4000, footprint_km: float = 400.0, seed: int = 0
) -> float:
    """Spearman correlation between location similarity and appearance similarity over random land pairs.

    ``n_points`` land points (seeded) give ``n_pairs`` random distinct pairs; appearance is
    :func:`appearance_statistics` (standardised per statistic), its similarity the negative
    Euclidean distance. 0 means the field ignores what places look like.
    """
    rng = np.random.default_rng([seed, 22])
    pts = sample_land_points(n_points, seed=rng)
    i = rng.integers(0, n_points, n_pairs)
    j = (i + rng.integers(1, n_points, n_pairs)) % n_points  # never i itself
    stats = appearance_statistics(pts, footprint_km=footprint_km)
    stats = (stats - stats.mean(axis=0)) / np.maximum(stats.std(axis=0), 1e-6)
    looks = -np.linalg.norm(stats[i] - stats[j], axis=1)
    emb = _embed(encoder, pts)
    location = (emb[i] * emb[j]).sum(dim=1).numpy()
    return float(spearmanr(location, looks).statistic)
