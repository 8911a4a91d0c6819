"""Tests for geoapp.data.simulate on the tiny session simulation (IA + IL, 8 km, 2012-2016).

The tiny simulation is built once per session (``tiny_sim`` in conftest.py); only the determinism
test simulates again.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from geoapp.data.bands import BANDS, MONTHS
from geoapp.data.counties import load_counties
from geoapp.data.cube import cube_grid, validate_cube
from geoapp.data.simulate import (
    HEAT_THRESHOLD_C,
    SIMULATION_CONFIGS,
    SimulatedDataset,
    SimulationConfig,
    _static_world,
    county_raster,
    simulate,
)
from geoapp.errors import InputError
from tests.conftest import TINY


@pytest.fixture(scope="module")
def lonlat(tiny_sim):
    lon, lat = cube_grid(tiny_sim.cube).lonlat()
    return lon.astype(np.float32), lat.astype(np.float32)


@pytest.fixture(scope="module")
def world(tiny_sim, lonlat):
    """The hidden static world of the tiny simulation (cropland, soil water capacity, ...)."""
    return _static_world(cube_grid(tiny_sim.cube), *lonlat, TINY.seed)


@pytest.fixture(scope="module")
def index(tiny_sim):
    """County index of each pixel (rows of load_counties(TINY.states)), -1 outside."""
    return county_raster(load_counties(TINY.states), cube_grid(tiny_sim.cube))


# ---- structure ------------------------------------------------------------------------------


def test_structure(tiny_sim):
    assert isinstance(tiny_sim, SimulatedDataset) and tiny_sim.config == TINY
    cube = tiny_sim.cube
    validate_cube(cube)
    assert cube["year"].values.tolist() == TINY.years == [2012, 2013, 2014, 2015, 2016]
    grid = cube_grid(cube)
    assert grid.resolution_m == 8000.0 and grid.crs == "EPSG:5070"
    assert cube.attrs["simulated"] == 1 and "tiny" in cube.attrs["title"]
    for b in BANDS:
        assert cube[b].dtype == np.float32
    counties = tiny_sim.counties
    assert len(counties) == len(load_counties(TINY.states)) == 201
    assert list(counties.columns) == [
        "geoid", "name", "state", "n_pixels", "cropland_km2", "anchor_row", "anchor_col", "anchor_lat", "anchor_lon",
    ]  # fmt: skip
    assert set(counties["state"]) == {"IA", "IL"}
    assert list(tiny_sim.yields.columns) == ["geoid", "year", "yield", "expected", "labelled"]
    assert len(tiny_sim.yields) == 201 * 5
    assert tiny_sim.yields["labelled"].dtype == bool
    # withheld rows have no yield; labelled rows do
    y = tiny_sim.yields
    assert y.loc[y["labelled"], "yield"].notna().all() and y.loc[~y["labelled"], "yield"].isna().all()


def test_inputs_are_finite_over_the_counties(tiny_sim, index):
    inside = index >= 0
    for b in BANDS:
        v = tiny_sim.cube[b].values
        assert np.isfinite(v[..., inside]).all(), b


def test_determinism(tiny_sim):
    again = simulate(TINY, progress=False)
    pd.testing.assert_frame_equal(again.yields, tiny_sim.yields)
    pd.testing.assert_frame_equal(again.counties, tiny_sim.counties)
    for b in ("ndvi", "ppt", "lst_day"):
        np.testing.assert_array_equal(
            again.cube[b].sel(year=2014, month=7).values, tiny_sim.cube[b].sel(year=2014, month=7).values
        )
    np.testing.assert_array_equal(again.cube["sand"].values, tiny_sim.cube["sand"].values)
    assert again.truth["noise_floor_rmse_bu"] == tiny_sim.truth["noise_floor_rmse_bu"]


# ---- static world ---------------------------------------------------------------------------


def test_soil_fractions_sum_to_one(tiny_sim):
    c = tiny_sim.cube
    total = c["sand"].values.astype(np.float64) + c["silt"].values + c["clay"].values
    assert np.abs(total - 1.0).max() < 1e-5
    for b in ("sand", "silt", "clay"):
        v = c[b].values
        assert v.min() > 0.0 and v.max() < 1.0


def test_world_ranges(world):
    crop = world["cropland"]
    assert crop.min() >= 0.0 and crop.max() <= 1.0
    assert (crop > 0.5).mean() > 0.5  # IA and IL are mostly cropland
    assert world["awc"].min() >= 0.05 and world["awc"].max() <= 1.0
    assert world["elevation"].min() >= 90.0 and world["elevation"].max() < 1000.0


def test_elevation_matches_world(tiny_sim, world):
    np.testing.assert_array_equal(tiny_sim.cube["elevation"].values, world["elevation"])


# ---- climate and vegetation -----------------------------------------------------------------


def test_ndvi_peaks_in_july_or_august_on_cropland(tiny_sim, world, index):
    ndvi = tiny_sim.cube["ndvi"].mean("year").values  # (month, y, x)
    peak_month = np.asarray(MONTHS)[ndvi.argmax(axis=0)]
    crop = (world["cropland"] > 0.5) & (index >= 0)
    assert crop.sum() > 1000
    assert np.isin(peak_month[crop], [7, 8]).mean() > 0.9
    assert ndvi[MONTHS.index(7)][crop].mean() > ndvi[MONTHS.index(4)][crop].mean() + 0.2
    assert tiny_sim.cube["ndvi"].max() <= 0.95 and tiny_sim.cube["ndvi"].min() >= -0.1


def test_precipitation_decreases_westward(tiny_sim, lonlat):
    lon, _ = lonlat
    ppt = tiny_sim.cube["ppt"].mean(("year", "month")).values
    assert np.corrcoef(ppt.ravel(), lon.ravel())[0, 1] > 0.5  # more rain to the east
    west, east = lon < np.percentile(lon, 25), lon > np.percentile(lon, 75)
    assert ppt[west].mean() < ppt[east].mean()
    assert (tiny_sim.cube["ppt"].values >= 0).all()


def test_july_day_temperature_decreases_northward(tiny_sim, lonlat):
    _, lat = lonlat
    july = tiny_sim.cube["lst_day"].sel(month=7).mean("year").values
    assert np.corrcoef(july.ravel(), lat.ravel())[0, 1] < -0.5
    south, north = lat < np.percentile(lat, 25), lat > np.percentile(lat, 75)
    assert july[south].mean() > july[north].mean() + 2.0
    # nights are cooler than days, July is warmer than March
    c = tiny_sim.cube
    assert (c["lst_night"].values < c["lst_day"].values).mean() > 0.99
    assert float(c["lst_day"].sel(month=7).mean()) > float(c["lst_day"].sel(month=3).mean()) + 10.0


# ---- yields -----------------------------------------------------------------------------------


def test_drought_and_record_years(tiny_sim):
    lab = tiny_sim.yields[tiny_sim.yields["labelled"]]
    means = lab.groupby("year")["yield"].mean()
    assert means[2012] < means[[2013, 2014, 2015, 2016]].mean() - 5.0
    assert means.idxmax() == 2016 and means.idxmin() == 2012
    assert tiny_sim.truth["scripted_years"] == {"drought_and_heat": 2012, "record_high": 2016}
    truth_means = tiny_sim.truth["yield_mean_by_year_bu"]
    assert truth_means == pytest.approx({int(k): float(v) for k, v in means.items()})


def test_labelled_counts_per_year(tiny_sim):
    counts = tiny_sim.yields.groupby("year")["labelled"].sum()
    assert counts.index.tolist() == TINY.years
    assert (np.abs(counts - TINY.labelled_per_year) <= 0.08 * TINY.labelled_per_year).all()
    assert tiny_sim.truth["labelled_per_year"] == {int(k): int(v) for k, v in counts.items()}
    # labelled counties are those with the most cropland
    lab_geoids = set(tiny_sim.yields.loc[tiny_sim.yields["labelled"], "geoid"])
    c = tiny_sim.counties
    assert (
        c.loc[c["geoid"].isin(lab_geoids), "cropland_km2"].median() > c.loc[~c["geoid"].isin(lab_geoids), "cropland_km2"].median()
    )


def test_yields_are_plausible(tiny_sim):
    lab = tiny_sim.yields[tiny_sim.yields["labelled"]]
    assert lab["yield"].between(5.0, 90.0).all()
    assert lab["expected"].notna().all()
    assert 30.0 < lab["yield"].mean() < 65.0
    assert lab.groupby("year")["yield"].std().between(3.0, 20.0).all()


def test_noise_floor(tiny_sim):
    lab = tiny_sim.yields[tiny_sim.yields["labelled"]]
    rmse = float(np.sqrt(np.mean((lab["yield"] - lab["expected"]) ** 2)))
    floor = tiny_sim.truth["noise_floor_rmse_bu"]
    assert rmse == pytest.approx(floor, rel=1e-9)
    # county noise sd 3, plus a little pixel noise surviving the county mean
    assert TINY.county_noise_bu * 0.9 < floor < 4.0
    assert tiny_sim.truth["county_noise_sd_bu"] == TINY.county_noise_bu


def test_truth_month_weights(tiny_sim):
    crit = tiny_sim.truth["critical_months"]
    assert set(crit) == {"water", "heat", "combined"}
    for kind, w in crit.items():
        assert list(w) == list(MONTHS)
        assert sum(w.values()) == pytest.approx(1.0, abs=1e-9), kind
        assert min(w.values()) >= 0.0
        assert w[7] + w[8] > 0.6, kind
        assert max(w, key=w.get) in (7, 8), kind
    shares = tiny_sim.truth["variance_shares"]
    assert set(shares) == {"potential", "water", "heat", "excess", "trend", "effect", "noise"}
    assert all(v >= 0 for v in shares.values())


def test_anchors_lie_inside_their_county(tiny_sim, index):
    c = tiny_sim.counties
    grid = cube_grid(tiny_sim.cube)
    has = c["n_pixels"] > 0
    assert has.all()  # at 8 km every IA/IL county holds at least one pixel centre
    rows, cols = c["anchor_row"].to_numpy(), c["anchor_col"].to_numpy()
    assert ((rows >= 0) & (rows < grid.height) & (cols >= 0) & (cols < grid.width)).all()
    np.testing.assert_array_equal(index[rows, cols], np.arange(len(c)))
    # n_pixels counts the raster
    np.testing.assert_array_equal(np.bincount(index[index >= 0], minlength=len(c)), c["n_pixels"].to_numpy())
    # anchor lon/lat are those of the anchor pixel
    lon, lat = grid.lonlat()
    np.testing.assert_allclose(c["anchor_lon"], lon[rows, cols], atol=1e-4)
    np.testing.assert_allclose(c["anchor_lat"], lat[rows, cols], atol=1e-4)


def test_county_raster(tiny_sim, index):
    grid = cube_grid(tiny_sim.cube)
    assert index.shape == grid.shape and index.dtype == np.int32
    assert index.min() == -1 and index.max() == 200
    # a pixel centre inside Polk County, IA (Des Moines: 93.6 W, 41.6 N)
    from pyproj import Transformer

    x, y = Transformer.from_crs("EPSG:4326", "EPSG:5070", always_xy=True).transform(-93.6, 41.6)
    r, c = grid.rowcol(np.array([x]), np.array([y]))
    assert tiny_sim.counties["geoid"][index[r[0], c[0]]] == "19153"


# ---- configuration ----------------------------------------------------------------------------


def test_config_validation():
    with pytest.raises(InputError, match=r"first_year 2016 is after last_year 2015"):
        SimulationConfig(first_year=2016, last_year=2015)
    with pytest.raises(InputError, match=r"tile_px must be at least 4 pixels, got 3"):
        SimulationConfig(tile_px=3)
    assert SimulationConfig(first_year=2010, last_year=2010).years == [2010]


def test_named_configs():
    assert set(SIMULATION_CONFIGS) == {"demo", "paper"}
    demo, paper = SIMULATION_CONFIGS["demo"], SIMULATION_CONFIGS["paper"]
    assert (demo.resolution_m, demo.tile_px, demo.years[0], demo.years[-1]) == (4000.0, 16, 2003, 2018)
    assert (paper.resolution_m, paper.tile_px) == (1000.0, 50)


@pytest.mark.parametrize("config", ["nope", "Demo", 42, None])
def test_unknown_config_is_refused(config):
    with pytest.raises(InputError, match=r"unknown simulation config .*; expected one of \['demo', 'paper'\]"):
        simulate(config, progress=False)


# ---- edge cases ----------------------------------------------------------------------------------


def test_truth_states_the_heat_threshold(tiny_sim):
    assert f"above {HEAT_THRESHOLD_C:g} degC" in tiny_sim.truth["drivers"]["lst_day"]
