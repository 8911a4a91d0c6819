"""Tests for geoapp.viz.maps: offline county choropleths (no CDN, per-feature geoid and fill), state borders and labels."""

from __future__ import annotations

import json
import re

import numpy as np
import pandas as pd
import pytest

from geoapp.data.counties import simplified_geojson_path, state_outlines_geojson_path
from geoapp.viz.colors import NO_DATA_COLOR, ColorScale
from geoapp.viz.maps import (
    STATE_BORDER_COLOR,
    OfflineMap,
    add_state_outlines,
    county_choropleth,
    geojson_bounds,
    load_geojson,
)
from geoapp.viz.offline_assets import LEAFLET_CSS_URL, LEAFLET_JS_URL

CDN_HOSTS = ("cdn.jsdelivr", "code.jquery.com", "bootstrapcdn", "cdnjs.cloudflare.com", "unpkg.com", "openstreetmap")


@pytest.fixture(scope="module")
def iowa_geojson(tmp_path_factory) -> dict:
    mp = pytest.MonkeyPatch()
    mp.setenv("GEOAPP_DATA_DIR", str(tmp_path_factory.mktemp("data")))
    try:
        return load_geojson(simplified_geojson_path(["IA"]))
    finally:
        mp.undo()


@pytest.fixture(scope="module")
def values(iowa_geojson) -> pd.Series:
    geoids = [f["properties"]["geoid"] for f in iowa_geojson["features"]]
    rng = np.random.default_rng(0)
    s = pd.Series(rng.uniform(30.0, 70.0, len(geoids)), index=geoids)
    return s.iloc[::2]  # every other county has no value


def embedded_feature_collection(html: str) -> dict:
    m = re.search(r"_add\((\{.*\})\);", html)
    assert m, "no GeoJSON data in the rendered map"
    return json.loads(m.group(1))


def test_load_geojson(iowa_geojson):
    assert iowa_geojson["type"] == "FeatureCollection"
    assert len(iowa_geojson["features"]) == 99


def test_choropleth_renders_offline(iowa_geojson, values):
    scale = ColorScale("Viridis", 30.0, 70.0, "Yield (bu/acre)")
    m = county_choropleth(iowa_geojson, values, scale, value_label="Yield (bu/acre)")
    assert isinstance(m, OfflineMap)
    html = m.get_root().render()
    assert f'src="{LEAFLET_JS_URL}"' in html and LEAFLET_JS_URL == "/app/static/leaflet/leaflet.js"
    assert f'href="{LEAFLET_CSS_URL}"' in html
    for host in CDN_HOSTS:
        assert host not in html, host
    assert not re.search(r"""(src|href)=["']https?://""", html)
    assert "jquery" not in html.lower() and "bootstrap" not in html.lower()
    assert "Yield (bu/acre)" in html  # tooltip alias


def test_every_feature_carries_geoid_and_fill(iowa_geojson, values):
    scale = ColorScale("Viridis", 30.0, 70.0, "Yield (bu/acre)")
    html = county_choropleth(iowa_geojson, values, scale).get_root().render()
    fc = embedded_feature_collection(html)
    assert len(fc["features"]) == 99
    n_data = 0
    for f in fc["features"]:
        p = f["properties"]
        assert f["id"] == p["geoid"] and re.fullmatch(r"19\d{3}", p["geoid"])
        v = values.get(p["geoid"], np.nan)
        if np.isfinite(v):
            n_data += 1
            assert p["fill"] == scale.colors([v])[0]
            assert p["display"] == f"{v:.1f}"
        else:
            assert p["fill"] == NO_DATA_COLOR and p["display"] == "no data"
        assert p["selected"] is False
    assert n_data == len(values) == 50
    # every distinct fill shows up in the style function
    for fill in {f["properties"]["fill"] for f in fc["features"]}:
        assert f'"fillColor": "{fill}"' in html


def test_input_geojson_is_not_modified(iowa_geojson, values):
    before = json.dumps(iowa_geojson, sort_keys=True)
    county_choropleth(iowa_geojson, values, ColorScale("Viridis", 30.0, 70.0, "x"))
    assert json.dumps(iowa_geojson, sort_keys=True) == before
    assert "fill" not in iowa_geojson["features"][0]["properties"]


def test_selected_county_is_outlined(iowa_geojson, values):
    html = county_choropleth(iowa_geojson, values, ColorScale("Viridis", 30.0, 70.0, "x"), selected="19153").get_root().render()
    fc = embedded_feature_collection(html)
    sel = [f["id"] for f in fc["features"] if f["properties"]["selected"]]
    assert sel == ["19153"]
    m = re.search(r'case "19153":\s*return (\{[^}]*\})', html)
    assert m, "no style case for the selected county"
    style = json.loads(m.group(1))
    assert style["color"] == "#111111" and style["weight"] == 2.5


def test_map_fits_the_counties(iowa_geojson, values):
    (south, west), (north, east) = geojson_bounds(iowa_geojson)
    assert 40.3 < south < 40.5 and 43.4 < north < 43.6 and -96.7 < west < -96.5 and -90.2 < east < -90.0
    html = county_choropleth(iowa_geojson, values, ColorScale("Viridis", 30.0, 70.0, "x")).get_root().render()
    assert "fitBounds" in html and f"[[{south}, {west}], [{north}, {east}]]" in html


def test_values_without_counties_are_ignored(iowa_geojson):
    s = pd.Series({"17031": 99.0, "19001": 50.0})  # Cook, IL is not on the Iowa map
    html = county_choropleth(iowa_geojson, s, ColorScale("Viridis", 0.0, 100.0, "x")).get_root().render()
    fc = embedded_feature_collection(html)
    fills = {f["id"]: f["properties"]["fill"] for f in fc["features"]}
    assert "17031" not in fills
    assert fills["19001"] != NO_DATA_COLOR
    assert sum(c != NO_DATA_COLOR for c in fills.values()) == 1


@pytest.fixture(scope="module")
def state_outlines(tmp_path_factory) -> dict:
    mp = pytest.MonkeyPatch()
    mp.setenv("GEOAPP_DATA_DIR", str(tmp_path_factory.mktemp("data")))
    try:
        path = state_outlines_geojson_path(["IA", "IL", "MN"])
        assert path == state_outlines_geojson_path(["IA", "IL", "MN"])  # cached on disk
        return load_geojson(path)
    finally:
        mp.undo()


def test_state_outlines_are_one_small_feature_per_state_with_a_label_inside(state_outlines):
    from shapely.geometry import Point, shape

    assert [f["id"] for f in state_outlines["features"]] == ["IA", "IL", "MN"]
    assert len(json.dumps(state_outlines)) < 40_000  # simplified: small next to the counties' GeoJSON
    for f in state_outlines["features"]:
        p = f["properties"]
        geom = shape(f["geometry"])
        assert geom.is_valid and geom.contains(Point(p["label_lon"], p["label_lat"]))
    iowa = shape(state_outlines["features"][0]["geometry"])
    (south, west), (north, east) = [[iowa.bounds[1], iowa.bounds[0]], [iowa.bounds[3], iowa.bounds[2]]]
    assert 40.3 < south < 40.5 and 43.4 < north < 43.6 and -96.7 < west < -96.5 and -90.2 < east < -90.0


def test_state_borders_and_labels_are_drawn_above_the_counties_and_take_no_clicks(iowa_geojson, values, state_outlines):
    m = county_choropleth(iowa_geojson, values, ColorScale("Viridis", 30.0, 70.0, "x"), states=state_outlines)
    html = m.get_root().render()
    collections = [json.loads(c) for c in re.findall(r"_add\((\{.*\})\);", html)]
    assert [len(c["features"]) for c in collections] == [99, 3]  # counties first, the borders above them
    borders = re.search(r'"interactive": false', html)
    assert borders, "the state borders must not catch clicks meant for the counties"
    assert f'"color": "{STATE_BORDER_COLOR}"' in html and '"fill": false' in html
    labels = re.findall(r"\\u003e([A-Z]{2})\\u003c/div", html)
    assert labels == ["IA", "IL", "MN"]
    for host in CDN_HOSTS:
        assert host not in html, host


def test_no_state_outlines_unless_asked(iowa_geojson, values):
    html = county_choropleth(iowa_geojson, values, ColorScale("Viridis", 30.0, 70.0, "x")).get_root().render()
    assert len(re.findall(r"_add\((\{.*\})\);", html)) == 1 and "divIcon" not in html


def test_markers_take_leaflets_images_from_the_static_folder(iowa_geojson, values, state_outlines):
    """The default icon's folder is set before any marker is made: no request for /app/static/leafletmarker-icon.png."""
    from streamlit_folium import generate_leaflet_string

    from geoapp.viz.maps import OfflineLeafmap
    from geoapp.viz.offline_assets import LEAFLET_IMAGES_URL

    assert LEAFLET_IMAGES_URL == "/app/static/leaflet/images/"
    setting = f'L.Icon.Default.prototype.options.imagePath = "{LEAFLET_IMAGES_URL}";'
    for make in (
        lambda: county_choropleth(iowa_geojson, values, ColorScale("Viridis", 30.0, 70.0, "x"), states=state_outlines),
        lambda: add_state_outlines(OfflineLeafmap(location=(42.0, -93.0), zoom_start=5), state_outlines)._parent,
    ):
        html = make().get_root().render()  # the whole page, as folium writes it
        assert html.count(setting) == 1
        assert html.index(f'src="{LEAFLET_JS_URL}"') < html.index(setting) < html.index("L.marker(")
        m = make()
        m.get_root().render()
        script = generate_leaflet_string(m)  # what streamlit-folium runs once it has loaded Leaflet
        assert script.count(setting) == 1 and script.index(setting) < script.index("L.marker(")
        assert "leafletmarker" not in html + script
