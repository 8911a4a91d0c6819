"""Tests for geoapp.data.fields.random_fields: shape, moments, determinism, resolution independence, correlation."""

from __future__ import annotations

import math

import numpy as np
import pytest

from geoapp.data.fields import random_fields
from geoapp.data.grid import Grid


def test_shape_and_dtype():
    x = np.arange(30) * 1000.0
    y = np.arange(20)[::-1] * 1000.0
    f = random_fields(x, y, 50.0, 3, np.random.default_rng(0))
    assert f.shape == (3, 20, 30)
    assert f.dtype == np.float32
    assert np.isfinite(f).all()
    f64 = random_fields(x, y, 50.0, 2, np.random.default_rng(0), dtype=np.float64)
    assert f64.dtype == np.float64


def test_unit_variance_zero_mean_across_fields():
    x = np.arange(40) * 4000.0 + 1.5e5
    y = 2.0e6 - np.arange(30) * 4000.0
    f = random_fields(x, y, 60.0, 400, np.random.default_rng(1)).astype(np.float64)
    # pointwise over many independent fields: mean 0, standard deviation 1
    assert abs(f.mean()) < 0.05
    assert f.std() == pytest.approx(1.0, abs=0.05)
    sd_per_pixel = f.std(axis=0)
    assert np.abs(sd_per_pixel - 1.0).max() < 0.2
    # amplitude bounded by sqrt(2 K)
    assert np.abs(f).max() <= math.sqrt(2 * 64) + 1e-4


def test_fields_are_independent():
    x = np.arange(50) * 2000.0
    y = np.arange(50) * 2000.0
    f = random_fields(x, y, 20.0, 200, np.random.default_rng(2)).astype(np.float64)
    # correlation between consecutive fields at the same pixel is about 0
    r = np.corrcoef(f[:-1, 10, 10], f[1:, 10, 10])[0, 1]
    assert abs(r) < 0.2


def test_same_seed_same_fields_different_seed_different_fields():
    x = np.arange(16) * 4000.0
    y = np.arange(12) * 4000.0
    a = random_fields(x, y, 30.0, 2, np.random.default_rng(7))
    b = random_fields(x, y, 30.0, 2, np.random.default_rng(7))
    c = random_fields(x, y, 30.0, 2, np.random.default_rng(8))
    np.testing.assert_array_equal(a, b)
    assert np.abs(a - c).max() > 0.5


def test_resolution_independence():
    # A 4 km grid and a 1 km grid shifted so that every 4 km pixel centre is also a 1 km pixel centre.
    g4 = Grid("EPSG:5070", 4000.0, 200_000.0, 1_900_000.0, 400_000.0, 2_060_000.0)
    g1 = Grid("EPSG:5070", 1000.0, 199_500.0, 1_899_500.0, 399_500.0, 2_059_500.0)
    cols = np.searchsorted(g1.x, g4.x)
    rows = np.searchsorted(-g1.y, -g4.y)
    np.testing.assert_array_equal(g1.x[cols], g4.x)
    np.testing.assert_array_equal(g1.y[rows], g4.y)
    f4 = random_fields(g4.x, g4.y, 80.0, 3, np.random.default_rng(11), n_waves=96)
    f1 = random_fields(g1.x, g1.y, 80.0, 3, np.random.default_rng(11), n_waves=96)
    assert f1.shape == (3, g1.height, g1.width) and f4.shape == (3, g4.height, g4.width)
    np.testing.assert_allclose(f1[:, rows][:, :, cols], f4, rtol=0, atol=1e-4)


def test_correlation_length():
    # correlation exp(-d^2 / (2 l^2)): exp(-0.5) at d = l, exp(-2) at d = 2 l, near 1 at d << l
    length_km = 40.0
    step = length_km * 1000.0 / 4
    x = 1.5e5 + np.arange(160) * step
    y = np.array([2.0e6])
    f = random_fields(x, y, length_km, 500, np.random.default_rng(3)).astype(np.float64)[:, 0, :]

    def corr(lag_px: int) -> float:
        a, b = f[:, :-lag_px].ravel(), f[:, lag_px:].ravel()
        return float(np.mean(a * b) / np.sqrt(np.mean(a * a) * np.mean(b * b)))

    assert corr(4) == pytest.approx(math.exp(-0.5), abs=0.03)  # lag = l
    assert corr(8) == pytest.approx(math.exp(-2.0), abs=0.03)  # lag = 2 l
    assert corr(1) == pytest.approx(math.exp(-1 / 32), abs=0.02)  # lag = l / 4
    assert abs(corr(20)) < 0.05  # lag = 5 l


def test_longer_length_is_smoother():
    x = np.arange(100) * 1000.0
    y = np.arange(100) * 1000.0
    rough = random_fields(x, y, 5.0, 20, np.random.default_rng(4))
    smooth = random_fields(x, y, 50.0, 20, np.random.default_rng(4))
    assert np.abs(np.diff(smooth, axis=2)).mean() < 0.3 * np.abs(np.diff(rough, axis=2)).mean()
