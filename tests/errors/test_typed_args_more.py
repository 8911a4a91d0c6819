"""More public functions given an argument of the wrong type or out of range raise a geoapp error naming it.

Bands and cubes, counties, grids, tiles, random fields, the simulation's configuration, GeoNames and the
land mask, the quadruplet sampler and its regions, the crop-yield training side (tile source, nested
years, scores, ridge, metrics logs, devices) and the analyses' result cache: never a bare TypeError,
AttributeError, KeyError or MemoryError, and never a wrong result returned as valid.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from geoapp.analysis.ablation import what_if_ablation
from geoapp.analysis.result_cache import ResultCache, cache_root, cached, no_cache, result_key
from geoapp.analysis.yield_predictions import compare_on_year, predictions_for_year
from geoapp.data import counties, fields, geonames, land, study_area, tiles
from geoapp.data.bands import check_bands, group_bands
from geoapp.data.cube import as_array, band_stats, empty_cube, open_cube, save_cube, select_years, validate_cube
from geoapp.data.grid import Grid
from geoapp.data.simulate import SimulationConfig, county_raster, simulate
from geoapp.errors import GeoappError, InputError
from geoapp.models.ridge import RidgeRegression, fit_ridge
from geoapp.samplers import QuadrupletSampler, gather_tiles, valid_pixel_mask
from geoapp.samplers.regions import DistantRegion, distant_region, neighbour_region
from geoapp.training.device import resolve_device, to_device
from geoapp.training.metrics_log import MetricsLog, keep_epochs_before, read_metrics
from geoapp.training.results import check_scores, verify_dataset
from geoapp.training.ridge_trainer import evaluate_ridge, load_ridge, ridge_features, train_ridge
from geoapp.training.yield_data import YieldTileSource
from geoapp.training.yield_trainer import (
    YieldTrainConfig,
    load_yield_model,
    nested_years,
    predict_examples,
    rmse_r2,
    train_yield,
)

NOT_A_DATASET = "ds must be a dataset from"


@pytest.fixture(scope="module")
def source(ds):
    """The tiny dataset's standardised tiles of 2015 (statistics of 2012-2013)."""
    return YieldTileSource(ds, [2012, 2013], years=[2015])


def _raises(call, match: str) -> None:
    with pytest.raises(InputError, match=match):
        call()


# ---- bands and the cube ---------------------------------------------------------------------------
@pytest.mark.parametrize(
    "call, match",
    [
        (lambda: check_bands(None), r"bands must be a list or tuple of band names .* got NoneType None"),
        (lambda: check_bands(5), r"bands must be a list or tuple of band names .* got int 5"),
        (lambda: check_bands("ndvi"), r"bands must be a list or tuple of band names .* got str 'ndvi'"),
        (lambda: check_bands([]), r"bands is empty"),
        (lambda: check_bands([["ndvi"]]), r"unknown band name\(s\) \[\['ndvi'\]\]"),
        (lambda: check_bands(["ndvi", "ndvi"]), r"band\(s\) \['ndvi'\] named more than once"),
        (lambda: group_bands(["VI"]), r"unknown feature group \['VI'\]; expected one of \['VI', 'LST'"),
        (lambda: group_bands(None), r"unknown feature group None"),
    ],
)
def test_band_checks_name_an_argument_of_the_wrong_type(call, match):
    _raises(call, match)


def test_band_checks_keep_what_is_right():
    assert check_bands(["sand", "ppt"]) == ("sand", "ppt") and group_bands("VI") == ("ndvi", "evi")


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda ds: open_cube(None), r"path must be a path \(str or os.PathLike\), got NoneType None"),
        (lambda ds: open_cube(ds.root / "cube.nc", load="yes"), r"load must be True or False"),
        (lambda ds: select_years(ds.cube, None), r"years must be a list of whole years .* got NoneType None"),
        (lambda ds: select_years(ds.cube, 2015), r"years must be a list of whole years .* got int 2015"),
        (lambda ds: select_years(ds.cube, ["2015"]), r"years entry must be a whole number, got str '2015'"),
        (lambda ds: select_years(ds.cube, [2015.7]), r"years entry must be a whole number, got float 2015.7"),
        (lambda ds: select_years(ds.cube, []), r"years is empty"),
        (lambda ds: select_years(None, [2015]), r"ds must be a cube \(an xarray Dataset"),
        (lambda ds: band_stats(ds.cube, None), r"train_years must be a list of whole years .* got NoneType None"),
        (lambda ds: band_stats(ds.cube, [2015], bands="ndvi"), r"bands must be a list or tuple"),
        (lambda ds: as_array(ds.cube, years=2015), r"years must be a list of whole years"),
        (lambda ds: as_array(ds.cube.to_array(), years=[2015]), r"ds must be a cube"),
        (lambda ds: validate_cube(None), r"ds must be a cube"),
        (lambda ds: save_cube(None, "cube.nc"), r"ds must be a cube"),
        (lambda ds: empty_cube(None, [2015], "t", False), r"grid must be a geoapp.data.grid.Grid, got NoneType"),
        (lambda ds: empty_cube(ds.grid, 2015, "t", False), r"years must be a list of whole years"),
        (lambda ds: empty_cube(ds.grid, [2015], None, False), r"title must be text"),
        (lambda ds: empty_cube(ds.grid, [2015], "t", 1), r"simulated must be True or False"),
    ],
)
def test_cube_functions_name_an_argument_of_the_wrong_type(call, match, ds):
    _raises(lambda: call(ds), match)


def test_cube_years_of_numpy_or_a_range_are_still_years(ds):
    assert select_years(ds.cube, np.array([2015, 2013]))["year"].values.tolist() == [2015, 2013]
    assert band_stats(ds.cube, range(2012, 2014), bands=("ppt",))["mean"].shape == (7, 1)


# ---- counties, grids, tiles, fields ---------------------------------------------------------------
@pytest.mark.parametrize(
    "call, match",
    [
        (lambda: counties.load_counties(5), r"states must be a list of two-letter postal codes .* got int 5"),
        (lambda: counties.load_counties(["IA", None]), r"states must be a list of two-letter postal codes"),
        (lambda: counties.simplified_counties(["IA"], tolerance_deg="x"), r"tolerance_deg must be a number of degrees"),
        (lambda: counties.simplified_counties(["IA"], tolerance_deg=-1.0), r"tolerance_deg must be a non-negative number"),
        (lambda: counties.state_outlines_geojson_path(["IA"], math.nan), r"tolerance_deg must be a non-negative number"),
        (lambda: counties.county_centroids(None), r"counties must be a GeoDataFrame with a CRS"),
        (lambda: study_area.study_area_grid(None), r"resolution_m must be a number of metres, got NoneType"),
        (lambda: study_area.study_area_grid(8000.0, ["IA"], min_side_px="16"), r"min_side_px must be a whole number"),
        (lambda: study_area.study_area_grid(8000.0, 5), r"states must be a list of two-letter postal codes"),
    ],
)
def test_county_functions_name_an_argument_of_the_wrong_type(call, match):
    _raises(call, match)


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda: Grid("EPSG:5070", None, 0, 0, 1000, 1000), r"grid resolution must be a positive number of metres"),
        (lambda: Grid("EPSG:5070", True, 0, 0, 1000, 1000), r"grid resolution must be a positive number of metres"),
        (lambda: Grid("EPSG:5070", 1000.0, "a", 0, 1000, 1000), r"grid bound xmin must be a number of metres, got str"),
        (lambda: Grid(None, 1000.0, 0, 0, 1000, 1000), r"grid crs must be text such as 'EPSG:5070'"),
        (lambda: Grid("EPSG:5070", 1000.0, 0, 0, math.inf, 1000), r"more than the 200,000,000 geoapp allows"),
        (lambda: Grid("EPSG:5070", 1.0, 0, 0, 1e9, 1e9), r"more than the 200,000,000 geoapp allows"),
        (lambda: Grid.covering(None, 1000.0), r"bounds must be \(xmin, ymin, xmax, ymax\), four finite numbers"),
        (lambda: Grid.covering((0, 0, math.nan, 1e5), 1000.0), r"bounds must be \(xmin, ymin, xmax, ymax\)"),
        (lambda: Grid.covering((0, 0, 1e5, 1e5), 1000.0, margin_m="x"), r"margin_m must be a number of metres"),
        (lambda: Grid.covering((0, 0, 1e5, 1e5), 1000.0, min_side_px=None), r"min_side_px must be a whole number"),
    ],
)
def test_grid_construction_names_an_argument_of_the_wrong_type(call, match):
    _raises(call, match)


@pytest.mark.parametrize("km", [None, "5", math.inf, True])
def test_km_to_px_refuses_what_is_not_a_finite_distance(km, ds):
    _raises(lambda: ds.grid.km_to_px(km), r"distance must be positive km \(a finite number\)")


@pytest.mark.parametrize("x", [None, "100", [math.nan], ["a"]])
def test_rowcol_refuses_coordinates_that_are_not_finite_numbers(x, ds):
    _raises(lambda: ds.grid.rowcol(x, [0.0]), r"x must be finite coordinates in metres")


def test_rowcol_keeps_numbers_and_arrays(ds):
    row, col = ds.grid.rowcol([ds.grid.xmin + 1.0], [ds.grid.ymax - 1.0])
    assert row.tolist() == [0] and col.tolist() == [0]


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda ds: tiles.tile_origin(None, 0, 8, (10, 10)), r"row must be a whole number, got NoneType None"),
        (lambda ds: tiles.tile_origin(0, 0, "8", (10, 10)), r"tile_px must be a whole number, got str '8'"),
        (lambda ds: tiles.tile_origin(0, 0, -3, (10, 10)), r"tile_px must be a whole number of at least 1, got -3"),
        (lambda ds: tiles.tile_origin(0, 0, 8, None), r"grid_shape must be \(height, width\) in pixels"),
        (lambda ds: tiles.county_anchor(None, "19153"), NOT_A_DATASET),
        (lambda ds: tiles.county_anchor(ds, None), r"geoid must be a 5-digit county code"),
        (lambda ds: tiles.county_anchor(ds, 19153.0), r"geoid must be a 5-digit county code"),
        (lambda ds: tiles.county_monthly_inputs(ds, "19153", "2015"), r"year must be a whole number, got str '2015'"),
        (lambda ds: tiles.county_monthly_inputs(ds, "19153", 2015.7), r"year must be a whole number, got float 2015.7"),
        (lambda ds: tiles.county_monthly_inputs(ds, "19153", None), r"year must be a whole number, got NoneType None"),
        (lambda ds: tiles.anchor_tile_means(None), NOT_A_DATASET),
        (lambda ds: tiles.anchor_tile_means(ds, bands="ndvi"), r"bands must be a list or tuple"),
    ],
)
def test_tile_functions_name_an_argument_of_the_wrong_type(call, match, ds):
    _raises(lambda: call(ds), match)


def test_a_county_given_as_a_number_keeps_its_leading_zeros(ds):
    """1001 is county '01001' (not '1001', which no county has): an int geoid is read as the 5-digit code."""
    with pytest.raises(InputError, match=r"county '01001' is not in dataset"):
        tiles.county_anchor(ds, 1001)
    assert tiles.county_anchor(ds, 19153)["geoid"] == "19153"


AXIS = np.arange(3.0)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"length_km": 0.0}, r"length_km must be a positive number of km, got 0.0"),
        ({"length_km": "10"}, r"length_km must be a number of km, got str '10'"),
        ({"n_fields": -1}, r"n_fields must be a whole number of at least 1, got -1"),
        ({"rng": 5}, r"rng must be a numpy.random.Generator"),
        ({"x_m": None}, r"x_m must be a 1-D array of finite coordinates in metres"),
        ({"y_m": [0.0, math.nan]}, r"y_m must be a 1-D array of finite coordinates in metres"),
        ({"n_waves": 0}, r"n_waves must be a whole number of at least 1"),
        ({"dtype": "float32"}, r"dtype must be a numpy floating type"),
        ({"n_fields": 10**9}, r"too large to draw at once"),
    ],
)
def test_random_fields_name_an_argument_of_the_wrong_type(kwargs, match):
    args = {"x_m": AXIS, "y_m": AXIS, "length_km": 10.0, "n_fields": 1, "rng": np.random.default_rng(0), **kwargs}
    _raises(lambda: fields.random_fields(**args), match)


# ---- the simulation -------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"tile_px": "8"}, r"tile_px must be a whole number, got str '8'"),
        ({"first_year": None}, r"first_year must be a whole number, got NoneType None"),
        ({"first_year": 10**9, "last_year": 10**9}, r"first_year must be a year in 1900..2100"),
        ({"resolution_m": -5.0}, r"resolution_m must be a positive number of metres"),
        ({"labelled_per_year": -1}, r"labelled_per_year must be a whole number of at least 0"),
        ({"seed": 2.5}, r"seed must be a whole number, got float 2.5"),
        ({"states": "IA"}, r"states must be a tuple of two-letter postal codes"),
        ({"county_noise_bu": math.nan}, r"county_noise_bu must be a non-negative number of bu/acre"),
        ({"trend_bu_per_year": math.inf}, r"trend_bu_per_year must be a finite number"),
        ({"name": ""}, r"name is empty"),
    ],
)
def test_a_simulation_config_of_the_wrong_type_is_refused(kwargs, match):
    _raises(lambda: SimulationConfig(**kwargs), match)


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda ds: simulate(None), r"unknown simulation config NoneType None; expected one of \['demo', 'paper'\]"),
        (lambda ds: simulate(["demo"]), r"unknown simulation config list \['demo'\]"),
        (lambda ds: simulate("demo", progress="no"), r"progress must be True or False"),
        (lambda ds: county_raster(None, ds.grid), r"counties must be a GeoDataFrame with a CRS"),
        (lambda ds: county_raster(counties.load_counties(["IA"]), None), r"grid must be a geoapp.data.grid.Grid"),
    ],
)
def test_simulation_functions_name_an_argument_of_the_wrong_type(call, match, ds):
    _raises(lambda: call(ds), match)


# ---- GeoNames and the land mask ---------------------------------------------------------------------
@pytest.mark.parametrize(
    "call, match",
    [
        (lambda: geonames.country_of(None), r"latlon must be numbers in an \(N, 2\) array"),
        (lambda: geonames.places("40,-90"), r"latlon must be numbers in an \(N, 2\) array"),
        (lambda: geonames.places([["40", "-90"]]), r"latlon must be numbers in an \(N, 2\) array"),
        (lambda: geonames.country_of([[40.0, -90.0]], max_km=None), r"max_km must be a number of kilometres"),
        (lambda: geonames.places([[40.0, -90.0]], max_km=True), r"max_km must be a number of kilometres, got bool True"),
        (lambda: land.is_land(None, None), r"lat must be a number of degrees or an array of them, got NoneType"),
        (lambda: land.is_land("40", "-90"), r"lat must be a number of degrees .* got str '40'"),
        (lambda: land.is_land(True, 0.0), r"lat must be a number of degrees .* got bool True"),
        (lambda: land.sample_land_points(10**12), r"n must be at most 50,000,000 points"),
        (lambda: land.sample_land_points(5, seed="a"), r"seed must be a whole number, got str 'a'"),
        (lambda: land.sample_land_points(5, seed=-1), r"seed must be a whole number of at least 0"),
        (lambda: land.sample_land_points(5, exclude_antarctica="no"), r"exclude_antarctica must be True or False"),
        (lambda: land.fibonacci_sphere(10, lon_offset_deg="x"), r"lon_offset_deg must be a number of degrees"),
        (lambda: land.fibonacci_sphere(10, lon_offset_deg=math.nan), r"lon_offset_deg must be a finite number"),
        (lambda: land.fibonacci_sphere(10**12), r"m must be at most 200,000,000 points"),
        (lambda: land.fibonacci_land_points(5, seed="a"), r"seed must be a whole number, got str 'a'"),
        (lambda: land.fibonacci_land_points(10**12), r"n must be at most 50,000,000 points"),
    ],
)
def test_place_and_land_functions_name_an_argument_of_the_wrong_type(call, match):
    _raises(call, match)


def test_land_sampling_still_takes_a_generator_and_numbers():
    assert land.sample_land_points(3, seed=np.random.default_rng(0)).shape == (3, 2)
    assert land.is_land(np.array([40.0]), [-90]).tolist() == [True]


# ---- samplers -------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "call, match",
    [
        (lambda ds: QuadrupletSampler(None, 8), r"grid must be a geoapp.data.grid.Grid \(e.g. ds.grid\), got NoneType"),
        (lambda ds: QuadrupletSampler(ds.grid, 8, r_n=True, r_d=100.0), r"r_n must be a positive number of km, got True"),
        (lambda ds: QuadrupletSampler(ds.grid, 8, max_rounds=10**12), r"max_rounds must be an int >= 1 and at most 1000"),
        (lambda ds: QuadrupletSampler(ds.grid, 8, n_years=True), r"n_years must be a positive int or None"),
        (lambda ds: QuadrupletSampler.from_dataset(None), NOT_A_DATASET),
        (lambda ds: QuadrupletSampler.from_dataset(ds, mask="yes"), r"mask must be True or False"),
        (lambda ds: gather_tiles(None, np.zeros((1, 2), int), 8), r"array must be a numpy array or torch tensor"),
        (lambda ds: gather_tiles(np.zeros((10, 10)), None, 8), r"origins must be integers of shape \(N, 2\)"),
        (lambda ds: gather_tiles(np.zeros((10, 10)), np.zeros((1, 2), int), True), r"tile_px must be an int in 1..10"),
        (lambda ds: valid_pixel_mask(None), r"cube must be an xarray Dataset"),
        (lambda ds: neighbour_region(-1), r"r_n must be a whole number of at least 1, got -1"),
        (lambda ds: neighbour_region("3"), r"r_n must be a whole number, got str '3'"),
        (lambda ds: distant_region(3, 2, "ring"), r"r_d must exceed r_n"),
        (lambda ds: distant_region(3, 6, None), r"kind must be one of \['ring', 'corners'\]"),
    ],
)
def test_sampler_functions_name_an_argument_of_the_wrong_type(call, match, ds):
    _raises(lambda: call(ds), match)


def test_a_distant_region_named_by_its_value_is_that_region():
    """'corners' given as text used to fall through to the ring: the wrong region, returned as valid."""
    assert distant_region(3, 6, "corners") == distant_region(3, 6, DistantRegion.CORNERS)
    assert distant_region(3, 6, "corners") != distant_region(3, 6, "ring")


# ---- training: tiles, years, scores ---------------------------------------------------------------
@pytest.mark.parametrize(
    "call, match",
    [
        (lambda ds, src: YieldTileSource(None, None), NOT_A_DATASET),
        (lambda ds, src: YieldTileSource(ds, 2012), r"train_years must be a list of whole years .* got int 2012"),
        (lambda ds, src: YieldTileSource(ds, [2012], bands="ndvi"), r"bands must be a list or tuple"),
        (lambda ds, src: YieldTileSource(ds, [2012], stats=(1, 2)), r"stats must be a \(mean, std\) pair of 7 x 9 arrays"),
        (lambda ds, src: YieldTileSource(ds, [2012], years=[]), r"years is empty"),
        (lambda ds, src: src.examples(2015), r"years must be a list of whole years .* got int 2015"),
        (lambda ds, src: src.examples(["2015"]), r"year must be a whole number, got str '2015'"),
        (lambda ds, src: src.anchor_tiles(None), r"ex must be Examples from YieldTileSource.examples\(\)"),
        (lambda ds, src: src.anchor_tiles(src.examples([2015]), np.array([10**9])), r"idx holds positions outside"),
        (lambda ds, src: src.anchor_tiles(src.examples([2015]), np.array([0.5])), r"idx must be a 1-D array of whole"),
        (lambda ds, src: src.anchor_tiles(src.examples([2015]), mask_group=["VI"]), r"unknown feature group \['VI'\]"),
        (lambda ds, src: src.context_tiles(src.examples([2015]), np.array([0]), None), r"sampler must be a geoapp"),
    ],
)
def test_the_tile_source_names_an_argument_of_the_wrong_type(call, match, ds, source):
    _raises(lambda: call(ds, source), match)


@pytest.mark.parametrize(
    "args, match",
    [
        ((None, 2, range(2010, 2020)), r"test_year must be a whole number, got NoneType None"),
        (("3", 2, range(2010, 2020)), r"test_year must be a whole number, got str '3'"),
        ((2015, -1, range(2010, 2020)), r"n_train_years must be a whole number of at least 1, got -1"),
        ((2015, 0, range(2010, 2020)), r"n_train_years must be a whole number of at least 1, got 0"),
        ((2015, 2, None), r"available must be a list of whole years"),
        ((2015, 2, ["2013"]), r"available year must be a whole number, got str '2013'"),
        ((2015, 10**18, range(2010, 2020)), r"needs years .*; the dataset lacks 999,999,999,999,999,99\d of them"),
    ],
)
def test_nested_years_refuses_what_leaves_no_training_years(args, match):
    _raises(lambda: nested_years(*args), match)


def test_nested_years_still_names_the_missing_years():
    with pytest.raises(
        InputError, match=r"needs years 2005..2016; the dataset lacks \[2005, 2006, 2007, 2008, 2009, 2010, 2011\]"
    ):
        nested_years(2016, 10, list(range(2012, 2017)))
    assert nested_years(2015, 2, list(range(2012, 2017))) == ([2012, 2013], 2014, 2015)


@pytest.mark.parametrize(
    "y, p, match",
    [
        (None, None, r"y must be a 1-D array of yields \(bu/acre\), got NoneType None"),
        (np.ones(3), np.ones(5), r"y and p must hold one prediction per target, got 3 targets and 5 predictions"),
        (["a"], ["b"], r"y must be a 1-D array of yields"),
        ([[1.0, 2.0]], [[1.0, 2.0]], r"y must be a 1-D array of yields \(bu/acre\), got an array of shape \(1, 2\)"),
        (np.ones(2), "12", r"p must be a 1-D array of yields"),
    ],
)
def test_rmse_r2_refuses_arrays_that_do_not_pair_up(y, p, match):
    _raises(lambda: rmse_r2(y, p), match)


def test_rmse_r2_of_matching_arrays_and_of_none_scored():
    rmse, r2 = rmse_r2([1.0, 2.0, 3.0], [1.0, 2.0, 4.0])
    assert rmse == pytest.approx(math.sqrt(1 / 3)) and r2 == pytest.approx(0.5)
    assert all(math.isnan(v) for v in rmse_r2([], []))


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda ds, out: train_yield(None, ds, out), r"cfg must be a YieldTrainConfig"),
        (lambda ds, out: train_yield(YieldTrainConfig(test_year=2015, n_train_years=2), None, out), NOT_A_DATASET),
        (lambda ds, out: train_yield(YieldTrainConfig(test_year=2015, n_train_years=2), ds, None), r"out_dir must be a path"),
        (lambda ds, out: train_yield(YieldTrainConfig(test_year=2015, n_train_years=2), ds, out, force="no"), r"force must"),
        (lambda ds, out: train_yield(YieldTrainConfig(test_year=2015, n_train_years=2), ds, out, monitor=5), r"monitor must"),
        (lambda ds, out: YieldTrainConfig(test_year=10**30), r"test_year must be a year in 1900..2100"),
        (lambda ds, out: train_ridge(ds, None, 2014, 2015, out), r"train_years must be a list of whole years"),
        (lambda ds, out: train_ridge(ds, [2012, 2013], "2014", 2015, out), r"year must be a whole number, got str '2014'"),
        (lambda ds, out: train_ridge(None, [2012], 2014, 2015, out), NOT_A_DATASET),
    ],
)
def test_trainers_refuse_arguments_of_the_wrong_type_before_any_work(call, match, ds, tmp_path):
    out = tmp_path / "run"
    _raises(lambda: call(ds, out), match)
    assert not out.exists()


def test_predict_examples_names_an_argument_of_the_wrong_type(source):
    ex = source.examples([2015])
    _raises(lambda: predict_examples(None, source, ex, torch.device("cpu")), r"model must be a YieldModel")


# ---- ridge ----------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "call, match",
    [
        (lambda ds, ck: evaluate_ridge(ck, None), NOT_A_DATASET),
        (lambda ds, ck: evaluate_ridge(None, ds), r"checkpoint must be a checkpoint folder path"),
        (lambda ds, ck: evaluate_ridge(ck, ds, "2015"), r"year must be a whole number, got str '2015'"),
        (lambda ds, ck: ridge_features(None, [2015]), NOT_A_DATASET),
        (lambda ds, ck: ridge_features(ds, None), r"years must be a list of whole years .* got NoneType None"),
        (lambda ds, ck: ridge_features(ds, 2015), r"years must be a list of whole years such as \[2015\], got int 2015"),
        (lambda ds, ck: ridge_features(ds, "2015"), r"years must be a list of whole years .* got str '2015'"),
        (lambda ds, ck: ridge_features(ds, [2015.0]), r"year must be a whole number, got float 2015.0"),
        (lambda ds, ck: load_ridge(None, {}, {}), r"folder must be a path \(str or os.PathLike\), got NoneType None"),
        (lambda ds, ck: load_ridge(ck, None, {}), r"weights must be a dict of tensors"),
        (lambda ds, ck: load_ridge(ck, {}, {}), r"card must be a ridge checkpoint card .* with a whole n_features"),
        (lambda ds, ck: RidgeRegression("63"), r"n_features must be a whole number, got str '63'"),
        (lambda ds, ck: RidgeRegression(-1), r"n_features must be a whole number of at least 1, got -1"),
        (lambda ds, ck: fit_ridge(None, None, None, None), r"x_train must be an \(N, F\) array of finite features"),
        (lambda ds, ck: fit_ridge(np.ones((5, 3)), np.ones(4), np.ones((2, 3)), np.ones(2)), r"y_train must hold one yield"),
        (lambda ds, ck: fit_ridge(np.ones((5, 3)), np.ones(5), np.ones((2, 4)), np.ones(2)), r"x_val has 4 features"),
        (lambda ds, ck: fit_ridge(np.ones((5, 3)), np.ones(5), np.ones((2, 3)), np.ones(2), alphas=[]), r"alphas must be"),
    ],
)
def test_ridge_functions_name_an_argument_of_the_wrong_type(call, match, ds, ridge):
    _raises(lambda: call(ds, ridge), match)


def test_load_yield_model_sends_ridge_to_the_registry_and_lists_only_attention_models(ridge):
    with pytest.raises(InputError) as info:
        load_yield_model(ridge)
    message = str(info.value)
    assert "is not an attention crop-yield model (kind 'ridge', model 'ridge')" in message
    assert "load_yield_checkpoint" in message and "evaluate_yield" in message
    assert "['semi-ha', 'semi-ha-loc', 's-ha', 'semi-sa']" in message and "'ridge']" not in message


def test_a_year_as_text_is_refused_by_the_analyses_that_took_it(ridge, ds):
    """dataset_year is the data layer's strict one: '2015' is text, not a year, everywhere."""
    for call in (
        lambda: what_if_ablation(ridge, ds, "2015"),
        lambda: evaluate_ridge(ridge, ds, "2015"),
        lambda: predictions_for_year(ridge, ds, "2015"),
        lambda: compare_on_year(ds, "2015"),
    ):
        _raises(call, r"year must be a whole number, got str '2015'")
    assert evaluate_ridge(ridge, ds, 2015)["year"] == 2015


# ---- metrics logs, results, devices ---------------------------------------------------------------
@pytest.mark.parametrize(
    "call, match",
    [
        (lambda p: MetricsLog(None), r"path must be a path \(str or os.PathLike\), got NoneType None"),
        (lambda p: read_metrics(None), r"path must be a path"),
        (lambda p: keep_epochs_before(p, "x"), r"epoch must be a whole number, got str 'x'"),
        (lambda p: keep_epochs_before(p, 0), r"epoch must be a whole number of at least 1, got 0"),
        (lambda p: MetricsLog(p).write(x=object()), r"the value\(s\) of \['x'\] must be numbers or JSON values"),
        (lambda p: MetricsLog(p).write(x=np.ones(3)), r"the value\(s\) of \['x'\] must be numbers or JSON values"),
    ],
)
def test_metrics_logs_name_an_argument_of_the_wrong_type(call, match, tmp_path):
    path = tmp_path / "metrics.jsonl"
    path.write_text('{"epoch": 1}\n')
    _raises(lambda: call(path), match)
    assert path.read_text() == '{"epoch": 1}\n'  # nothing written, nothing dropped


def test_metrics_logs_write_numbers_and_skip_lines_that_are_not_records(tmp_path):
    path = tmp_path / "metrics.jsonl"
    MetricsLog(path).write(epoch=1, loss=np.float32(1.5), n=np.int64(3), t=torch.tensor(2.0))
    with open(path, "a") as f:
        f.write('5\n["a"]\n{"epoch": "2"}\n')
    assert [(r["loss"], r["n"], r["t"]) for r in read_metrics(path) if "loss" in r] == [(1.5, 3, 2.0)]
    assert len(read_metrics(path)) == 2  # the number and the list are not records
    keep_epochs_before(path, 2)
    assert [r["epoch"] for r in read_metrics(path)] == [1]  # an epoch that is not a whole number is dropped


@pytest.mark.parametrize(
    "result, match",
    [
        (None, r"result must be a dict with year, n \(counties scored\), rmse and r2, got NoneType None"),
        ({"year": 2015, "n": 3}, r"result must be a dict with year, n"),
        ({"year": 2015, "n": "3", "rmse": 1.0, "r2": 0.5}, r"result\['n'\] must be a whole number of counties"),
        ({"year": 2015, "n": 3, "rmse": "1.0", "r2": 0.5}, r"result\['rmse'\] must be a number, got str"),
    ],
)
def test_check_scores_names_a_result_of_the_wrong_type(result, match):
    _raises(lambda: check_scores(result, checkpoint="run/best", dataset="d"), match)


def test_check_scores_names_a_checkpoint_or_dataset_of_the_wrong_type():
    good = {"year": 2015, "n": 3, "rmse": 1.0, "r2": 0.5}
    _raises(lambda: check_scores(good, checkpoint=None, dataset="d"), r"checkpoint must be a path")
    _raises(lambda: check_scores(good, checkpoint="run/best", dataset=None), r"dataset must be text")
    assert check_scores(good, checkpoint="run/best", dataset="d") is good


@pytest.mark.parametrize("value", [None, "data/corn_belt_sim_tiny", object()])
def test_verify_dataset_refuses_what_it_cannot_check(value):
    """A dataset that cannot be checked against its files is never passed as checked."""
    _raises(lambda: verify_dataset(value), NOT_A_DATASET)


def test_verify_dataset_passes_a_loaded_dataset(ds):
    assert verify_dataset(ds) is None


@pytest.mark.parametrize("choice", [None, 5, ["cpu"], "tpu"])
def test_resolve_device_names_a_choice_of_the_wrong_type(choice):
    _raises(lambda: resolve_device(choice), r"device must be 'auto', 'cuda' or 'cpu', got ")


def test_devices_take_any_case_and_to_device_names_its_arguments():
    info = resolve_device(" CPU ")
    assert info.device.type == "cpu"
    _raises(lambda: to_device(None, info), r"tensor must be a torch.Tensor, got NoneType None")
    _raises(lambda: to_device(torch.zeros(1), "cpu"), r"info must be a DeviceInfo from resolve_device\(\)")


# ---- the result cache -----------------------------------------------------------------------------
@pytest.mark.parametrize(
    "call, match",
    [
        (lambda ds, ck: result_key("predictions", None, ds, 2015), r"checkpoint must be a path"),
        (lambda ds, ck: result_key(None, ck, ds, 2015), r"kind must be a result kind as a lowercase folder name"),
        (lambda ds, ck: result_key("../x", ck, ds, 2015), r"kind must be a result kind"),
        (lambda ds, ck: result_key("predictions", ck, ds, "2015"), r"year must be a whole number, got str '2015'"),
        (lambda ds, ck: result_key("predictions", ck, None, 2015), NOT_A_DATASET),
        (lambda ds, ck: result_key("predictions", ck, ds, 2015, version=None), r"version must be text"),
        (lambda ds, ck: cached("predictions", ck, ds, 2015, None), r"compute must be a function taking no arguments"),
        (lambda ds, ck: cached("predictions", ck, ds, 2015, lambda: [1]), r"parts must be a dict of named parts"),
        (lambda ds, ck: cache_root(None).__enter__(), r"path must be a path"),
        (lambda ds, ck: ResultCache().fresh(None), r"key must be a ResultKey from result_key\(\), got NoneType None"),
        (lambda ds, ck: ResultCache().load("x"), r"key must be a ResultKey"),
        (lambda ds, ck: ResultCache().save(result_key("predictions", ck, ds, 2015), None), r"parts must be a dict"),
        (lambda ds, ck: ResultCache(5), r"root must be a path"),
    ],
)
def test_the_result_cache_names_an_argument_of_the_wrong_type(call, match, ds, ridge):
    _raises(lambda: call(ds, ridge), match)


def test_without_the_cache_the_same_arguments_are_refused(ds, ridge):
    with no_cache():
        _raises(lambda: cached("predictions", ridge, ds, "2015", lambda: {}), r"year must be a whole number")
        assert cached("predictions", ridge, ds, 2015, lambda: {"n": 1}) == {"n": 1}


def test_errors_here_are_geoapp_errors_and_value_errors():
    with pytest.raises(GeoappError):
        check_bands(None)
    with pytest.raises(ValueError):
        resolve_device(None)
