"""Tests for geoapp.data.counties: county polygons of the study states and the simplified display GeoJSON."""

from __future__ import annotations

import json

import numpy as np
import pytest
import shapely

from geoapp.data.counties import (
    DEFAULT_STATES,
    STATE_FIPS,
    county_centroids,
    load_counties,
    simplified_counties,
    simplified_geojson_path,
)
from geoapp.data.study_area import STUDY_AREA_MARGIN_M, study_area_grid
from geoapp.errors import InputError


@pytest.fixture
def data_dir(tmp_path, monkeypatch):
    """Point GEOAPP_DATA_DIR at a temporary folder so caches are written there."""
    monkeypatch.setenv("GEOAPP_DATA_DIR", str(tmp_path))
    return tmp_path


def test_default_counties():
    gdf = load_counties()
    assert len(gdf) == 1175
    assert list(gdf.columns) == ["geoid", "name", "state", "geometry"]
    assert gdf.crs.to_epsg() == 4326
    assert set(gdf["state"]) == set(DEFAULT_STATES) and len(DEFAULT_STATES) == 13
    assert gdf["geoid"].map(type).eq(str).all()
    assert gdf["geoid"].str.fullmatch(r"\d{5}").all()
    assert gdf["geoid"].is_unique and gdf["geoid"].is_monotonic_increasing
    # the first two digits are the state's FIPS code
    assert (gdf["geoid"].str[:2] == gdf["state"].map(STATE_FIPS)).all()
    assert set(gdf.geometry.geom_type) <= {"Polygon", "MultiPolygon"}
    assert gdf.geometry.is_valid.all()
    # the Corn Belt, roughly
    xmin, ymin, xmax, ymax = gdf.total_bounds
    assert -105.0 < xmin < -103.0 and 35.5 < ymin < 36.5 and -81.0 < xmax < -80.0 and 48.0 < ymax < 50.0


def test_one_state():
    ia = load_counties(["IA"])
    assert len(ia) == 99
    assert (ia["state"] == "IA").all() and ia["geoid"].str.startswith("19").all()
    assert ia.loc[ia["geoid"] == "19001", "name"].item() == "Adair"
    # not a view of the cached frame: editing it does not change later loads
    ia.loc[0, "name"] = "changed"
    assert load_counties(["IA"]).loc[0, "name"] == "Adair"


@pytest.mark.parametrize("states", [["ia"], "ia", [" Ia "], ("IA",)])
def test_state_codes_are_normalised(states):
    assert len(load_counties(states)) == 99


def test_two_states_and_leading_zero_geoids():
    gdf = load_counties(["KY", "il"])
    assert len(gdf) == 120 + 102
    # states outside the default set with a leading-zero FIPS keep the zero
    al = load_counties(["AL"])
    assert len(al) == 67 and al["geoid"].str.startswith("01").all() and al["geoid"].str.len().eq(5).all()


@pytest.mark.parametrize("states, bad", [(["XX"], r"\['XX'\]"), (["IA", "ZZ"], r"\['ZZ'\]"), ([], r"\[\]")])
def test_unknown_state_is_refused(states, bad):
    with pytest.raises(InputError, match=rf"unknown state code\(s\) {bad}; expected two-letter postal codes"):
        load_counties(states)


def test_simplified_geojson_is_small_and_keyed_by_geoid(data_dir):
    path = simplified_geojson_path()
    assert path == data_dir / "cache" / "counties_default.geojson"
    assert path.stat().st_size < 1.5e6
    fc = json.loads(path.read_text())
    assert fc["type"] == "FeatureCollection"
    ids = [f["id"] for f in fc["features"]]
    assert ids == load_counties()["geoid"].tolist()
    for f in fc["features"]:
        assert f["properties"]["geoid"] == f["id"]
        assert set(f["properties"]) == {"geoid", "name", "state"}
        assert f["geometry"]["type"] in ("Polygon", "MultiPolygon")
    # no temporary files left beside the cache
    assert [p.name for p in (data_dir / "cache").iterdir()] == ["counties_default.geojson"]


def test_simplified_geojson_is_cached_per_state_set(data_dir):
    path = simplified_geojson_path(["IL", "ia"])
    assert path.name == "counties_IA-IL.geojson"
    assert simplified_geojson_path(["IA", "IL"]) == path
    path.write_text(path.read_text())  # rewrite with the same content: a new mtime
    mtime = path.stat().st_mtime_ns
    assert simplified_geojson_path(["IL", "IA"]).stat().st_mtime_ns == mtime  # not rebuilt
    assert len(json.loads(path.read_text())["features"]) == 99 + 102
    with pytest.raises(InputError, match=r"unknown state code"):
        simplified_geojson_path(["QQ"])


def test_coverage_simplification_keeps_neighbours_gap_free():
    orig = load_counties(["IA"]).to_crs("EPSG:5070")
    simple = simplified_counties(["IA"]).to_crs("EPSG:5070")
    assert simple["geoid"].tolist() == orig["geoid"].tolist()
    assert simple.geometry.is_valid.all() and not simple.geometry.is_empty.any()
    # fewer vertices ...
    assert (
        shapely.get_num_coordinates(simple.geometry.values).sum() < 0.6 * shapely.get_num_coordinates(orig.geometry.values).sum()
    )
    # ... but the union covers the same state, with no gaps (holes) opened between neighbours
    u_orig, u_simple = orig.union_all(), simple.union_all()
    assert u_simple.area == pytest.approx(u_orig.area, rel=0.01)
    assert shapely.get_num_interior_rings(u_simple) == shapely.get_num_interior_rings(u_orig)
    # and no overlaps: the counties' areas add up to the union's
    assert simple.area.sum() == pytest.approx(u_simple.area, rel=1e-6)
    # each county keeps about its area
    np.testing.assert_allclose(simple.area.to_numpy(), orig.area.to_numpy(), rtol=0.05)


def test_simplified_coordinates_rounded():
    simple = simplified_counties(["IA"])
    coords = shapely.get_coordinates(simple.geometry.values)
    np.testing.assert_allclose(coords, np.round(coords, 4), atol=1e-9)


def test_county_centroids():
    ia = load_counties(["IA"])
    cent = county_centroids(ia)
    assert cent.shape == (99, 2)
    lat, lon = cent[:, 0], cent[:, 1]
    assert ((40.3 < lat) & (lat < 43.6)).all() and ((-96.7 < lon) & (lon < -90.1)).all()
    # each centroid lies in its (convex enough) county
    polk = ia.index[ia["geoid"] == "19153"][0]  # Polk County (Des Moines)
    assert ia.geometry[polk].contains(shapely.Point(lon[polk], lat[polk]))


def test_study_area_grid_covers_counties_with_margin():
    g = study_area_grid(8000.0, ["IA"])
    xmin, ymin, xmax, ymax = load_counties(["IA"]).to_crs("EPSG:5070").total_bounds
    assert g.crs == "EPSG:5070" and g.resolution_m == 8000.0
    assert g.xmin <= xmin - STUDY_AREA_MARGIN_M < g.xmin + 8000.0
    assert g.ymax - 8000.0 < ymax + STUDY_AREA_MARGIN_M <= g.ymax
