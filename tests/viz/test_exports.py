"""Download files: CSVs read back with pandas, GeoTIFFs with rasterio; names and simulated labels."""

from __future__ import annotations

import io

import numpy as np
import pandas as pd
import pytest
from rasterio.io import MemoryFile

from geoapp.data.geodesy import haversine_km
from geoapp.errors import InputError
from geoapp.viz.exports import (
    SIMULATED_DATA,
    ablation_csv,
    ablation_file_name,
    file_slug,
    geolocation_csv,
    geolocation_file_name,
    place_slug,
    similarity_csv,
    similarity_file_stem,
    similarity_geotiff,
)

POINTS = np.array([[0.0, 0.0], [45.2, 90.3], [-30.1, -60.4]])  # lat, lon
VALUES = np.array([1.0, 0.5, -0.2])


def _read_tif(data: bytes):
    with MemoryFile(data) as mem, mem.open() as src:
        return src.read(1), src.crs, src.transform, src.tags(), src.descriptions, src.nodata


def test_names_say_what_the_file_holds():
    assert place_slug(22.32, 114.17) == "22.32N_114.17E"
    assert place_slug(-1.0, -22.5) == "1.00S_22.50W"
    assert similarity_file_stem("ours", "land", (-1.0, 22.0)) == "similarity_ours_land_ref_1.00S_22.00E"
    assert file_slug("Blue Marble, 400 km, random held-out") == "blue_marble_400_km_random_held-out"
    assert file_slug("///") == "unnamed"
    assert geolocation_file_name("ours", "upload.tif", 5) == "geolocation_top5_ours_upload.tif.csv"
    assert geolocation_file_name("ours", "x", 3, (10.0, -20.0)) == "geolocation_top3_ours_x_true_10.00N_20.00W.csv"


def test_similarity_csv_round_trips():
    table = pd.read_csv(io.BytesIO(similarity_csv(POINTS, VALUES)))
    assert list(table.columns) == ["lat", "lon", "similarity"]
    np.testing.assert_allclose(table[["lat", "lon"]].to_numpy(), POINTS)
    np.testing.assert_allclose(table["similarity"], VALUES)


def test_similarity_csv_refuses_a_field_of_the_wrong_length():
    with pytest.raises(InputError, match="one number per point"):
        similarity_csv(POINTS, VALUES[:2])
    with pytest.raises(InputError, match="latitude must lie in"):
        similarity_csv([[95.0, 0.0]], [1.0])


def test_similarity_geotiff_puts_each_value_at_its_point_and_nodata_far_away():
    grid, crs, transform, tags, descriptions, nodata = _read_tif(
        similarity_geotiff(POINTS, VALUES, resolution_deg=1.0, max_km=150.0, tags={"encoder": "ours", "reference_lat": "1.5"})
    )
    assert crs.to_epsg() == 4326 and grid.shape == (180, 360) and grid.dtype == np.float32
    assert (transform.c, transform.f, transform.a, transform.e) == (-180.0, 90.0, 1.0, -1.0)
    assert tags["encoder"] == "ours" and tags["max_km"] == "150" and descriptions == ("cosine similarity",)
    assert np.isnan(nodata)
    for (lat, lon), value in zip(POINTS, VALUES, strict=True):
        row, col = int((90.0 - lat) // 1.0), int((lon + 180.0) // 1.0)
        assert grid[row, col] == pytest.approx(value)
    # every finite cell's centre lies within the cut-off of a point; the rest of the world is nodata
    rows, cols = np.nonzero(np.isfinite(grid))
    lat_c, lon_c = 89.5 - rows, -179.5 + cols
    nearest = np.min([haversine_km(lat_c, lon_c, la, lo) for la, lo in POINTS], axis=0)
    assert nearest.max() <= 150.0 and 3 <= len(rows) < 50


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"resolution_deg": 0.7}, "must divide 180"),
        ({"resolution_deg": 0.01}, "10\\^7 cells"),
        ({"resolution_deg": "1"}, "number of degrees"),
        ({"max_km": 0}, "positive number of km"),
        ({"max_km": float("nan")}, "positive number of km"),
    ],
)
def test_similarity_geotiff_refuses_bad_grids(kwargs, match):
    with pytest.raises(InputError, match=match):
        similarity_geotiff(POINTS, VALUES, **kwargs)


def test_geolocation_csv_with_and_without_the_true_place():
    preds = [(10.0, 20.0, 0.9), (-5.0, 100.0, 0.7)]
    known = pd.read_csv(io.BytesIO(geolocation_csv(preds, truth=(10.0, 21.0))))
    assert list(known.columns) == ["rank", "lat", "lon", "score", "error_km"]
    assert known["rank"].tolist() == [1, 2]
    assert known["error_km"].iloc[0] == pytest.approx(float(haversine_km(10.0, 21.0, 10.0, 20.0)), abs=0.05)
    unknown = pd.read_csv(io.BytesIO(geolocation_csv(preds)))
    assert list(unknown.columns) == ["rank", "lat", "lon", "score"]
    with pytest.raises(InputError, match="lat, lon, score"):
        geolocation_csv([(1.0, 2.0)])
    with pytest.raises(InputError, match="non-empty"):
        geolocation_csv([])


SUMMARY = pd.DataFrame({"group": ["none (all inputs)", "VI"], "rmse": [5.0, 6.5], "delta_rmse": [0.0, 1.5]})


def test_ablation_csv_carries_provenance_and_the_simulated_label():
    table = pd.read_csv(io.BytesIO(ablation_csv(SUMMARY, "corn_belt_sim_demo", True, "/c/yield/s-ha-2018/best", 2018)))
    assert list(table.columns) == ["data", "dataset", "model_run", "year", "group", "rmse", "delta_rmse"]
    assert set(table["data"]) == {SIMULATED_DATA} and "simulated" in SIMULATED_DATA
    assert set(table["model_run"]) == {"s-ha-2018"} and set(table["year"]) == {2018}
    pd.testing.assert_frame_equal(table[list(SUMMARY.columns)], SUMMARY)
    real = pd.read_csv(io.BytesIO(ablation_csv(SUMMARY, "ia_real", False, "/c/yield/s-ha-2018", 2018)))
    assert set(real["data"]) == {"real"}


def test_ablation_csv_keeps_an_agreeing_year_column_and_refuses_a_contradicting_one():
    per_county = pd.DataFrame({"geoid": ["19153", "17019"], "year": [2018, 2018], "VI_change": [1.0, -2.0]})
    table = pd.read_csv(io.BytesIO(ablation_csv(per_county, "d", True, "run", 2018)), dtype={"geoid": str})
    assert list(table.columns) == ["data", "dataset", "model_run", "year", "geoid", "VI_change"]
    with pytest.raises(InputError, match="'year' column holds"):
        ablation_csv(per_county, "d", True, "run", 2017)
    with pytest.raises(InputError, match="must be a pandas DataFrame"):
        ablation_csv(SUMMARY.to_dict(), "d", True, "run", 2018)


def test_ablation_file_names_say_simulated():
    assert ablation_file_name("what-if", "corn_belt_demo", True, "/c/yield/s-ha-2018/best", 2018) == (
        "ablation_what-if_corn_belt_demo_s-ha-2018_2018_simulated.csv"
    )
    assert ablation_file_name("retrained", "ia_real", False, "/c/yield/semi-ha-2017", 2017) == (
        "ablation_retrained_ia_real_semi-ha-2017_2017.csv"
    )


def test_predictions_read_back_as_csv_and_geojson(tmp_path):
    import geopandas as gpd
    from shapely.geometry import box

    from geoapp.viz.exports import predictions_csv, predictions_file_name, predictions_geojson

    table = pd.DataFrame(
        {"geoid": ["19001", "19003"], "year": [2018, 2018], "true": [50.0, 55.0], "predicted": [52.5, 54.0], "error": [2.5, -1.0]}
    )
    polygons = gpd.GeoDataFrame(
        {"geoid": ["19001", "19003", "19005"], "name": ["Adair", "Adams", "Allamakee"], "state": ["IA"] * 3},
        geometry=[box(-94.7, 41.2, -94.2, 41.5), box(-94.9, 40.9, -94.5, 41.2), box(-91.6, 43.1, -91.0, 43.5)],
        crs="EPSG:4326",
    )
    csv = pd.read_csv(io.BytesIO(predictions_csv(table, polygons, "demo", True, "checkpoints/yield/semi-ha-2018/best", 2018)))
    assert list(csv.columns) == ["data", "dataset", "model_run", "year", "geoid", "name", "state", "true", "predicted", "error"]
    assert csv["data"].str.startswith("simulated").all() and csv["model_run"].eq("semi-ha-2018").all()
    assert csv["name"].tolist() == ["Adair", "Adams"] and csv["error"].tolist() == [2.5, -1.0]
    path = tmp_path / "p.geojson"
    path.write_bytes(predictions_geojson(table, polygons, "demo", True, "checkpoints/yield/semi-ha-2018/best", 2018))
    back = gpd.read_file(path)
    assert len(back) == 2 and back.crs.to_epsg() == 4326
    assert back.set_index("geoid").loc["19001", "predicted"] == 52.5
    assert back.geometry.iloc[0].bounds == pytest.approx((-94.7, 41.2, -94.2, 41.5))
    name = predictions_file_name("geojson", "demo", True, "checkpoints/yield/semi-ha-2018/best", 2018)
    assert name == "predictions_demo_semi-ha-2018_2018_simulated.geojson"
    with pytest.raises(InputError, match="columns"):
        predictions_csv(table.drop(columns="error"), polygons, "demo", True, "x", 2018)


def test_a_per_county_ablation_csv_names_each_county():
    per_county = pd.DataFrame({"geoid": ["19153", "17019"], "VI_change": [1.0, -2.0]})
    counties = pd.DataFrame({"geoid": ["17019", "19153"], "name": ["Champaign", "Polk"], "state": ["IL", "IA"], "x": [0, 1]})
    table = pd.read_csv(io.BytesIO(ablation_csv(per_county, "d", True, "run", 2018, counties=counties)), dtype={"geoid": str})
    assert list(table.columns) == ["data", "dataset", "model_run", "year", "geoid", "name", "state", "VI_change"]
    assert table["name"].tolist() == ["Polk", "Champaign"] and table["VI_change"].tolist() == [1.0, -2.0]
    summary = pd.DataFrame({"group": ["VI"], "rmse": [5.0]})  # no geoid: unchanged
    assert "name" not in pd.read_csv(io.BytesIO(ablation_csv(summary, "d", True, "run", 2018, counties=counties))).columns
    with pytest.raises(InputError, match="counties must be a DataFrame with columns geoid, name and state"):
        ablation_csv(per_county, "d", True, "run", 2018, counties=counties[["geoid"]])
