"""A county map whose polygons go to the browser once and are then only restyled.

A folium choropleth embeds every polygon (1,175 counties: about 1 MB of script) and its colours in
one script; any change of view, year or selection builds, sends and draws all of it again. Here the
map is split in two:

- :func:`county_base_map`: the parts that never change while a page is open, on a leafmap map
  (:class:`geoapp.viz.maps.OfflineLeafmap`). The county layer (:class:`CountyLayer`) fetches its
  polygons from a GeoJSON file the app serves itself (the browser keeps it after the first visit),
  so the map's script is a few kilobytes and the same on every run; the state borders and labels
  (:func:`geoapp.viz.maps.add_state_outlines`) sit above it. With ``split=True`` the polygons feed
  two layers, left and right of a swipe divider (leaflet-side-by-side, the control leafmap's
  ``split_map`` uses, served from the app's static folder): true yields on the left, predicted on
  the right, one fetch for both.
- :func:`county_styles`: what does change, as a small layer group (:class:`CountyStyles`) holding
  one fill colour and one tooltip value per county (per side when split), the selected county and
  the value's label, and optionally an input band's image under the counties with the selected
  county's anchor tile outlined (:func:`input_overlay`). It is meant for streamlit-folium's
  ``feature_group_to_add``: the map stays mounted and the group's script restyles the loaded
  polygons in place.

Panes (z-order, bottom to top): the input image (``geoapp-inputs``), the counties
(``geoapp-counties``, and ``geoapp-counties-right`` when split), then the state borders and the
anchor tile outline (``geoapp-outlines``, which lets clicks through to the counties). The swipe
clips the two county panes, so each side keeps its own canvas and a click on either side reaches
a county of that side.

Every feature keeps ``properties.geoid`` (a click maps back to a county), ``name``, ``state`` and,
once styled, ``display`` (the value as shown in the tooltip) and ``styled`` (a digest of the
styling, so that a click on the same county after a restyle still reads as a new click).
"""

from __future__ import annotations

import hashlib
import json
from typing import Protocol

import folium
import numpy as np
import pandas as pd
from branca.element import MacroElement
from folium.elements import JSCSSMixin
from folium.map import CustomPane
from jinja2 import Template

from geoapp.viz.colors import NO_DATA_COLOR
from geoapp.viz.input_layer import BandImage
from geoapp.viz.maps import CORN_BELT_CENTER, OfflineLeafmap, add_state_outlines
from geoapp.viz.offline_assets import SIDE_BY_SIDE_CSS_URLS, SIDE_BY_SIDE_JS_URL

__all__ = [
    "CountyLayer",
    "CountyStyles",
    "Fills",
    "PANES",
    "county_base_map",
    "county_styles",
    "input_overlay",
    "SELECTED_STYLE",
    "COUNTY_STYLE",
    "OUTLINE_ONLY_STYLE",
]

PANES = {"inputs": ("geoapp-inputs", 380), "left": ("geoapp-counties", 410), "right": ("geoapp-counties-right", 420)}
"""Map panes: name and z-index of the input image and of the county layers (left, right)."""
OUTLINES_PANE = ("geoapp-outlines", 450)
"""The pane of the state borders and the anchor tile outline (it lets clicks through)."""

COUNTY_STYLE = {"fillOpacity": 0.85, "color": "#ffffff", "weight": 0.3}
"""Style of every county but the selected one (its fill comes from the value)."""
SELECTED_STYLE = {"color": "#111111", "weight": 2.5}
"""Outline of the selected county."""
HIGHLIGHT_STYLE = {"weight": 2, "color": "#333333"}
"""Outline of the county under the mouse."""
OUTLINE_ONLY_STYLE = {"fillOpacity": 0.0, "color": "#222222", "weight": 0.6}
"""Style of the counties over an input image: outlines only (still clickable)."""
ANCHOR_TILE_STYLE = {"color": "#d62728", "weight": 2.5, "fill": False, "dashArray": "5 4"}
"""Outline of the selected county's anchor tile."""


class Fills(Protocol):
    """What colours counties: :class:`geoapp.viz.colors.ColorScale` or :class:`geoapp.viz.classify.ClassedScale`."""

    label: str

    def colors(self, values: np.ndarray) -> list[str]:
        """One CSS colour per value."""


class CountyLayer(JSCSSMixin, MacroElement):
    """County polygons loaded from ``url`` (a GeoJSON FeatureCollection in EPSG:4326) into one or two Leaflet layers.

    The layers sit in ``window.geoappCounties`` (``layer``, and ``right`` when split; ``loaded``,
    ``label``, ``style``, ``apply``; once styled also ``selected`` and ``styled``, the digest of the
    styling drawn), where :class:`CountyStyles` finds them. Until styled, every county is grey. Each
    feature shows a tooltip (county, state, GEOID and the value of its side under its label) and is
    outlined under the mouse. The layers in ``above`` (e.g. state borders) are brought back above
    the counties once loaded.

    With ``split`` the right layer sits in its own pane above the left one and a leaflet-side-by-side
    control (``sbs``, loaded from the app's static folder) clips the two panes at its divider; the
    styles hide the right side and the divider when a view shows one value only.
    """

    _template = Template(
        """
{% macro script(this, kwargs) %}
(function () {
  var map = {{ this._parent.get_name() }};
  var counties = window.geoappCounties = window.geoappCounties || {};
  counties.loaded = false;
  counties.label = counties.label || "value";
  counties.labelRight = counties.labelRight || counties.label;
  var base = {{ this.base_style|tojson }};
  function countyLayer(side, pane) {
    var layer = L.geoJSON(null, {
      pane: pane,
      style: function (feature) { return counties.style ? counties.style(feature, side) : base; }
    });
    layer.bindTooltip(function (l) {
      var p = l.feature.properties, table = document.createElement("table");
      var value = side === "right" ? p.display_right : p.display;
      [["County", p.name], ["State", p.state], ["GEOID", p.geoid],
       [side === "right" ? counties.labelRight : counties.label, value || "no data"]]
        .forEach(function (row) {
          var tr = table.insertRow(), th = document.createElement("th"), td = tr.insertCell(-1);
          th.textContent = row[0]; th.style.textAlign = "left"; th.style.paddingRight = "6px";
          tr.insertBefore(th, td); td.textContent = row[1];
        });
      return table;
    }, {sticky: true});
    layer.on("mouseover", function (e) { e.layer.setStyle({{ this.highlight|tojson }}); });
    layer.on("mouseout", function (e) { layer.resetStyle(e.layer); });
    layer.getContainer = function () { return map.getPane(pane); };  // what the swipe control clips
    layer.addTo(map);
    return layer;
  }
  counties.layer = countyLayer("left", {{ this.panes.left|tojson }});
  counties.right = null;
  {%- if this.split %}
  counties.right = countyLayer("right", {{ this.panes.right|tojson }});
  counties.sbs = L.control.sideBySide(counties.layer, counties.right).addTo(map);
  counties.sides = ["topleft", "topright"].map(function (position) {
    var control = L.control({position: position});
    control.onAdd = function () {
      var div = L.DomUtil.create("div", "geoapp-side-label");
      div.style.cssText = "background:rgba(255,255,255,0.85);padding:2px 8px;border-radius:4px;font:600 13px sans-serif";
      return div;
    };
    return control.addTo(map);
  });
  {%- endif %}
  fetch({{ this.url|tojson }})
    .then(function (r) {
      if (!r.ok) { throw new Error("cannot load the county polygons: " + r.status + " " + r.statusText); }
      return r.json();
    })
    .then(function (data) {
      counties.layer.addData(data);
      if (counties.right) { counties.right.addData(data); }
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

    def __init__(self, url: str, above: list[str] | None = None, split: bool = False) -> None:
        super().__init__()
        self._name = "CountyLayer"
        self.url = url
        self.above = list(above or [])
        self.split = bool(split)
        self.panes = {side: name for side, (name, _) in PANES.items()}
        self.base_style = {"fillColor": NO_DATA_COLOR, **COUNTY_STYLE}
        self.highlight = HIGHLIGHT_STYLE
        if self.split:  # the swipe control, from the app's own static folder
            self.default_js = [("leaflet.sidebyside", SIDE_BY_SIDE_JS_URL)]
            self.default_css = [(f"leaflet.sidebyside.{i}", url) for i, url in enumerate(SIDE_BY_SIDE_CSS_URLS)]


class CountyStyles(MacroElement):
    """Restyles the :class:`CountyLayer` on the same map: fills, tooltip values, the selected outline.

    ``payload`` is ``{"fill": {geoid: css colour}, "display": {geoid: text}, "label": str,
    "selected": geoid | None, "style": base style, "styled": digest}``, plus, to show two values
    side by side on a split map, ``"right": {"fill", "display", "label"}`` and ``"sides": [left
    title, right title]``; counties it does not name are grey ("no data"). Without ``"right"`` a
    split map shows the left value over the whole map (no divider).
    """

    _template = Template(
        """
{% macro script(this, kwargs) %}
(function () {
  var counties = window.geoappCounties = window.geoappCounties || {};
  var payload = {{ this.payload|tojson }};
  var selected = {{ this.selected_style|tojson }}, noData = {{ this.no_data|tojson }};
  counties.apply = function () {
    var right = payload.right || null, map = counties.layer && counties.layer._map;
    counties.label = payload.label;
    counties.labelRight = right ? right.label : payload.label;
    counties.selected = payload.selected;
    counties.style = function (feature, side) {
      var geoid = feature.properties.geoid, style = Object.assign({}, payload.style);
      var fill = side === "right" && right ? right.fill : payload.fill;
      style.fillColor = fill[geoid] || noData;
      return geoid === payload.selected ? Object.assign(style, selected) : style;
    };
    if (counties.right && map) {  // a split map: two sides, or the left side alone
      var pane = counties.right.getContainer();
      pane.style.display = right ? "" : "none";
      if (right && !counties.sbs._map) { counties.sbs.addTo(map); }
      if (!right && counties.sbs._map) { counties.sbs.remove(); }
      (counties.sides || []).forEach(function (control, i) {
        var div = control.getContainer();
        div.textContent = right && payload.sides ? payload.sides[i] : "";
        div.style.display = right && payload.sides ? "" : "none";
      });
    }
    if (!counties.loaded) { return; }
    [counties.layer, counties.right].forEach(function (layer) {
      if (!layer) { return; }
      layer.eachLayer(function (l) {
        // A new properties object: a value streamlit-folium reported earlier shares the old one.
        var p = l.feature.properties;
        l.feature.properties = Object.assign({}, p, {
          display: payload.display[p.geoid] || "no data",
          display_right: right ? right.display[p.geoid] || "no data" : undefined,
          styled: payload.styled
        });
      });
    });
    counties.layer.setStyle(function (f) { return counties.style(f, "left"); });
    if (counties.right) { counties.right.setStyle(function (f) { return counties.style(f, "right"); }); }
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
        self.selected_style = SELECTED_STYLE
        self.no_data = NO_DATA_COLOR


def county_base_map(
    geojson_url: str, bounds: list[list[float]], states: dict | None = None, height: int = 520, split: bool = False
) -> OfflineLeafmap:
    """The unchanging part of a county map: counties fetched from ``geojson_url``, state borders and labels.

    Args:
        geojson_url: URL of a FeatureCollection (EPSG:4326) whose features carry ``properties.geoid``,
            ``name`` and ``state`` (e.g. ``/app/static/...``, served by the app itself).
        bounds: [[south, west], [north, east]] degrees to fit the view to.
        states: state outlines to draw above the counties (:func:`geoapp.viz.maps.add_state_outlines`),
            or None for none.
        height: map height in pixels.
        split: two county layers with a swipe divider between them (see :class:`CountyLayer`).
    """
    # Fractional zoom steps: the counties fill a narrow column too, not only a wide one.
    m = OfflineLeafmap(
        location=CORN_BELT_CENTER, zoom_start=5, tiles=None, height=height, prefer_canvas=True, zoom_snap=0.25, zoom_delta=0.5
    )
    for name, z_index in PANES.values():
        CustomPane(name, z_index=z_index, pointer_events=True).add_to(m)
    CustomPane(*OUTLINES_PANE, pointer_events=False).add_to(m)
    layer = CountyLayer(geojson_url, split=split)
    layer.add_to(m)
    if states is not None:
        borders = add_state_outlines(m, states, pane=OUTLINES_PANE[0])
        layer.above = [borders.get_name()]
    m.fit_bounds(bounds)
    return m


def _fills(geoids: list[str], values: pd.Series, scale: Fills) -> tuple[dict[str, str], dict[str, str]]:
    """Fill colour and tooltip text per county with a finite value."""
    vals = values.reindex(geoids).to_numpy(dtype=float)
    finite = np.isfinite(vals)
    colours = scale.colors(vals)
    fill = {g: c for g, c, ok in zip(geoids, colours, finite, strict=True) if ok}
    display = {g: f"{v:.1f}" for g, v, ok in zip(geoids, vals, finite, strict=True) if ok}
    return fill, display


def county_styles(
    geoids: list[str],
    values: pd.Series,
    scale: Fills,
    selected: str | None = None,
    right: tuple[pd.Series, Fills] | None = None,
    sides: tuple[str, str] | None = None,
    overlay: folium.FeatureGroup | None = None,
) -> folium.FeatureGroup:
    """The layer group that colours the counties of a :func:`county_base_map` by ``values``.

    Args:
        geoids: the counties the map draws (5-character GEOIDs).
        values: value per county, indexed by geoid; counties without a finite value are grey ("no data").
        scale: colours of the fills (:class:`~geoapp.viz.colors.ColorScale` or a classed scale); its
            ``label`` (with units) names the value in the tooltip.
        selected: geoid to outline, or None.
        right: on a split map, the values and scale of the right side (the left shows ``values``);
            None shows ``values`` over the whole map.
        sides: titles of the left and right side on a split map, e.g. ("True", "Predicted").
        overlay: an :func:`input_overlay` to show under the counties, which are then drawn as outlines.
    """
    fill, display = _fills(geoids, values, scale)
    payload: dict = {
        "fill": fill,
        "display": display,
        "selected": selected,
        "label": scale.label,
        "style": OUTLINE_ONLY_STYLE if overlay is not None else COUNTY_STYLE,
    }
    if right is not None:
        fill_r, display_r = _fills(geoids, right[0], right[1])
        payload["right"] = {"fill": fill_r, "display": display_r, "label": right[1].label}
        payload["sides"] = list(sides) if sides else None
    payload["overlay"] = getattr(overlay, "digest", None)  # what the group shows under the counties
    payload["styled"] = hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:16]
    group = overlay if overlay is not None else folium.FeatureGroup(name="County values", control=False)
    CountyStyles(payload).add_to(group)
    return group


def input_overlay(
    image: BandImage, anchor_outline: list[tuple[float, float]] | None = None, opacity: float = 0.9
) -> folium.FeatureGroup:
    """A layer group with an input band's image (pane ``geoapp-inputs``) and, optionally, an anchor tile outline.

    Args:
        image: the band image (:func:`geoapp.viz.input_layer.band_image`): its ``bounds`` are the
            EPSG:4326 corners of its Web Mercator grid, so Leaflet's linear stretch places every pixel.
        anchor_outline: (lat, lon) ring of the selected county's anchor tile
            (:func:`geoapp.viz.input_layer.tile_outline`), drawn above the counties; None for none.
        opacity: opacity of the image, 0..1.

    Pass the group to :func:`county_styles` (``overlay``), which adds the county styling to it.
    """
    group = folium.FeatureGroup(name="Model input", control=False)
    url = image.png_data_url()
    group.digest = hashlib.sha256(json.dumps([url, image.bounds, anchor_outline, opacity]).encode()).hexdigest()[:16]
    folium.raster_layers.ImageOverlay(
        url,
        bounds=image.bounds,
        opacity=opacity,
        pane=PANES["inputs"][0],
        interactive=False,
        pixelated=True,
        className="geoapp-input-image",
    ).add_to(group)
    if anchor_outline is not None:
        outline = folium.Polygon(anchor_outline, interactive=False, **ANCHOR_TILE_STYLE)
        outline.options["pane"] = OUTLINES_PANE[0]  # folium's path options drop "pane"; Leaflet takes it
        outline.add_to(group)
    return group
