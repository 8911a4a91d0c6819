"""anchor_tile_means against a direct per-county computation, and the difficulty benchmark on tiny data."""

from __future__ import annotations

import numpy as np
import pytest

from geoapp.bench.difficulty import difficulty_report, r2_score
from geoapp.data.bands import BANDS, MONTHS
from geoapp.data.dataset import load_dataset
from geoapp.data.tiles import anchor_tile_means, tile_origin


def test_anchor_tile_means_match_direct_means(tiny_dataset_path):
    ds = load_dataset(tiny_dataset_path)
    means = anchor_tile_means(ds)
    assert means.shape == (len(ds.years), len(ds.counties), len(MONTHS), len(BANDS))
    cube = ds.cube.load()
    for i in (0, 57, len(ds.counties) - 1):
        row = ds.counties.iloc[i]
        r0, c0 = tile_origin(int(row.anchor_row), int(row.anchor_col), ds.tile_px, ds.grid.shape)
        win = {"y": slice(r0, r0 + ds.tile_px), "x": slice(c0, c0 + ds.tile_px)}
        direct_ndvi = cube["ndvi"].isel(win).sel(year=2013, month=7).mean().item()
        direct_sand = cube["sand"].isel(win).mean().item()
        np.testing.assert_allclose(means[ds.years.index(2013), i, MONTHS.index(7), BANDS.index("ndvi")], direct_ndvi, rtol=1e-5)
        np.testing.assert_allclose(means[0, i, :, BANDS.index("sand")], direct_sand, rtol=1e-5)


def test_anchor_tile_means_are_kept_until_the_dataset_changes(tiny_dataset_path, tmp_path, monkeypatch):
    import os
    import shutil

    from geoapp.data import tiles

    copy = shutil.copytree(tiny_dataset_path, tmp_path / "ds")
    ds = load_dataset(copy)
    calls = []
    compute = tiles._anchor_tile_means
    monkeypatch.setattr(tiles, "_anchor_tile_means", lambda *a: calls.append(1) or compute(*a))
    first = anchor_tile_means(ds)
    assert anchor_tile_means(ds) is first and len(calls) == 1  # kept
    assert not first.flags.writeable  # shared, so read-only
    stat = (copy / "cube.nc").stat()
    os.utime(copy / "cube.nc", ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))  # the cube was rewritten
    again = anchor_tile_means(ds)
    assert len(calls) == 2 and again is not first
    np.testing.assert_array_equal(again, first)


def test_r2_score_hand_values():
    y = np.array([1.0, 2.0, 3.0])
    assert r2_score(y, y) == 1.0
    assert r2_score(y, np.full(3, 2.0)) == 0.0
    assert np.isclose(r2_score(y, np.array([1.0, 2.0, 4.0])), 0.5)


def test_difficulty_report_orders_baselines_below_ceiling(tiny_dataset_path):
    ds = load_dataset(tiny_dataset_path)
    report = difficulty_report(ds, test_years=[2016], n_train_years=3)
    row = report["per_year"][2016]
    assert row["n_test"] > 100
    assert row["ceiling_r2"] > row["ridge_r2"]
    assert 2.0 < row["floor_rmse"] < 4.5


def test_county_means_are_the_cropland_weighted_means_the_county_yield_is_made_of(tiny_dataset_path):
    from geoapp.bench.difficulty import county_means
    from geoapp.data.bands import BANDS
    from geoapp.data.simulate import SimulationConfig, cropland_weights

    ds = load_dataset(tiny_dataset_path)
    means = county_means(ds)
    assert means.shape == (len(ds.years), len(ds.counties), 7, len(BANDS))
    config = {**ds.card["simulation_config"], "states": tuple(ds.card["simulation_config"]["states"])}
    index, crop, geoids = cropland_weights(SimulationConfig(**config))
    row = 3
    c = geoids.index(str(ds.counties["geoid"].iloc[row]))
    band = BANDS.index("ppt")
    slab = ds.cube["ppt"].isel(year=1, month=4).values  # July of the second year
    inside = (index == c) & np.isfinite(slab)
    expected = np.sum(slab[inside] * crop[inside]) / np.sum(crop[inside])  # by hand
    assert means[1, row, 4, band] == pytest.approx(expected, rel=1e-5)
    report = difficulty_report(ds, test_years=[2016], n_train_years=3)
    row16 = report["per_year"][2016]
    assert {"gbm_county_r2", "gbm_county_rmse", "gbm_county_rmse_cal", "gbm_rmse_cal"} <= set(row16)
    assert row16["gbm_county_rmse_cal"] > row16["floor_rmse"] * 0.9  # nothing beats the noise floor by much
