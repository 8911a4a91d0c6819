"""A 3-D view of county yields as a pydeck deck: extruded counties, height = yield, colour = error.

The counties are drawn in a flat, projected frame rather than on a web map: their polygons are
projected to the conterminous US equal-area grid (EPSG:5070, the cube's CRS), simplified there with
a tolerance in metres, shifted so that the counties' centre is the origin and sent in kilometres.
deck.gl's ``OrbitView`` (Cartesian coordinates, drag to orbit, scroll to zoom) shows them; each
county is extruded to a height proportional to its yield, from 0 (:data:`KM_PER_BU` kilometres per
bu/acre), and coloured by its error (predicted - true) on a diverging scale, grey where the error is
unknown (no prediction, or a withheld true yield). Counties whose height is unknown lie flat.

Layers, bottom to top: ``states`` (state borders at ground level, :data:`STATE_RGB`) and
``counties`` (the extruded polygons, with a tooltip per county).

Nothing is fetched: with an ``OrbitView`` Streamlit's front end adds no base map (it adds its Carto
base map only to decks whose views are all ``MapView`` and that name no map style), and the deck
also sets ``map_provider=None`` and ``map_style=None``. No text or icon layer (no font atlas, no
images). As in :mod:`geoapp.viz.globe`, layer arguments are numbers and lists, or accessor strings
naming a data key: pydeck reads every string argument as an accessor expression.

Payload (:class:`~geoapp.viz.globe.CompactDeck`): the 1,175 counties of the demo dataset simplified
with :data:`SIMPLIFY_TOLERANCE_M` come to about 0.4 MB of JSON (see docs/globe-and-exports.md).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import geopandas as gpd
import numpy as np
import pandas as pd
import pydeck as pdk
import shapely

from geoapp.errors import InputError
from geoapp.viz.colors import NO_DATA_COLOR, ColorScale
from geoapp.viz.globe import CompactDeck, field_colors

__all__ = [
    "COUNTY_3D_LAYERS",
    "KM_PER_BU",
    "PROJECTED_CRS",
    "SIMPLIFY_TOLERANCE_M",
    "CountyFootprints",
    "county_footprints",
    "state_paths",
    "county_3d_deck",
]

COUNTY_3D_LAYERS = ("states", "counties")
"""Layer ids of :func:`county_3d_deck`, bottom to top."""

PROJECTED_CRS = "EPSG:5070"
"""Where the counties are simplified and drawn: NAD83 / Conus Albers equal-area, metres."""

SIMPLIFY_TOLERANCE_M = 2000.0
"""Simplification tolerance of the county polygons, metres (the smallest counties are about 20 km across)."""

KM_PER_BU = 0.5
"""Height of a county in km per bu/acre of yield (200 bu/acre: 100 km, beside a region about 1,500 km wide)."""

STATE_RGB = [90, 90, 90]
NO_DATA_RGB = [int(NO_DATA_COLOR[i : i + 2], 16) for i in (1, 3, 5)]
_DECIMALS = 1  # km: coordinates sent to 100 m


@dataclass(frozen=True)
class CountyFootprints:
    """County polygons in a local projected frame, ready to extrude.

    Attributes:
        geoids: the county of each polygon part (a county of several parts appears once per part).
        parts: per part, its rings (outer ring first, then holes), each a list of [x, y] in km.
        origin_m: (x, y) in :data:`PROJECTED_CRS` metres of the frame's origin (the counties' bounds centre).
        extent_km: (width, height) of the counties' bounds, km.
    """

    geoids: tuple[str, ...]
    parts: tuple[list[list[list[float]]], ...]
    origin_m: tuple[float, float]
    extent_km: tuple[float, float]


def _rings(polygon: shapely.Polygon, origin: tuple[float, float]) -> list[list[list[float]]]:
    out = []
    for ring in (polygon.exterior, *polygon.interiors):
        xy = (np.asarray(ring.coords)[:, :2] - origin) / 1000.0
        out.append(np.round(xy, _DECIMALS).tolist())
    return out


def county_footprints(counties: gpd.GeoDataFrame, tolerance_m: float = SIMPLIFY_TOLERANCE_M) -> CountyFootprints:
    """Project ``counties`` to :data:`PROJECTED_CRS`, simplify them there and express them in km about their centre.

    Shared borders stay shared (``GeoSeries.simplify_coverage``, the coverage form of geopandas'
    ``simplify``), so neighbouring counties keep no gaps between their walls.

    Args:
        counties: polygons with a ``geoid`` column and a CRS (e.g. :func:`geoapp.data.counties.load_counties`, EPSG:4326).
        tolerance_m: simplification tolerance in metres (0: none).

    Raises:
        InputError: no counties, no CRS or no ``geoid`` column, or a tolerance that is not a finite number >= 0.
    """
    if not isinstance(counties, gpd.GeoDataFrame) or "geoid" not in counties or counties.crs is None:
        raise InputError("counties must be a GeoDataFrame with a 'geoid' column and a CRS (e.g. from load_counties)")
    if len(counties) == 0:
        raise InputError("no counties to draw: the dataset's counties are not among the county polygons")
    if isinstance(tolerance_m, bool) or not isinstance(tolerance_m, int | float) or not math.isfinite(tolerance_m):
        raise InputError(f"tolerance_m must be a number of metres >= 0; got {tolerance_m!r}")
    if tolerance_m < 0:
        raise InputError(f"tolerance_m must be a number of metres >= 0; got {tolerance_m!r}")
    projected = counties.to_crs(PROJECTED_CRS)
    geometry = projected.geometry.simplify_coverage(tolerance_m) if tolerance_m > 0 else projected.geometry
    x0, y0, x1, y1 = geometry.total_bounds
    origin = ((x0 + x1) / 2.0, (y0 + y1) / 2.0)
    geoids, parts = [], []
    for geoid, geom in zip(projected["geoid"].astype(str), geometry, strict=True):
        for polygon in getattr(geom, "geoms", [geom]):
            if isinstance(polygon, shapely.Polygon) and not polygon.is_empty:
                geoids.append(geoid)
                parts.append(_rings(polygon, origin))
    return CountyFootprints(tuple(geoids), tuple(parts), (float(origin[0]), float(origin[1])), ((x1 - x0) / 1e3, (y1 - y0) / 1e3))


def state_paths(
    states: dict, origin_m: tuple[float, float], tolerance_m: float = SIMPLIFY_TOLERANCE_M
) -> list[list[list[float]]]:
    """State borders of a GeoJSON FeatureCollection (EPSG:4326) as paths of [x, y] km in the frame of ``origin_m``.

    Args:
        states: e.g. :func:`geoapp.data.counties.state_outlines_geojson_path`'s content.
        origin_m: the frame's origin (:attr:`CountyFootprints.origin_m`), metres in :data:`PROJECTED_CRS`.
        tolerance_m: simplification tolerance in metres.
    """
    features = (states or {}).get("features") or []
    if not features:
        return []
    lines = gpd.GeoDataFrame.from_features(features, crs="EPSG:4326").to_crs(PROJECTED_CRS).boundary.simplify(tolerance_m)
    paths = []
    for line in lines:
        for part in getattr(line, "geoms", [line]):
            if not part.is_empty:
                xy = (np.asarray(part.coords)[:, :2] - np.asarray(origin_m)) / 1000.0
                paths.append(np.round(xy, _DECIMALS).tolist())
    return paths


def _colors(errors: np.ndarray, scale: ColorScale) -> np.ndarray:
    """(N, 3) uint8: the error's colour on ``scale``, :data:`NO_DATA_RGB` where it is not finite."""
    rgb = field_colors(np.nan_to_num(errors), scale)
    rgb[~np.isfinite(errors)] = NO_DATA_RGB
    return rgb


def _fmt(value: float) -> str:
    return "unknown" if not np.isfinite(value) else f"{value:.1f}"


def county_3d_deck(
    footprints: CountyFootprints,
    heights: pd.Series,
    errors: pd.Series,
    scale: ColorScale,
    labels: dict[str, str] | None = None,
    states: list[list[list[float]]] | None = None,
    height_label: str = "Yield",
    error_label: str = "Error (predicted − true)",
    pitch: float = 45.0,
    bearing: float = -15.0,
) -> CompactDeck:
    """Extruded counties: height = ``heights`` (bu/acre, from 0), colour = ``errors`` on ``scale``.

    Args:
        footprints: the county polygons (:func:`county_footprints`).
        heights: yield per geoid, bu/acre (true or predicted); a county without one lies flat.
        errors: predicted - true per geoid, bu/acre; a county without one is grey.
        scale: the diverging colour scale of the errors (:func:`geoapp.viz.colors.diverging_scale`).
        labels: "Name, ST" per geoid for the tooltip (default: the geoid).
        states: state border paths (:func:`state_paths`), drawn at ground level.
        height_label: what the height shows, for the tooltip ("True yield", "Predicted yield").
        error_label: what the colour shows, for the tooltip (the noise-free view: predicted − noise-free).
        pitch: initial tilt, degrees from straight down.
        bearing: initial rotation about the vertical axis, degrees.

    Returns:
        A deck with one ``OrbitView``, no base map, layers :data:`COUNTY_3D_LAYERS`.

    Raises:
        InputError: ``heights`` or ``errors`` is not a Series indexed by geoid.
    """
    for name, series in (("heights", heights), ("errors", errors)):
        if not isinstance(series, pd.Series):
            raise InputError(f"{name} must be a pandas Series of bu/acre indexed by geoid; got {type(series).__name__}")
    geoids = list(footprints.geoids)
    h = pd.to_numeric(heights, errors="coerce").reindex(geoids).to_numpy(dtype=np.float64)
    e = pd.to_numeric(errors, errors="coerce").reindex(geoids).to_numpy(dtype=np.float64)
    rgb = _colors(e, scale).tolist()
    elevation = np.round(np.where(np.isfinite(h), np.maximum(h, 0.0) * KM_PER_BU, 0.0), 2).tolist()
    labels = labels or {}
    data = [
        {"p": rings, "e": z, "c": c, "n": f"{labels.get(g, g)} ({g})", "h": _fmt(hv), "d": _fmt(ev)}
        for g, rings, z, c, hv, ev in zip(geoids, footprints.parts, elevation, rgb, h, e, strict=True)
    ]
    layers = [
        pdk.Layer(
            "PathLayer", [{"p": p} for p in states or []], id="states", get_path="p", get_color=STATE_RGB, width_min_pixels=1
        ),
        pdk.Layer(
            "SolidPolygonLayer",
            data,
            id="counties",
            get_polygon="p",
            get_elevation="e",
            get_fill_color="c",
            extruded=True,
            pickable=True,
        ),
    ]
    width, height = footprints.extent_km
    zoom = math.log2(600.0 / max(width, height, 1.0))  # OrbitView: 2**zoom pixels per km; about 600 px across
    return CompactDeck(
        layers=layers,
        views=[pdk.View(type="OrbitView", controller=True)],
        initial_view_state=pdk.ViewState(target=[0.0, 0.0, 0.0], rotation_x=pitch, rotation_orbit=bearing, zoom=zoom),
        map_provider=None,
        map_style=None,
        tooltip={"text": f"{{n}}\n{height_label}: {{h}} bu/acre\n{error_label}: {{d}} bu/acre"},
    )
