"""Folium and leafmap maps that render offline: Leaflet from the app's static folder, no tile server needed.

:class:`OfflineMap` is a plain ``folium.Map``; :class:`OfflineLeafmap` is leafmap's folium-backed
map (``leafmap.foliumap.Map``), on which the county maps are built, with its CDN-loaded extras
(fullscreen button, jQuery, Bootstrap) left out. Both point Leaflet's default marker icon at the
images in the static folder (:class:`DefaultIconPath`). :func:`external_assets` lists what a map would
load from another host (tests check it is nothing).

:func:`county_choropleth` draws counties coloured by a value, with a tooltip per county and the
county's ``geoid`` in each feature's properties (so a click can be mapped back to a county), and
over them, when given, the state borders and each state's postal code (:func:`add_state_outlines`).
"""

from __future__ import annotations

import copy
import json
from pathlib import Path

import folium
import leafmap.foliumap as leafmap
import numpy as np
import pandas as pd
from branca.element import Element, MacroElement
from folium.template import Template

from geoapp.viz.colors import NO_DATA_COLOR, ColorScale
from geoapp.viz.offline_assets import LEAFLET_CSS_URL, LEAFLET_IMAGES_URL, LEAFLET_JS_URL, STATIC_URL

__all__ = [
    "CORN_BELT_CENTER",
    "DefaultIconPath",
    "OfflineLeafmap",
    "OfflineMap",
    "add_state_outlines",
    "county_choropleth",
    "external_assets",
    "geojson_bounds",
    "load_geojson",
]

CORN_BELT_CENTER = (41.5, -92.0)
"""Where a county map opens before fitting its counties, (lat, lon) degrees."""
STATE_BORDER_COLOR = "#222222"
_STATE_LABEL_CSS = (
    "font: 600 12px/14px sans-serif; color: #111; text-shadow: 0 0 3px #fff, 0 0 3px #fff; "
    "text-align: center; width: 30px; margin-left: -15px; margin-top: -7px"
)


class DefaultIconPath(MacroElement):
    """Sets the folder of Leaflet's default marker images (``L.Icon.Default``) to the static folder's.

    Without it Leaflet 1.9.3 guesses the folder from its stylesheet, which streamlit-folium links only
    just before it runs the map's script: the guess falls back to ``/app/static/leafletmarker-icon.png``
    (and ``...shadow.png``), 404s requested by every marker, even one given a ``DivIcon`` (folium makes
    the marker with the default icon, then swaps it). Added to a map before any marker, its script runs
    right after the map's, both in the full HTML (``get_root().render()``) and in the script
    streamlit-folium builds from the map's children.
    """

    _template = Template(
        """
        {% macro script(this, kwargs) %}
            L.Icon.Default.prototype.options.imagePath = {{ this.image_path|tojson }};
        {% endmacro %}
        """
    )

    def __init__(self, image_path: str = LEAFLET_IMAGES_URL) -> None:
        super().__init__()
        self._name = "DefaultIconPath"
        self.image_path = image_path


class OfflineMap(folium.Map):
    """A ``folium.Map`` that loads only Leaflet, from the app's own static folder.

    Folium's defaults pull jQuery, Bootstrap and marker plugins from CDNs; none is needed for
    choropleths, and none can load offline. Keyword arguments are folium's.
    """

    default_js = [("leaflet", LEAFLET_JS_URL)]
    default_css = [("leaflet_css", LEAFLET_CSS_URL)]

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)
        DefaultIconPath().add_to(self)


class OfflineLeafmap(leafmap.Map):
    """leafmap's folium map (``leafmap.foliumap.Map``) loading only Leaflet, from the app's static folder.

    leafmap adds a fullscreen button whose script comes from a CDN; it is off. No basemap tiles
    unless ``tiles`` names one (none can load offline). Keyword arguments are leafmap's (and
    folium's); ``height`` in pixels.
    """

    default_js = [("leaflet", LEAFLET_JS_URL)]
    default_css = [("leaflet_css", LEAFLET_CSS_URL)]

    def __init__(self, **kwargs: object) -> None:
        kwargs.setdefault("tiles", None)
        kwargs.setdefault("fullscreen_control", False)
        kwargs.setdefault("layers_control", False)
        super().__init__(**kwargs)
        DefaultIconPath().add_to(self)


def external_assets(m: Element) -> list[str]:
    """The script and stylesheet URLs in ``m``'s tree (``default_js``/``default_css``) not served by the app."""
    urls: list[str] = []

    def walk(element: Element) -> None:
        for _, url in [*getattr(element, "default_js", []), *getattr(element, "default_css", [])]:
            if not str(url).startswith(STATIC_URL + "/"):
                urls.append(str(url))
        for child in getattr(element, "_children", {}).values():
            walk(child)

    walk(m)
    return urls


def load_geojson(path: str | Path) -> dict:
    """Read a GeoJSON FeatureCollection (e.g. :func:`geoapp.data.counties.simplified_geojson_path`)."""
    return json.loads(Path(path).read_text())


def county_choropleth(
    geojson: dict,
    values: pd.Series,
    scale: ColorScale,
    value_label: str = "value",
    tiles: str | None = None,
    selected: str | None = None,
    height: int = 520,
    states: dict | None = None,
) -> OfflineMap:
    """A county map coloured by ``values``.

    Args:
        geojson: FeatureCollection whose features carry ``properties.geoid`` (and ``name``, ``state``).
        values: value per county, indexed by geoid; counties without a value are grey ("no data").
        scale: colour scale used for fills.
        value_label: tooltip label of the value, with units, e.g. ``"Yield (bu/acre)"``.
        tiles: folium tiles name, or None for no basemap (offline).
        selected: geoid to outline.
        height: map height in pixels.
        states: state outlines (e.g. :func:`geoapp.data.counties.state_outlines_geojson_path`) to draw
            as borders and labels above the counties, or None for none.
    """
    gj = copy.deepcopy(geojson)
    geoids = [f["properties"]["geoid"] for f in gj["features"]]
    vals = values.reindex(geoids).to_numpy(dtype=float)
    colours = scale.colors(vals)
    for feat, v, c in zip(gj["features"], vals, colours, strict=True):
        props = feat["properties"]
        props["fill"] = c
        props["display"] = "no data" if not np.isfinite(v) else f"{v:.1f}"
        props["selected"] = props["geoid"] == selected
    # Fractional zoom steps: the counties fill a narrow column too, not only a wide one.
    m = OfflineMap(
        location=CORN_BELT_CENTER, zoom_start=5, tiles=tiles, height=height, prefer_canvas=True, zoom_snap=0.25, zoom_delta=0.5
    )

    def style(feature: dict) -> dict:
        p = feature["properties"]
        return {
            "fillColor": p.get("fill", NO_DATA_COLOR),
            "fillOpacity": 0.85,
            "color": "#111111" if p.get("selected") else "#ffffff",
            "weight": 2.5 if p.get("selected") else 0.3,
        }

    folium.GeoJson(
        gj,
        name=value_label,
        style_function=style,
        highlight_function=lambda _: {"weight": 2, "color": "#333333"},
        tooltip=folium.GeoJsonTooltip(
            fields=["name", "state", "geoid", "display"], aliases=["County", "State", "GEOID", value_label]
        ),
    ).add_to(m)
    if states is not None:
        add_state_outlines(m, states)
    m.fit_bounds(geojson_bounds(gj))
    return m


def add_state_outlines(m: folium.Map, states: dict, pane: str | None = None) -> folium.GeoJson:
    """Draw state borders (a thin dark line, no fill) and each state's postal code on ``m``; returns the borders' layer.

    Neither takes clicks or hover: a click goes through to the county below. The borders go into
    map pane ``pane`` (one the map creates, e.g. with ``folium.map.CustomPane``), or the overlay
    pane when None. ``states`` is a
    FeatureCollection whose features carry ``properties.state`` (postal code) and ``label_lat`` /
    ``label_lon`` (where the label goes, degrees), as
    :func:`geoapp.data.counties.state_outlines_geojson_path` writes.
    """
    borders = folium.GeoJson(
        states,
        name="State borders",
        style_function=lambda _: {"color": STATE_BORDER_COLOR, "weight": 1.4, "fill": False, "opacity": 0.9},
        interactive=False,
        control=False,
        **({"pane": pane} if pane else {}),
    ).add_to(m)
    for feat in states["features"]:
        p = feat["properties"]
        folium.Marker(
            (p["label_lat"], p["label_lon"]),
            icon=folium.DivIcon(html=f'<div style="{_STATE_LABEL_CSS}">{p["state"]}</div>', icon_size=(0, 0)),
            interactive=False,
            keyboard=False,
        ).add_to(m)
    return borders


def geojson_bounds(geojson: dict) -> list[list[float]]:
    """[[south, west], [north, east]] of a FeatureCollection, degrees."""
    lons, lats = [], []

    def walk(coords: object) -> None:
        if isinstance(coords, (list, tuple)) and coords and isinstance(coords[0], (int, float)):
            lons.append(coords[0])
            lats.append(coords[1])
        elif isinstance(coords, (list, tuple)):
            for c in coords:
                walk(c)

    for feat in geojson["features"]:
        walk(feat["geometry"]["coordinates"])
    return [[min(lats), min(lons)], [max(lats), max(lons)]]
