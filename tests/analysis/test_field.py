"""Similarity-field figures and the probes, on encoders whose answer is known."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from geoapp.analysis.field import appearance_correlation, appearance_statistics, field_falloff
from geoapp.analysis.probe import regression_probe
from geoapp.data.coast import coast_distance_km


class SmoothEncoder:
    """Embedding = the point's 3-D unit vector: cosine similarity = cos(angular distance), smooth by construction."""

    fingerprint = "smooth"

    def embed_locations(self, lat, lon):
        phi, lam = torch.deg2rad(torch.as_tensor(lat)), torch.deg2rad(torch.as_tensor(lon))
        return torch.stack([phi.cos() * lam.cos(), phi.cos() * lam.sin(), phi.sin()], dim=1)


class HashEncoder:
    """A random unit vector per 0.1-degree cell: a location hash with no smoothness at all."""

    fingerprint = "hash"

    def embed_locations(self, lat, lon):
        cell = (torch.as_tensor(lat) * 10).round().long() * 7919 + (torch.as_tensor(lon) * 10).round().long()
        gen = [torch.Generator().manual_seed(int(c) % (2**31)) for c in cell]
        out = torch.stack([torch.randn(32, generator=g) for g in gen])
        return out / out.norm(dim=1, keepdim=True)


class LooksEncoder:
    """Embedding = the point's appearance statistics (what it looks like), standardised and normalised."""

    fingerprint = "looks"

    def embed_locations(self, lat, lon):
        stats = appearance_statistics(np.column_stack([np.asarray(lat), np.asarray(lon)]).astype(float))
        stats = (stats - np.array([80, 80, 70, 150, 20, 20, 20, 30])) / 40.0
        t = torch.as_tensor(stats, dtype=torch.float32)
        return t / t.norm(dim=1, keepdim=True)


def test_a_smooth_field_falls_off_with_distance_as_its_cosine():
    fall = field_falloff(SmoothEncoder(), n_refs=300)
    assert list(fall) == ["100", "500", "2000", "5000"]
    for d, sim in fall.items():
        assert sim == pytest.approx(np.cos(int(d) / 6371.0088), abs=1e-3)


def test_a_location_hash_drops_to_noise_at_once():
    fall = field_falloff(HashEncoder(), distances_km=(100, 2000), n_refs=200)
    assert abs(fall["100"]) < 0.1 and abs(fall["2000"]) < 0.1


def test_appearance_correlation_is_high_for_looks_and_near_zero_for_a_hash():
    looks = appearance_correlation(LooksEncoder(), n_pairs=2000, n_points=800)
    noise = appearance_correlation(HashEncoder(), n_pairs=2000, n_points=800)
    assert looks > 0.5
    assert abs(noise) < 0.1


def test_coast_distance_is_small_on_the_coast_and_large_inland():
    d = coast_distance_km(
        [[43.30, 5.37], [-3.0, -60.0], [47.0, 87.0], [-45.0, -120.0]]
    )  # Marseille, Amazon, Dzungaria, South Pacific
    assert d[0] < 20
    assert 700 < d[1] < 1400
    assert d[2] > 1500  # far from any sea
    assert d[3] > 1500  # at sea: the distance to the nearest coast


class CoastEncoder:
    """Embedding that holds the distance to the coast in one coordinate: a linear probe reads it exactly."""

    fingerprint = "coast"

    def embed_locations(self, lat, lon):
        d = coast_distance_km(np.column_stack([np.asarray(lat), np.asarray(lon)]).astype(float)) / 1000.0
        t = torch.as_tensor(np.column_stack([d, np.ones_like(d)]), dtype=torch.float32)
        return t


def test_regression_probe_reads_a_field_the_embedding_holds_and_not_one_it_lacks():
    good = regression_probe(CoastEncoder(), n_points=2000)
    assert good.r2 > 0.99 and good.rmse_km < 0.1 * good.mean_baseline_rmse_km
    assert good.points.shape == (500, 2) and good.true.shape == good.predicted.shape == (500,)
    blind = regression_probe(HashEncoder(), n_points=1200)
    assert blind.r2 < 0.2
    assert set(good.summary()) == {"field", "r2", "rmse_km", "mean_baseline_rmse_km", "n_test"}
