"""A county map whose polygons go to the browser once and are then only restyled.

A folium choropleth embeds every polygon (1,175 counties: about 1 MB of script) and its colours in
one script; any change of view, year or selection builds, sends and draws all of it again. Here the
map is split in two:

- :func:`county_base_map`: the parts that never change while a page is open. The county layer
  (:class:`CountyLayer`) fetches its polygons from a GeoJSON file the app serves itself (the
  browser keeps it after the first visit), so the map's script is a few kilobytes and the same on
  every run; the state borders and labels (:func:`geoapp.viz.maps.add_state_outlines`) sit above it.
- :func:`county_styles`: what does change, as a small layer group (:class:`CountyStyles`) holding
  one fill colour and one tooltip value per county, the selected county and the value's label. It
  is meant for streamlit-folium's ``feature_group_to_add``: the map stays mounted and the group's
  script restyles the loaded polygons in place.

Every feature keeps ``properties.geoid`` (a click maps back to a county), ``name``, ``state`` and,
once styled, ``display`` (the value as shown in the tooltip) and ``styled`` (a digest of the
styling, so that a click on the same county after a restyle still reads as a new click).
"""

from __future__ import annotations

import hashlib
import json

import folium
import numpy as np
import pandas as pd
from branca.element import MacroElement
from jinja2 import Template

from geoapp.viz.colors import NO_DATA_COLOR, ColorScale
from geoapp.viz.maps import CORN_BELT_CENTER, OfflineMap, add_state_outlines

__all__ = [
    "CountyLayer",
    "CountyStyles",
    "county_base_map",
    "county_styles",
    "SELECTED_STYLE",
    "COUNTY_STYLE",
]

COUNTY_STYLE = {"fillOpacity": 0.85, "color": "#ffffff", "weight": 0.3}
"""Style of every county but the selected one (its fill comes from the value)."""
SELECTED_STYLE = {"color": "#111111", "weight": 2.5}
"""Outline of the selected county."""
HIGHLIGHT_STYLE = {"weight": 2, "color": "#333333"}
"""Outline of the county under the mouse."""


class CountyLayer(MacroElement):
    """County polygons loaded from ``url`` (a GeoJSON FeatureCollection in EPSG:4326) into a Leaflet layer.

    The layer sits in ``window.geoappCounties`` (``layer``, ``loaded``, ``label``, ``style``, ``apply``;
    once styled also ``selected`` and ``styled``, the digest of the styling drawn), where
    :class:`CountyStyles` finds it. Until styled, every county is grey. Each feature shows a
    tooltip (county, state, GEOID and the value under its label) and is outlined under the mouse.
    The layers in ``above`` (e.g. state borders) are brought back above the counties once loaded.
    """

    _template = Template(
        """
{% macro script(this, kwargs) %}
(function () {
  var map = {{ this._parent.get_name() }};
  var counties = window.geoappCounties = window.geoappCounties || {};
  counties.loaded = false;
  counties.label = counties.label || "value";
  var base = {{ this.base_style|tojson }};
  var layer = L.geoJSON(null, {
    style: function (feature) { return counties.style ? counties.style(feature) : base; }
  });
  layer.bindTooltip(function (l) {
    var p = l.feature.properties, table = document.createElement("table");
    [["County", p.name], ["State", p.state], ["GEOID", p.geoid], [counties.label, p.display || "no data"]]
      .forEach(function (row) {
        var tr = table.insertRow(), th = document.createElement("th"), td = tr.insertCell(-1);
        th.textContent = row[0]; th.style.textAlign = "left"; th.style.paddingRight = "6px";
        tr.insertBefore(th, td); td.textContent = row[1];
      });
    return table;
  }, {sticky: true});
  layer.on("mouseover", function (e) { e.layer.setStyle({{ this.highlight|tojson }}); });
  layer.on("mouseout", function (e) { layer.resetStyle(e.layer); });
  layer.addTo(map);
  counties.layer = layer;
  fetch({{ this.url|tojson }})
    .then(function (r) {
      if (!r.ok) { throw new Error("cannot load the county polygons: " + r.status + " " + r.statusText); }
      return r.json();
    })
    .then(function (data) {
      layer.addData(data);
      counties.loaded = true;
      {%- for name in this.above %}
      {{ name }}.bringToFront();
      {%- endfor %}
      if (counties.apply) { counties.apply(); }
    })
    .catch(function (err) { console.error(err); });
})();
{% endmacro %}
"""
    )

    def __init__(self, url: str, above: list[str] | None = None) -> None:
        super().__init__()
        self._name = "CountyLayer"
        self.url = url
        self.above = list(above or [])
        self.base_style = {"fillColor": NO_DATA_COLOR, **COUNTY_STYLE}
        self.highlight = HIGHLIGHT_STYLE


class CountyStyles(MacroElement):
    """Restyles the :class:`CountyLayer` on the same map: fills, tooltip values, the selected outline.

    ``payload`` is ``{"fill": {geoid: css colour}, "display": {geoid: text}, "selected": geoid | None,
    "label": str, "styled": digest}``; counties it does not name are grey ("no data").
    """

    _template = Template(
        """
{% macro script(this, kwargs) %}
(function () {
  var counties = window.geoappCounties = window.geoappCounties || {};
  var payload = {{ this.payload|tojson }};
  var base = {{ this.base_style|tojson }}, selected = {{ this.selected_style|tojson }};
  counties.apply = function () {
    counties.label = payload.label;
    counties.selected = payload.selected;
    counties.style = function (feature) {
      var geoid = feature.properties.geoid, style = Object.assign({}, base);
      style.fillColor = payload.fill[geoid] || {{ this.no_data|tojson }};
      return geoid === payload.selected ? Object.assign(style, selected) : style;
    };
    if (!counties.loaded) { return; }
    counties.layer.eachLayer(function (l) {
      // A new properties object: a value streamlit-folium reported earlier shares the old one.
      var p = l.feature.properties;
      l.feature.properties = Object.assign({}, p, {display: payload.display[p.geoid] || "no data", styled: payload.styled});
    });
    counties.layer.setStyle(counties.style);
    counties.styled = payload.styled;
  };
  counties.apply();
})();
{% endmacro %}
"""
    )

    def __init__(self, payload: dict) -> None:
        super().__init__()
        self._name = "CountyStyles"
        self.payload = payload
        self.base_style = COUNTY_STYLE
        self.selected_style = SELECTED_STYLE
        self.no_data = NO_DATA_COLOR


def county_base_map(geojson_url: str, bounds: list[list[float]], states: dict | None = None, height: int = 520) -> OfflineMap:
    """The unchanging part of a county map: counties fetched from ``geojson_url``, state borders and labels.

    Args:
        geojson_url: URL of a FeatureCollection (EPSG:4326) whose features carry ``properties.geoid``,
            ``name`` and ``state`` (e.g. ``/app/static/...``, served by the app itself).
        bounds: [[south, west], [north, east]] degrees to fit the view to.
        states: state outlines to draw above the counties (:func:`geoapp.viz.maps.add_state_outlines`),
            or None for none.
        height: map height in pixels.
    """
    # Fractional zoom steps: the counties fill a narrow column too, not only a wide one.
    m = OfflineMap(
        location=CORN_BELT_CENTER, zoom_start=5, tiles=None, height=height, prefer_canvas=True, zoom_snap=0.25, zoom_delta=0.5
    )
    layer = CountyLayer(geojson_url)
    layer.add_to(m)
    if states is not None:
        borders = add_state_outlines(m, states)
        layer.above = [borders.get_name()]
    m.fit_bounds(bounds)
    return m


def county_styles(geoids: list[str], values: pd.Series, scale: ColorScale, selected: str | None = None) -> folium.FeatureGroup:
    """The layer group that colours the counties of a :func:`county_base_map` by ``values``.

    Args:
        geoids: the counties the map draws (5-character GEOIDs).
        values: value per county, indexed by geoid; counties without a finite value are grey ("no data").
        scale: colour scale of the fills; its ``label`` (with units) names the value in the tooltip.
        selected: geoid to outline, or None.
    """
    vals = values.reindex(geoids).to_numpy(dtype=float)
    finite = np.isfinite(vals)
    colours = scale.colors(vals)
    payload = {
        "fill": {g: c for g, c, ok in zip(geoids, colours, finite, strict=True) if ok},
        "display": {g: f"{v:.1f}" for g, v, ok in zip(geoids, vals, finite, strict=True) if ok},
        "selected": selected,
        "label": scale.label,
    }
    payload["styled"] = hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:16]
    group = folium.FeatureGroup(name="County values", control=False)
    CountyStyles(payload).add_to(group)
    return group
