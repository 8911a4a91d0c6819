"""Land mask look-ups and land sampling (uniform by area, and the Fibonacci lattice)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats
from scipy.spatial import cKDTree

from geoapp.data import land
from geoapp.errors import InputError

Z_MIN = math.sin(math.radians(land.ANTARCTICA_LAT))


def _xyz(latlon: np.ndarray) -> np.ndarray:
    lat, lon = np.radians(latlon[:, 0]), np.radians(latlon[:, 1])
    return np.column_stack([np.cos(lat) * np.cos(lon), np.cos(lat) * np.sin(lon), np.sin(lat)])


def _nn_km(latlon: np.ndarray) -> np.ndarray:
    xyz = _xyz(latlon)
    chord, _ = cKDTree(xyz).query(xyz, k=2)
    return 2 * 6371.0088 * np.arcsin(chord[:, 1] / 2)


def test_is_land_known_places_and_vectorised():
    assert land.is_land(48.8566, 2.3522) is True  # Paris
    assert land.is_land(23.0, 10.0) is True  # Sahara
    assert land.is_land(0.0, -150.0) is False  # mid-Pacific
    assert land.is_land(-40.0, -30.0) is False  # South Atlantic
    got = land.is_land(np.array([[48.8566, 0.0]]), np.array([[2.3522, -150.0]]))
    assert got.shape == (1, 2) and got.dtype == bool and got.tolist() == [[True, False]]
    # broadcasting and longitude wrap
    assert land.is_land(np.array([48.8566, 0.0]), 2.3522 + 360.0).tolist() == [True, False]
    assert land.is_land(-17.8, 178.0) == land.is_land(-17.8, 178.0 - 360.0)  # Fiji


@pytest.mark.parametrize("lat, lon", [(91.0, 0.0), (-90.5, 0.0), (float("nan"), 0.0), (0.0, float("inf"))])
def test_is_land_bad_input(lat, lon):
    with pytest.raises(InputError):
        land.is_land(lat, lon)


def test_sample_land_points_on_land_and_deterministic():
    pts = land.sample_land_points(3000, seed=7)
    assert pts.shape == (3000, 2) and pts.dtype == np.float64
    assert land.is_land(pts[:, 0], pts[:, 1]).all()
    assert pts[:, 0].min() >= land.ANTARCTICA_LAT
    assert (pts[:, 1] >= -180).all() and (pts[:, 1] < 180).all()
    np.testing.assert_array_equal(pts, land.sample_land_points(3000, seed=7))
    np.testing.assert_array_equal(pts, land.sample_land_points(3000, seed=np.random.default_rng(7)))
    assert not np.array_equal(pts, land.sample_land_points(3000, seed=8))
    assert land.sample_land_points(0, 1).shape == (0, 2)


def test_sample_land_points_can_include_antarctica():
    pts = land.sample_land_points(3000, seed=1, exclude_antarctica=False)
    assert (pts[:, 0] < land.ANTARCTICA_LAT).sum() > 100  # Antarctica is ~9% of land


def test_sampling_is_uniform_in_sin_lat_and_lon_before_rejection(monkeypatch):
    """With an all-land mask the sampler is plain uniform-on-the-sphere (north of 60 S)."""
    monkeypatch.setattr(land, "is_land", lambda lat, lon: np.ones(np.shape(lat), dtype=bool))
    pts = land.sample_land_points(20_000, seed=3)
    z = np.sin(np.radians(pts[:, 0]))
    counts_z = np.histogram(z, np.linspace(Z_MIN, 1.0, 21))[0]
    counts_lon = np.histogram(pts[:, 1], np.linspace(-180, 180, 21))[0]
    assert stats.chisquare(counts_z).pvalue > 1e-3
    assert stats.chisquare(counts_lon).pvalue > 1e-3
    # and not uniform in latitude itself: area per degree shrinks toward the pole
    counts_lat = np.histogram(pts[:, 0], np.linspace(-60, 90, 16))[0]
    assert stats.chisquare(counts_lat).pvalue < 1e-6


def test_land_samples_follow_land_area_by_latitude():
    """Sampled sin(lat) matches the land-area share of each band (from an equal-area lattice)."""
    ref = land.fibonacci_sphere(400_000)
    keep = land.is_land(ref[:, 0], ref[:, 1]) & (ref[:, 0] >= land.ANTARCTICA_LAT)
    edges = np.linspace(Z_MIN, 1.0, 13)
    share = np.histogram(np.sin(np.radians(ref[keep, 0])), edges)[0] / keep.sum()
    pts = land.sample_land_points(20_000, seed=0)
    observed = np.histogram(np.sin(np.radians(pts[:, 0])), edges)[0]
    assert stats.chisquare(observed, share * len(pts)).pvalue > 1e-3


def test_fibonacci_sphere_is_equal_area():
    pts = land.fibonacci_sphere(10_000)
    z = np.sin(np.radians(pts[:, 0]))
    np.testing.assert_allclose(np.sort(z), np.linspace(-1, 1, 10_001)[:-1] + 1e-4, atol=1e-9)


def test_fibonacci_land_points_count_land_and_spacing():
    n = 5000
    pts = land.fibonacci_land_points(n)
    assert pts.shape == (n, 2) and pts.dtype == np.float64
    assert land.is_land(pts[:, 0], pts[:, 1]).all()
    assert pts[:, 0].min() >= land.ANTARCTICA_LAT
    assert len(np.unique(pts, axis=0)) == n
    np.testing.assert_array_equal(pts, land.fibonacci_land_points(n))
    assert not np.array_equal(pts, land.fibonacci_land_points(n, seed=1))
    assert land.fibonacci_land_points(1234, seed=5).shape == (1234, 2)

    # quasi-regular: nearest-neighbour distances cluster tightly (except isolated islands)
    nn = _nn_km(pts)
    median = np.median(nn)
    expected = 6371.0088 * math.sqrt(4 * math.pi / (n / 0.26))  # lattice spacing for ~26% land
    assert 0.8 * expected < median < 1.2 * expected
    assert nn.min() > 0.9 * median
    assert np.percentile(nn, 95) < 1.15 * median
    # a random land sample of the same size is far less even
    rnd = _nn_km(land.sample_land_points(n, seed=0))
    assert np.percentile(rnd, 5) < 0.5 * np.median(rnd)


def test_bad_n():
    for bad in (-1, 2.5, "10", True):
        with pytest.raises(InputError):
            land.sample_land_points(bad, 0)
        with pytest.raises(InputError):
            land.fibonacci_land_points(bad)
