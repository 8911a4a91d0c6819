"""Tests for geoapp.data.cube: layout, NetCDF round trip with int16 packing, stacking, statistics."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyproj
import pytest
import xarray as xr

from geoapp.data.bands import BAND_INFO, BANDS, DYNAMIC_BANDS, MONTHS, STATIC_BANDS
from geoapp.data.cube import (
    PACKING,
    as_array,
    band_stats,
    cube_grid,
    empty_cube,
    open_cube,
    save_cube,
    select_years,
    validate_cube,
)
from geoapp.data.grid import Grid
from geoapp.errors import DataFileError, InputError

YEARS = [2017, 2018]

# Plausible value ranges per band (band units), used to fill test cubes.
RANGES = {
    "ndvi": (-0.1, 0.95),
    "evi": (-0.1, 0.9),
    "lst_day": (-20.0, 55.0),
    "lst_night": (-30.0, 30.0),
    "ppt": (0.0, 600.0),
    "elevation": (80.0, 3000.0),
    "sand": (0.0, 1.0),
    "silt": (0.0, 1.0),
    "clay": (0.0, 1.0),
}


@pytest.fixture
def grid() -> Grid:
    return Grid.covering((200_000.0, 2_100_000.0, 240_000.0, 2_130_000.0), 4000.0)  # 8 x 10 px


def filled_cube(grid: Grid, years=YEARS, seed: int = 0) -> xr.Dataset:
    rng = np.random.default_rng(seed)
    ds = empty_cube(grid, years, "test cube", simulated=False)
    for b in BANDS:
        lo, hi = RANGES[b]
        ds[b].values[:] = rng.uniform(lo, hi, ds[b].shape)
    return ds


# ---- layout ---------------------------------------------------------------------------------


def test_empty_cube_layout(grid):
    ds = empty_cube(grid, range(2010, 2013), "My cube", simulated=True)
    assert dict(ds.sizes) == {"year": 3, "month": 7, "y": grid.height, "x": grid.width}
    assert ds["year"].values.tolist() == [2010, 2011, 2012]
    assert ds["month"].values.tolist() == list(MONTHS) == [3, 4, 5, 6, 7, 8, 9]
    np.testing.assert_array_equal(ds["x"].values, grid.x)
    np.testing.assert_array_equal(ds["y"].values, grid.y)
    assert ds["x"].attrs["units"] == "m" and ds["y"].attrs["standard_name"] == "projection_y_coordinate"
    assert list(ds.data_vars) == list(BANDS)
    for b in BANDS:
        da = ds[b]
        assert da.dims == (("y", "x") if b in STATIC_BANDS else ("year", "month", "y", "x"))
        assert da.dtype == np.float32
        assert np.isnan(da.values).all()
        assert da.attrs["units"] == BAND_INFO[b].units
        assert da.attrs["long_name"] == BAND_INFO[b].long_name
        assert da.attrs["grid_mapping"] == "spatial_ref"
    assert ds["lst_day"].attrs["units"] == "degC" and ds["ppt"].attrs["units"] == "mm"
    assert "spatial_ref" in ds.coords and "crs_wkt" in ds["spatial_ref"].attrs
    assert ds.attrs["title"] == "My cube" and ds.attrs["simulated"] == 1
    assert ds.attrs["Conventions"] == "CF-1.8"
    assert cube_grid(ds) == grid
    validate_cube(ds)  # does not raise


def test_empty_cube_needs_a_year(grid):
    with pytest.raises(InputError, match=r"at least one year"):
        empty_cube(grid, [], "t", simulated=False)


# ---- save / open ----------------------------------------------------------------------------


def test_save_open_round_trip_within_packing(grid, tmp_path):
    ds = filled_cube(grid)
    path = save_cube(ds, tmp_path / "cube.nc")
    assert path == tmp_path / "cube.nc" and path.is_file()
    back = open_cube(path, load=True)
    assert cube_grid(back) == grid
    assert back.attrs["title"] == "test cube" and int(back.attrs["simulated"]) == 0
    assert back["year"].values.tolist() == YEARS and back["month"].values.tolist() == list(MONTHS)
    np.testing.assert_allclose(back["x"].values, grid.x)
    for b in BANDS:
        scale, _ = PACKING[b]
        assert back[b].dtype == np.float32, b
        assert back[b].dims == ds[b].dims
        assert back[b].attrs["units"] == BAND_INFO[b].units
        err = np.abs(back[b].values.astype(np.float64) - ds[b].values.astype(np.float64))
        # rounding to the nearest packed step, plus float32 decoding error
        assert err.max() <= 0.5 * scale * 1.01 + 1e-6 * np.abs(ds[b].values).max(), b
        assert back[b].encoding["dtype"] == np.int16


def test_nan_round_trips_as_nan(grid, tmp_path):
    ds = filled_cube(grid)
    ds["ndvi"].values[1, 4, 2, 3] = np.nan
    ds["elevation"].values[0, 0] = np.nan
    ds["ppt"].values[0] = np.nan  # a whole year
    back = open_cube(save_cube(ds, tmp_path / "cube.nc"), load=True)
    for b in ("ndvi", "elevation", "ppt"):
        np.testing.assert_array_equal(np.isnan(back[b].values), np.isnan(ds[b].values))
    assert np.isnan(back["ndvi"].values[1, 4, 2, 3])
    assert np.isfinite(back["ppt"].values[1]).all()


def test_open_cube_lazy_reads_values(grid, tmp_path):
    ds = filled_cube(grid)
    back = open_cube(save_cube(ds, tmp_path / "cube.nc"))
    try:
        v = back["lst_day"].sel(year=2018, month=7).values
        np.testing.assert_allclose(v, ds["lst_day"].sel(year=2018, month=7).values, atol=0.0051)
    finally:
        back.close()


@pytest.mark.parametrize(
    "band, value",
    [("lst_day", 400.0), ("lst_night", -400.0), ("ndvi", 5.0), ("ppt", 4000.0), ("sand", 3.0), ("elevation", 13_000.0)],
)
def test_save_refuses_values_outside_packing_and_leaves_no_file(grid, tmp_path, band, value):
    ds = filled_cube(grid)
    idx = (0,) * ds[band].ndim
    ds[band].values[idx] = value
    with pytest.raises(InputError, match=rf"band '{band}' spans .* outside the storable .*are the units right"):
        save_cube(ds, tmp_path / "cube.nc")
    assert list(tmp_path.iterdir()) == []


def test_save_refusal_keeps_existing_file(grid, tmp_path):
    good = filled_cube(grid)
    path = save_cube(good, tmp_path / "cube.nc")
    before = path.read_bytes()
    bad = filled_cube(grid, seed=1)
    bad["lst_day"].values[:] += 273.15  # kelvin
    bad["lst_day"].values[0, 4, 0, 0] = 55.0 + 273.15  # a hot pixel: 328 K is beyond the storable 327.67
    with pytest.raises(InputError, match=r"kelvin"):
        save_cube(bad, path)
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["cube.nc"]


def test_values_at_the_edge_of_packing_are_kept(grid, tmp_path):
    ds = filled_cube(grid)
    ds["lst_day"].values[0, 0, 0, 0] = 327.0
    ds["lst_day"].values[0, 0, 0, 1] = -327.0
    back = open_cube(save_cube(ds, tmp_path / "cube.nc"), load=True)
    assert back["lst_day"].values[0, 0, 0, 0] == pytest.approx(327.0, abs=0.006)
    assert back["lst_day"].values[0, 0, 0, 1] == pytest.approx(-327.0, abs=0.006)


def test_save_refuses_a_cube_without_a_band(grid, tmp_path):
    ds = filled_cube(grid).drop_vars("clay")
    with pytest.raises(InputError, match=r"cube lacks band\(s\) \['clay'\]"):
        save_cube(ds, tmp_path / "cube.nc")


def test_open_cube_missing_path(tmp_path):
    with pytest.raises(DataFileError, match=r"cube file '.*nope\.nc' does not exist; build it with"):
        open_cube(tmp_path / "nope.nc")


def test_open_cube_garbage_file(tmp_path):
    path = tmp_path / "garbage.nc"
    path.write_bytes(b"this is not a netcdf file\x00\x01" * 50)
    with pytest.raises(DataFileError, match=r"cannot read cube '.*garbage\.nc'.*is it a NetCDF-4 file"):
        open_cube(path)


def test_open_cube_netcdf_lacking_a_band(grid, tmp_path):
    path = tmp_path / "partial.nc"
    filled_cube(grid).drop_vars(["evi", "silt"]).to_netcdf(path, engine="netcdf4")
    with pytest.raises(DataFileError, match=r"is not a geoapp cube: cube lacks band\(s\) \['evi', 'silt'\]"):
        open_cube(path)


def test_open_cube_netcdf_with_wrong_months(grid, tmp_path):
    path = tmp_path / "months.nc"
    ds = filled_cube(grid).assign_coords(month=np.arange(1, 8, dtype=np.int32))
    ds.to_netcdf(path, engine="netcdf4")
    with pytest.raises(DataFileError, match=r"cube months are \[1, 2, 3, 4, 5, 6, 7\]; expected \[3, 4, 5, 6, 7, 8, 9\]"):
        open_cube(path)


def test_open_cube_netcdf_without_grid_attrs(grid, tmp_path):
    path = tmp_path / "nogrid.nc"
    ds = filled_cube(grid)
    del ds.attrs["grid_bounds_m"]
    ds.to_netcdf(path, engine="netcdf4")
    with pytest.raises(DataFileError, match=r"not a geoapp cube: no grid description"):
        open_cube(path)


def test_validate_cube_wrong_dims(grid):
    ds = filled_cube(grid)
    ds["ndvi"] = ds["ndvi"].transpose("month", "year", "y", "x")
    with pytest.raises(
        InputError, match=r"band 'ndvi' has dims \('month', 'year', 'y', 'x'\); expected \('year', 'month', 'y', 'x'\)"
    ):
        validate_cube(ds)


@pytest.mark.filterwarnings("ignore::PendingDeprecationWarning:rioxarray")
def test_rioxarray_reads_crs_and_transform(grid, tmp_path):
    import rioxarray  # noqa: F401  (registers the .rio accessor)

    path = save_cube(filled_cube(grid), tmp_path / "cube.nc")
    with xr.open_dataset(path, decode_coords="all") as ds:
        crs = ds["ndvi"].rio.crs
        assert crs is not None and crs.to_epsg() == 5070
        assert pyproj.CRS.from_user_input(crs.to_wkt()).equals(pyproj.CRS.from_epsg(5070))
        assert ds["ndvi"].rio.transform().almost_equals(grid.transform)
        assert ds["elevation"].rio.crs.to_epsg() == 5070
        assert ds["elevation"].rio.shape == grid.shape


# ---- as_array -------------------------------------------------------------------------------


def test_as_array_order_and_static_broadcast(grid):
    ds = filled_cube(grid)
    arr = as_array(ds)
    assert arr.dims == ("year", "month", "band", "y", "x")
    assert arr.shape == (2, 7, 9, grid.height, grid.width)
    assert arr["band"].values.tolist() == list(BANDS)
    for k, b in enumerate(BANDS):
        for i, y in enumerate(YEARS):
            for j, m in enumerate(MONTHS):
                want = ds[b].values if b in STATIC_BANDS else ds[b].sel(year=y, month=m).values
                np.testing.assert_array_equal(arr.values[i, j, k], want)


def test_as_array_band_and_year_subset(grid):
    ds = filled_cube(grid)
    arr = as_array(ds, bands=["sand", "ppt"], years=[2018])
    assert arr.shape == (1, 7, 2, grid.height, grid.width)
    assert arr["band"].values.tolist() == ["sand", "ppt"]
    np.testing.assert_array_equal(arr.values[0, 6, 1], ds["ppt"].sel(year=2018, month=9).values)
    np.testing.assert_array_equal(arr.values[0, 2, 0], ds["sand"].values)


def test_as_array_bad_band_and_year(grid):
    ds = filled_cube(grid)
    with pytest.raises(InputError, match=r"unknown band name\(s\) \['rain'\]"):
        as_array(ds, bands=["ndvi", "rain"])
    with pytest.raises(InputError, match=r"year\(s\) \[2020\] not in the cube; it holds 2017..2018"):
        as_array(ds, years=[2017, 2020])


def test_select_years(grid):
    ds = filled_cube(grid, years=[2015, 2016, 2017])
    assert select_years(ds, [2017, 2015])["year"].values.tolist() == [2017, 2015]
    with pytest.raises(InputError, match=r"year\(s\) \[2003\] not in the cube; it holds 2015..2017"):
        select_years(ds, [2003])


# ---- band_stats -------------------------------------------------------------------------------


def test_band_stats_uses_only_train_years_and_each_month(grid):
    ds = filled_cube(grid, years=[2016, 2017, 2018])
    # each month of the training years has its own level; 2018 (not trained on) is wildly different
    for j, m in enumerate(MONTHS):
        ds["ndvi"].loc[{"year": [2016, 2017], "month": m}] = 0.1 * j + ds["ndvi"].sel(year=[2016, 2017], month=m) * 0.01
    ds["ndvi"].loc[{"year": 2018}] = 0.9
    ds["lst_day"].loc[{"year": 2018}] = 300.0
    stats = band_stats(ds, [2016, 2017])
    assert stats["mean"].dims == ("month", "band") and stats["mean"].dtype == np.float64
    assert stats["band"].values.tolist() == list(BANDS)
    assert stats.attrs["train_years"] == [2016, 2017]
    for j, m in enumerate(MONTHS):
        train = ds["ndvi"].sel(year=[2016, 2017], month=m).values.astype(np.float64)
        assert stats["mean"].sel(month=m, band="ndvi") == pytest.approx(train.mean(), rel=1e-9)
        assert stats["std"].sel(month=m, band="ndvi") == pytest.approx(train.std(), rel=1e-6)
        assert 0.1 * j <= float(stats["mean"].sel(month=m, band="ndvi")) < 0.1 * j + 0.01
        assert float(stats["mean"].sel(month=m, band="lst_day")) < 60.0  # 300 degC of 2018 ignored


def test_band_stats_static_bands_same_every_month_and_nan_skipped(grid):
    ds = filled_cube(grid)
    ds["elevation"].values[0, :] = np.nan
    stats = band_stats(ds, [2017], bands=["elevation", "ppt"])
    assert stats["band"].values.tolist() == ["elevation", "ppt"]
    elev_mean = stats["mean"].sel(band="elevation").values
    assert np.all(elev_mean == elev_mean[0])
    assert elev_mean[0] == pytest.approx(np.nanmean(ds["elevation"].values.astype(np.float64)))
    # ppt months differ from each other
    assert len(set(stats["mean"].sel(band="ppt").values.tolist())) == len(MONTHS)


def test_band_stats_std_floor_and_errors(grid):
    ds = filled_cube(grid)
    ds["clay"].values[:] = 0.25
    stats = band_stats(ds, YEARS)
    assert np.all(stats["std"].sel(band="clay").values == 1e-6)
    with pytest.raises(InputError, match=r"year\(s\) \[2000\] not in the cube"):
        band_stats(ds, [2000])
    ds["evi"].loc[{"year": 2017}] = np.nan
    with (
        pytest.raises(InputError, match=r"no data in the training years \[2017\] for evi month 3, evi month 4, .*evi month 9;"),
        np.errstate(all="ignore"),
    ):
        band_stats(ds, [2017])
    assert np.isfinite(band_stats(ds, [2018])["mean"].values).all()


def test_dynamic_and_static_bands_partition_bands():
    assert set(DYNAMIC_BANDS) | set(STATIC_BANDS) == set(BANDS)
    assert not set(DYNAMIC_BANDS) & set(STATIC_BANDS)
    assert set(PACKING) == set(BANDS)


# ---- edge cases ----------------------------------------------------------------------------------


def test_open_cube_unknown_crs_attr_is_data_file_error(grid, tmp_path: Path):
    path = tmp_path / "badcrs.nc"
    ds = filled_cube(grid)
    ds.attrs["grid_crs"] = "EPSG:99999"
    ds.to_netcdf(path, engine="netcdf4")
    with pytest.raises(DataFileError, match=r"not a geoapp cube"):
        open_cube(path)
