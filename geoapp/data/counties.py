"""US county polygons from the 2016 Census cartographic boundary file shipped by ``plotly-geo``.

The shapefile (``_plotly_geo/package_data/cb_2016_us_county_500k.shp``) has no ``.prj``; its
coordinates are NAD83 geographic (EPSG:4269), which geoapp relabels as EPSG:4326 (the two differ by
less than a metre across the US, well below the file's 1:500k generalisation).
"""

from __future__ import annotations

import functools
import json
from pathlib import Path

import geopandas as gpd
import numpy as np
import shapely

from geoapp.data.args import as_number, given
from geoapp.errors import InputError, MissingDataError
from geoapp.fileio import atomic_write_text
from geoapp.paths import data_dir

__all__ = [
    "STATE_FIPS",
    "FIPS_STATE",
    "DEFAULT_STATES",
    "load_counties",
    "simplified_counties",
    "simplified_geojson_path",
    "state_outlines_geojson_path",
]

STATE_FIPS: dict[str, str] = {
    "AL": "01", "AK": "02", "AZ": "04", "AR": "05", "CA": "06", "CO": "08", "CT": "09", "DE": "10",
    "DC": "11", "FL": "12", "GA": "13", "HI": "15", "ID": "16", "IL": "17", "IN": "18", "IA": "19",
    "KS": "20", "KY": "21", "LA": "22", "ME": "23", "MD": "24", "MA": "25", "MI": "26", "MN": "27",
    "MS": "28", "MO": "29", "MT": "30", "NE": "31", "NV": "32", "NH": "33", "NJ": "34", "NM": "35",
    "NY": "36", "NC": "37", "ND": "38", "OH": "39", "OK": "40", "OR": "41", "PA": "42", "RI": "44",
    "SC": "45", "SD": "46", "TN": "47", "TX": "48", "UT": "49", "VT": "50", "VA": "51", "WA": "53",
    "WV": "54", "WI": "55", "WY": "56", "PR": "72",
}  # fmt: skip
"""Two-letter postal code -> two-digit state FIPS code."""

FIPS_STATE: dict[str, str] = {v: k for k, v in STATE_FIPS.items()}
"""Two-digit state FIPS code -> two-letter postal code."""

DEFAULT_STATES: tuple[str, ...] = ("IL", "IN", "IA", "KS", "MI", "MN", "MO", "NE", "ND", "OH", "SD", "WI", "KY")
"""The 12 Census Midwest states and Kentucky: the paper's 13-state study area."""

SIMPLIFY_TOLERANCE_DEG = 0.01
"""Coverage-simplification tolerance for display polygons, in degrees (about 1 km)."""

STATE_OUTLINE_TOLERANCE_DEG = 0.02
"""Simplification tolerance of the state borders drawn over county maps, in degrees (about 2 km)."""


def _shapefile() -> Path:
    try:
        import _plotly_geo
    except ImportError as exc:  # pragma: no cover - guarded by requirements
        raise MissingDataError("package plotly-geo is not installed; run `make setup`") from exc
    path = Path(_plotly_geo.__file__).parent / "package_data" / "cb_2016_us_county_500k.shp"
    if not path.exists():
        raise MissingDataError(f"county shapefile not found at {path}; reinstall plotly-geo==1.0.0")
    return path


def _normalise_states(states: list[str] | tuple[str, ...] | None) -> tuple[str, ...]:
    """``states`` as upper-case postal codes; None is :data:`DEFAULT_STATES`, one code as text is one state."""
    if states is None:
        return DEFAULT_STATES
    if isinstance(states, str):
        states = [states]
    if not isinstance(states, (list, tuple)) or not all(isinstance(s, str) for s in states):
        raise InputError(
            f"states must be a list of two-letter postal codes such as ['IA', 'IL'] (or None for the default "
            f"states), got {given(states)}"
        )
    out = tuple(s.strip().upper() for s in states)
    unknown = [s for s in out if s not in STATE_FIPS]
    if unknown or not out:
        raise InputError(f"unknown state code(s) {unknown or list(states)!r}; expected two-letter postal codes such as 'IA'")
    return out


@functools.lru_cache(maxsize=4)
def _read_all() -> gpd.GeoDataFrame:
    gdf = gpd.read_file(_shapefile(), columns=["STATEFP", "COUNTYFP", "GEOID", "NAME"])
    gdf = gdf.set_crs("EPSG:4269", allow_override=True).set_crs("EPSG:4326", allow_override=True)
    gdf["geoid"] = gdf["GEOID"].astype(str).str.zfill(5)
    gdf["state"] = gdf["STATEFP"].map(FIPS_STATE)
    gdf = gdf.rename(columns={"NAME": "name"})[["geoid", "name", "state", "geometry"]]
    return gdf.sort_values("geoid").reset_index(drop=True)


def load_counties(states: list[str] | tuple[str, ...] | None = None) -> gpd.GeoDataFrame:
    """County polygons of ``states`` (default: :data:`DEFAULT_STATES`).

    Args:
        states: two-letter postal codes, e.g. ``["IA", "IL"]``; None for the 13 default states.

    Returns:
        GeoDataFrame with columns ``geoid`` (5-character string: state FIPS + county FIPS), ``name``,
        ``state`` (postal code) and ``geometry`` (Polygon/MultiPolygon), CRS EPSG:4326, sorted by
        ``geoid``, full 1:500k detail.
    """
    wanted = _normalise_states(states)
    gdf = _read_all()
    return gdf[gdf["state"].isin(wanted)].reset_index(drop=True).copy()


def simplified_counties(
    states: list[str] | tuple[str, ...] | None = None, tolerance_deg: float = SIMPLIFY_TOLERANCE_DEG
) -> gpd.GeoDataFrame:
    """Counties as in :func:`load_counties`, simplified for display with shared edges kept shared.

    Uses GEOS coverage simplification, so neighbouring counties stay gap- and overlap-free.
    Coordinates are rounded to 4 decimals (about 10 m).

    Raises:
        InputError: unknown states, or ``tolerance_deg`` not a finite number of degrees >= 0.
    """
    tolerance_deg = as_number(tolerance_deg, "tolerance_deg", "degrees", zero_ok=True)
    gdf = load_counties(states)
    simple = shapely.coverage_simplify(gdf.geometry.values, tolerance=tolerance_deg)
    simple = shapely.set_precision(simple, 1e-4, mode="pointwise")
    out = gdf.copy()
    out["geometry"] = simple
    return out


def simplified_geojson_path(states: list[str] | tuple[str, ...] | None = None) -> Path:
    """Path of a cached GeoJSON of :func:`simplified_counties` (built on first call).

    Features carry ``geoid``, ``name`` and ``state`` properties and ``id`` = geoid, which is what
    choropleth layers key on.
    """
    wanted = _normalise_states(states)
    key = "-".join(sorted(wanted)) if wanted != DEFAULT_STATES else "default"
    path = data_dir() / "cache" / f"counties_{key}.geojson"
    if not path.exists():
        gdf = simplified_counties(wanted)
        features = json.loads(gdf.to_json(drop_id=True))
        for feat in features["features"]:
            feat["id"] = feat["properties"]["geoid"]
        atomic_write_text(path, json.dumps(features, separators=(",", ":")))
    return path


def state_outlines_geojson_path(
    states: list[str] | tuple[str, ...] | None = None, tolerance_deg: float = STATE_OUTLINE_TOLERANCE_DEG
) -> Path:
    """Path of a cached GeoJSON of state outlines (built on first call), for borders and labels on county maps.

    The county polygons of ``states`` (default: :data:`DEFAULT_STATES`) dissolved by state, simplified
    with ``tolerance_deg`` (neighbouring states keep a shared border) and rounded to 3 decimals. Each
    feature has ``id`` = postal code and properties ``state`` (postal code) and ``label_lat`` /
    ``label_lon`` (a representative point inside the state, degrees, for its label).

    Raises:
        InputError: unknown states, or ``tolerance_deg`` not a finite number of degrees >= 0.
    """
    tolerance_deg = as_number(tolerance_deg, "tolerance_deg", "degrees", zero_ok=True)
    wanted = _normalise_states(states)
    key = "-".join(sorted(wanted)) if wanted != DEFAULT_STATES else "default"
    path = data_dir() / "cache" / f"states_{key}_{tolerance_deg:g}.geojson"
    if not path.exists():
        dissolved = load_counties(wanted).dissolve(by="state", as_index=False)[["state", "geometry"]]
        simple = shapely.coverage_simplify(dissolved.geometry.values, tolerance=tolerance_deg)
        simple = shapely.set_precision(simple, 1e-3, mode="pointwise")
        label = shapely.point_on_surface(dissolved.geometry.values)
        features = []
        for state, geom, point in zip(dissolved["state"], simple, label, strict=True):
            features.append(
                {
                    "type": "Feature",
                    "id": state,
                    "properties": {"state": state, "label_lat": round(point.y, 3), "label_lon": round(point.x, 3)},
                    "geometry": json.loads(shapely.to_geojson(geom)),
                }
            )
        collection = {"type": "FeatureCollection", "features": features}
        atomic_write_text(path, json.dumps(collection, separators=(",", ":")))
    return path


def county_centroids(counties: gpd.GeoDataFrame) -> np.ndarray:
    """Centroids of ``counties`` as an (N, 2) array of (lat, lon) degrees, computed in EPSG:5070.

    Raises:
        InputError: ``counties`` is not a GeoDataFrame with a CRS (e.g. from :func:`load_counties`).
    """
    if not isinstance(counties, gpd.GeoDataFrame) or counties.crs is None:
        raise InputError(f"counties must be a GeoDataFrame with a CRS (e.g. from load_counties), got {given(counties)}")
    cent = counties.geometry.to_crs("EPSG:5070").centroid.to_crs("EPSG:4326")
    return np.column_stack([cent.y.to_numpy(), cent.x.to_numpy()])
