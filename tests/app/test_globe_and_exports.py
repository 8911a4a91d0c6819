"""The similarity globe and the download buttons under AppTest, with the files read back.

AppTest does not serve files, so the tests record what each download button hands Streamlit's media
file manager (the bytes, or the callable a deferred button runs on click) and read that back with
pandas and rasterio.
"""

from __future__ import annotations

import io
import json

import numpy as np
import pandas as pd
import pytest
import rasterio
from rasterio.io import MemoryFile
from streamlit.runtime.media_file_manager import MediaFileManager
from streamlit.testing.v1 import AppTest

from geoapp.data.geodesy import haversine_km
from geoapp.viz.exports import SIMULATED_DATA
from geoapp.viz.globe import GLOBE_LAYERS
from tests.app.test_location_pages import _run, folium_stub  # noqa: F401 (a fixture)
from tests.app.test_pages import tiny_checkpoint  # noqa: F401 (a fixture)


@pytest.fixture()
def downloads(monkeypatch) -> dict[str, object]:
    """File name -> what a download button offers: bytes, or (deferred) the callable that builds them."""
    offered: dict[str, object] = {}
    add, add_deferred = MediaFileManager.add, MediaFileManager.add_deferred

    def record(self, path_or_data, mimetype, coordinates, file_name=None, is_for_static_download=False):
        if is_for_static_download:
            offered[file_name] = path_or_data
        return add(self, path_or_data, mimetype, coordinates, file_name, is_for_static_download)

    def record_deferred(self, data_callable, mimetype, coordinates, file_name=None, **kwargs):
        offered[file_name] = data_callable
        return add_deferred(self, data_callable, mimetype, coordinates, file_name, **kwargs)

    monkeypatch.setattr(MediaFileManager, "add", record)
    monkeypatch.setattr(MediaFileManager, "add_deferred", record_deferred)
    return offered


def _bytes(offered: object) -> bytes:
    return offered() if callable(offered) else offered


def _globe_spec(at: AppTest) -> dict:
    charts = at.get("deck_gl_json_chart")
    assert len(charts) == 1
    return json.loads(charts[0].proto.json)


# ---- Location similarity ---------------------------------------------------------------------------


def test_globe_toggle_draws_the_field_on_a_globe_beside_the_map(app_env, folium_stub):  # noqa: F811
    at = _run("pages/location_similarity.py")
    assert not at.exception and not at.error
    assert not at.get("deck_gl_json_chart")  # off until asked
    at.toggle(key="sim_globe").set_value(True).run()
    assert not at.exception and not at.error
    spec = _globe_spec(at)
    assert [v["@@type"] for v in spec["views"]] == ["_GlobeView"] and spec["views"][0]["controller"] is True
    assert "mapStyle" not in spec and "mapProvider" not in spec  # no base map to fetch
    layers = {layer["id"]: layer for layer in spec["layers"]}
    assert tuple(layers) == GLOBE_LAYERS
    field = layers["field"]["data"]
    assert len(field) == 100_000  # every gallery point
    assert len({tuple(d["c"]) for d in field}) > 100  # coloured by value, not one colour
    assert layers["reference"]["data"][0]["p"][:2] == pytest.approx([114.17, 22.32])  # Hong Kong, lon first
    assert spec["initialViewState"]["latitude"] == pytest.approx(22.32)
    assert len(folium_stub.maps) == 2  # the flat map is still drawn beside it

    # a click on the flat map moves the globe's reference too
    at.session_state["sim_map"] = {"last_clicked": {"lat": 48.85, "lng": 2.35}}
    at.run()
    assert not at.exception and not at.error
    layers = {layer["id"]: layer for layer in _globe_spec(at)["layers"]}
    assert layers["reference"]["data"][0]["p"][:2] == pytest.approx([2.35, 48.85])


def test_similarity_downloads_hold_the_field_named_by_encoder_gallery_and_reference(app_env, folium_stub, downloads):  # noqa: F811
    at = _run("pages/location_similarity.py")
    assert not at.exception and not at.error
    assert {b.key for b in at.download_button} == {"sim_csv", "sim_tif"}
    stem = "similarity_ours_land_ref_22.32N_114.17E"
    assert {f"{stem}.csv", f"{stem}.tif"} <= set(downloads)

    table = pd.read_csv(io.BytesIO(_bytes(downloads[f"{stem}.csv"])))
    assert list(table.columns) == ["lat", "lon", "similarity"] and len(table) == 100_000
    shown = at.dataframe[0].value  # the page's top-10 table
    top = table.nlargest(10, "similarity")
    assert top["similarity"].round(3).tolist() == pytest.approx(shown["similarity"].tolist())
    assert top["lat"].round(2).tolist() == pytest.approx(shown["lat"].tolist())

    with MemoryFile(_bytes(downloads[f"{stem}.tif"])) as mem, mem.open() as tif:
        assert tif.crs == rasterio.crs.CRS.from_epsg(4326) and tif.shape == (360, 720) and tif.res == (0.5, 0.5)
        assert "22.32" in tif.tags()["reference_lat"] and tif.tags()["encoder"].startswith("Ours")
        grid = tif.read(1)
        row, col = tif.index(114.17, 22.32)
        lat_c, lon_c = tif.xy(row, col)[1], tif.xy(row, col)[0]
    # the cell over Hong Kong holds the similarity of the gallery point nearest its centre
    near = int(np.argmin(haversine_km(lat_c, lon_c, table["lat"].to_numpy(), table["lon"].to_numpy())))
    assert grid[row, col] == pytest.approx(table["similarity"].iloc[near], abs=1e-5)
    assert 0.2 < np.isfinite(grid).mean() < 0.45  # land cells only (a land gallery)

    # a new reference renames the files
    at.session_state["sim_map"] = {"last_clicked": {"lat": 48.85, "lng": 2.35}}
    at.run()
    assert "similarity_ours_land_ref_48.85N_2.35E.csv" in downloads


# ---- Geolocalization -------------------------------------------------------------------------------


def test_geolocation_download_holds_the_top_k_with_errors(app_env, folium_stub, downloads):  # noqa: F811
    at = _run("pages/geolocalization.py")
    assert not at.exception and not at.error
    assert [b.key for b in at.download_button] == ["geo_csv"]
    (name,) = [n for n in downloads if n.startswith("geolocation_")]
    assert name.startswith("geolocation_top5_ours_blue_marble") and "_true_" in name and name.endswith(".csv")
    table = pd.read_csv(io.BytesIO(_bytes(downloads[name])))
    assert list(table.columns) == ["rank", "lat", "lon", "score", "error_km"]
    shown = at.dataframe[0].value
    assert table["rank"].tolist() == [1, 2, 3, 4, 5]
    assert table["lat"].round(2).tolist() == pytest.approx(shown["lat"].tolist())
    assert table["score"].round(3).tolist() == pytest.approx(shown["score"].tolist())
    assert np.abs(table["error_km"].to_numpy() - shown["error_km"].to_numpy()).max() <= 0.51


# ---- Feature ablation ------------------------------------------------------------------------------


def test_ablation_downloads_say_simulated_in_name_and_rows(tiny_checkpoint, monkeypatch, downloads):  # noqa: F811
    from tests.app.clicks import county_clicks

    county_clicks(monkeypatch)
    at = _run("pages/feature_ablation.py")
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert {b.key for b in at.download_button} == {"abl_csv_what-if", "abl_csv_what-if-per-county"}  # no retrained runs
    names = sorted(n for n in downloads if n.startswith("ablation_"))
    assert names == [
        "ablation_what-if-per-county_corn_belt_sim_tiny_s-ha-2016_2016_simulated.csv",
        "ablation_what-if_corn_belt_sim_tiny_s-ha-2016_2016_simulated.csv",
    ]
    summary = pd.read_csv(io.BytesIO(_bytes(downloads[names[1]])))
    assert list(summary.columns[:4]) == ["data", "dataset", "model_run", "year"]
    assert set(summary["data"]) == {SIMULATED_DATA} and set(summary["year"]) == {2016}
    shown = at.dataframe[0].value
    assert summary["group"].tolist() == shown["group"].tolist() == ["none (all inputs)", "VI", "LST", "PPT", "SOIL", "ELE"]
    assert summary["delta_rmse"].round(3).tolist() == pytest.approx(shown["delta_rmse"].tolist())
    per_county = pd.read_csv(io.BytesIO(_bytes(downloads[names[0]])), dtype={"geoid": str})
    assert set(per_county["data"]) == {SIMULATED_DATA} and per_county["geoid"].str.len().eq(5).all()


# ---- Yield map: predictions ------------------------------------------------------------------------


def test_yield_map_offers_the_predictions_as_csv_and_geojson(tiny_checkpoint, downloads, monkeypatch, tmp_path):  # noqa: F811
    import geopandas as gpd

    from tests.app.test_pages import _click

    _click(monkeypatch, None)
    at = _run("pages/yield_map.py")
    assert not at.exception and not at.error
    names = sorted(n for n in downloads if n.startswith("predictions_"))
    assert names == [
        "predictions_corn_belt_sim_tiny_s-ha-2016_2016_simulated.csv",
        "predictions_corn_belt_sim_tiny_s-ha-2016_2016_simulated.geojson",
    ], names
    csv = pd.read_csv(io.BytesIO(_bytes(downloads[names[0]])), dtype={"geoid": str})
    assert (csv["data"] == SIMULATED_DATA).all() and len(csv) > 100
    assert np.allclose(csv["error"], csv["predicted"] - csv["true"], atol=1e-4)
    path = tmp_path / "p.geojson"
    path.write_bytes(_bytes(downloads[names[1]]))
    back = gpd.read_file(path)
    assert len(back) == len(csv) and back.crs.to_epsg() == 4326
    assert set(back["geoid"]) == set(csv["geoid"])
