"""geoapp.viz.county_layer: the base map is the same whatever is shown; the styles carry the colours,
values and selection; geoapp.viz.offline_assets.publish_geojson serves a GeoJSON under its digest."""

from __future__ import annotations

import json
import re

import folium
import numpy as np
import pandas as pd
import pytest
from streamlit_folium import _get_map_string

from geoapp.errors import InputError
from geoapp.viz.colors import NO_DATA_COLOR, ColorScale
from geoapp.viz.county_layer import CountyStyles, county_base_map, county_styles
from geoapp.viz.offline_assets import publish_geojson

GEOIDS = ["19153", "19169", "17031"]
BOUNDS = [[40.0, -96.0], [43.5, -87.5]]
STATES = {
    "type": "FeatureCollection",
    "features": [
        {
            "type": "Feature",
            "id": "IA",
            "properties": {"state": "IA", "label_lat": 42.0, "label_lon": -93.5},
            "geometry": {"type": "Polygon", "coordinates": [[[-96, 40.5], [-90, 40.5], [-90, 43.5], [-96, 43.5], [-96, 40.5]]]},
        }
    ],
}


def _payload(group) -> dict:
    (element,) = [c for c in group._children.values() if isinstance(c, CountyStyles)]
    return element.payload


def test_the_base_map_script_does_not_depend_on_what_is_shown():
    scripts = set()
    for _ in range(2):
        m = county_base_map("/app/static/geo/counties-0123.json", BOUNDS, states=STATES)
        m.get_root().render()
        scripts.add(re.sub(r"_[0-9a-f]{32}", "", _get_map_string(m)))
    assert len(scripts) == 1
    script = scripts.pop()
    assert '"/app/static/geo/counties-0123.json"' in script  # fetched, not embedded
    assert ".bringToFront()" in script  # the state borders stay above the counties once loaded
    assert '"interactive": false' in script and "IA" in script


def test_styles_colour_the_counties_with_a_value_and_outline_the_selected_one():
    scale = ColorScale("Viridis", 40.0, 60.0, "Yield (bu/acre)")
    values = pd.Series({"19153": 60.0, "19169": np.nan, "99999": 50.0})
    payload = _payload(county_styles(GEOIDS, values, scale, selected="19169"))
    assert set(payload["fill"]) == {"19153"} and payload["fill"]["19153"] == scale.colors(np.array([60.0]))[0]
    assert payload["display"] == {"19153": "60.0"}  # NaN and unmapped counties are "no data" in the browser
    assert payload["selected"] == "19169" and payload["label"] == "Yield (bu/acre)"
    other = _payload(county_styles(GEOIDS, values, scale, selected="19153"))
    assert other["styled"] != payload["styled"]  # a restyle changes every feature's digest
    assert _payload(county_styles(GEOIDS, values, scale, selected="19169"))["styled"] == payload["styled"]


def test_styles_render_into_the_group_script():
    scale = ColorScale("Viridis", 0.0, 1.0, "v")
    group = county_styles(GEOIDS, pd.Series({"17031": 0.5}), scale)
    m = county_base_map("/x.json", BOUNDS)
    group.add_to(m)
    html = m.get_root().render()
    assert '"selected": null' in html and json.dumps(NO_DATA_COLOR) in html
    assert "counties.layer.setStyle" in html


def test_publish_geojson_names_the_file_by_its_content(tmp_path):
    source = tmp_path / "c.geojson"
    source.write_text('{"type": "FeatureCollection", "features": []}', encoding="utf-8")
    url = publish_geojson(source, "counties", target=tmp_path / "static")
    name = url.rsplit("/", 1)[1]
    assert url.startswith("/app/static/geo/counties-") and re.fullmatch(r"counties-[0-9a-f]{16}\.json", name)
    assert (tmp_path / "static" / "geo" / name).read_bytes() == source.read_bytes()
    assert (tmp_path / "static" / "geo" / ".gitignore").read_text().splitlines()[-1] == "*"
    assert publish_geojson(source, "counties", target=tmp_path / "static") == url
    source.write_text('{"type": "FeatureCollection", "features": [], "x": 1}', encoding="utf-8")
    assert publish_geojson(source, "counties", target=tmp_path / "static") != url
    with pytest.raises(InputError, match="stem '../x'"):
        publish_geojson(source, "../x", target=tmp_path / "static")


def test_the_county_map_is_a_leafmap_map_that_loads_nothing_from_another_host():
    import leafmap.foliumap

    from geoapp.viz.maps import external_assets

    for split in (False, True):
        m = county_base_map("/x.json", BOUNDS, states=STATES, split=split)
        assert isinstance(m, leafmap.foliumap.Map)
        assert external_assets(m) == []
        html = m.get_root().render()
        assert not re.findall(r'(?:src|href)="(?!/app/static/)[^"]*"', html)


def test_a_split_map_feeds_two_panes_from_one_fetch_under_a_swipe_control():
    m = county_base_map("/app/static/geo/counties-0123.json", BOUNDS, states=STATES, split=True)
    m.get_root().render()
    script = _get_map_string(m)
    assert script.count('fetch("/app/static/geo/counties-0123.json")') == 1
    assert 'countyLayer("left", "geoapp-counties")' in script and 'countyLayer("right", "geoapp-counties-right")' in script
    assert "L.control.sideBySide(counties.layer, counties.right)" in script
    assert 'createPane(\n                "geoapp-outlines")' in script and "pointerEvents = 'none'" in script
    single = county_base_map("/app/static/geo/counties-0123.json", BOUNDS, states=STATES)
    single.get_root().render()
    assert "sideBySide" not in _get_map_string(single)


def test_styles_carry_the_right_side_of_a_swipe():
    scale = ColorScale("Viridis", 40.0, 60.0, "Yield (bu/acre)")
    pred = ColorScale("Viridis", 40.0, 60.0, "Predicted yield (bu/acre)")
    payload = _payload(
        county_styles(
            GEOIDS, pd.Series({"19153": 45.0}), scale, right=(pd.Series({"19153": 55.0}), pred), sides=("True", "Predicted")
        )
    )
    assert payload["display"] == {"19153": "45.0"} and payload["right"]["display"] == {"19153": "55.0"}
    assert payload["right"]["label"] == "Predicted yield (bu/acre)" and payload["sides"] == ["True", "Predicted"]
    assert payload["right"]["fill"]["19153"] != payload["fill"]["19153"]


def test_an_input_overlay_goes_under_the_counties_which_become_outlines():
    from folium.raster_layers import ImageOverlay

    from geoapp.viz.colors import sequential_scale
    from geoapp.viz.county_layer import OUTLINE_ONLY_STYLE, input_overlay
    from geoapp.viz.input_layer import BandImage

    palette = np.zeros((256, 3), dtype=np.uint8)
    bounds = [[40.0, -96.0], [43.0, -88.0]]
    image = BandImage(np.ones((4, 5), dtype=np.uint8), palette, bounds, sequential_scale([0, 1], "v"), "t")
    ring = [(41.0, -93.0), (41.0, -92.0), (42.0, -92.0), (41.0, -93.0)]
    group = county_styles(GEOIDS, pd.Series({"19153": 1.0}), ColorScale("Viridis", 0, 1, "v"), overlay=input_overlay(image, ring))
    (overlay,) = [c for c in group._children.values() if isinstance(c, ImageOverlay)]
    assert overlay.options["pane"] == "geoapp-inputs" and overlay.url.startswith("data:image/png;base64,")
    assert overlay.bounds == [[40.0, -96.0], [43.0, -88.0]]
    (outline,) = [c for c in group._children.values() if isinstance(c, folium.Polygon)]
    assert outline.options["pane"] == "geoapp-outlines" and outline.options["dashArray"] == "5 4"
    payload = _payload(group)
    assert payload["style"] == OUTLINE_ONLY_STYLE and payload["overlay"] == group.digest
    again = county_styles(GEOIDS, pd.Series({"19153": 1.0}), ColorScale("Viridis", 0, 1, "v"), overlay=input_overlay(image, None))
    assert _payload(again)["styled"] != payload["styled"]  # another overlay: another styling digest
