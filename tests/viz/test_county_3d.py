"""The 3-D county deck: footprints simplified in EPSG:5070 and centred in km, heights, colours, errors named."""

from __future__ import annotations

import json

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely

from geoapp.data.counties import load_counties
from geoapp.errors import InputError
from geoapp.viz.colors import diverging_scale
from geoapp.viz.county_3d import KM_PER_BU, NO_DATA_RGB, county_3d_deck, county_footprints, state_paths


@pytest.fixture(scope="module")
def iowa() -> gpd.GeoDataFrame:
    return load_counties(["IA"])


def test_footprints_are_simplified_centred_km_with_one_part_per_polygon(iowa):
    fine, coarse = county_footprints(iowa, 0), county_footprints(iowa, 2000)
    assert set(coarse.geoids) == set(iowa["geoid"]) and len(coarse.parts) == len(coarse.geoids)

    def vertices(fp) -> int:
        return sum(len(ring) for part in fp.parts for ring in part)

    assert vertices(coarse) < vertices(fine) / 3  # simplification drops most vertices
    xy = np.concatenate([np.asarray(r) for p in coarse.parts for r in p])
    width, height = coarse.extent_km
    assert 480 < width < 560 and 300 < height < 380  # Iowa, about 520 x 340 km
    assert np.allclose(xy.min(axis=0) + xy.max(axis=0), 0, atol=1)  # centred on the origin
    polk = shapely.Polygon(coarse.parts[coarse.geoids.index("19153")][0])
    assert 1400 < polk.area < 1600  # km^2 in an equal-area CRS (Polk County: about 1,530 km^2)


def test_neighbours_share_their_simplified_border(iowa):
    fp = county_footprints(iowa, 2000)
    polk = shapely.Polygon(fp.parts[fp.geoids.index("19153")][0])
    story = shapely.Polygon(fp.parts[fp.geoids.index("19169")][0])  # Story County, north of Polk
    assert polk.intersection(story).length > 20  # a shared edge, km
    assert polk.intersection(story).area < 0.5  # and no overlap


def test_deck_heights_colours_and_grey_unknowns(iowa):
    fp = county_footprints(iowa, 2000)
    heights = pd.Series({"19153": 200.0, "19169": 180.0})
    errors = pd.Series({"19153": 5.0, "19169": np.nan})
    deck = county_3d_deck(fp, heights, errors, diverging_scale(np.array([-5.0, 5.0]), "error"), states=[[[0.0, 0.0], [1.0, 1.0]]])
    spec = json.loads(deck.to_json())
    assert "mapStyle" not in spec and spec["views"][0]["@@type"] == "OrbitView"
    data = {d["n"][-6:-1]: d for d in spec["layers"][1]["data"]}
    assert data["19153"]["e"] == pytest.approx(200 * KM_PER_BU) and data["19153"]["d"] == "5.0"
    assert data["19153"]["c"][0] > data["19153"]["c"][2]  # over-predicted: red on RdBu_r
    assert data["19169"]["c"] == NO_DATA_RGB and data["19169"]["d"] == "unknown"
    assert data["19001"]["e"] == 0 and data["19001"]["h"] == "unknown"  # no height: flat
    assert spec["layers"][0]["data"] == [{"p": [[0.0, 0.0], [1.0, 1.0]]}]
    assert "Error (predicted − true): {d}" in deck._tooltip["text"]
    scale = diverging_scale(np.array([-5.0, 5.0]), "e")
    noise_free = county_3d_deck(fp, heights, errors, scale, error_label="Error (predicted − noise-free)")
    assert "Error (predicted − noise-free): {d}" in noise_free._tooltip["text"]  # the tooltip says what the colour is


def test_state_paths_share_the_frame(iowa):
    fp = county_footprints(iowa, 2000)
    outline = gpd.GeoDataFrame({"state": ["IA"]}, geometry=[iowa.union_all()], crs="EPSG:4326")
    paths = state_paths(json.loads(outline.to_json()), fp.origin_m)
    xy = np.concatenate([np.asarray(p) for p in paths])
    assert np.allclose(xy.min(axis=0) + xy.max(axis=0), 0, atol=3)  # Iowa's border about the same origin
    assert state_paths({"features": []}, fp.origin_m) == []


def test_bad_inputs_are_named(iowa):
    with pytest.raises(InputError, match="GeoDataFrame with a 'geoid' column and a CRS"):
        county_footprints(pd.DataFrame({"geoid": ["19153"]}))
    with pytest.raises(InputError, match="no counties to draw"):
        county_footprints(iowa.iloc[:0])
    with pytest.raises(InputError, match="tolerance_m must be a number of metres >= 0; got -1"):
        county_footprints(iowa, -1)
    with pytest.raises(InputError, match="tolerance_m must be a number of metres >= 0; got 'x'"):
        county_footprints(iowa, "x")
    fp = county_footprints(iowa.iloc[:3], 2000)
    with pytest.raises(InputError, match="heights must be a pandas Series"):
        county_3d_deck(fp, {"19001": 1.0}, pd.Series(dtype=float), diverging_scale(np.zeros(1), "e"))
