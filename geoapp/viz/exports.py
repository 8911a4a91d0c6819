"""Files a user downloads from the pages: the bytes, and names that say what they hold.

- Similarity field (Location similarity): CSV ``lat, lon, similarity`` with one row per gallery
  point, and a GeoTIFF of the field on a regular lat/lon grid (EPSG:4326).
- Top-k geolocation (Geolocalization): CSV ``rank, lat, lon, score`` and ``error_km`` when the true
  place is known.
- Ablation tables (Feature ablation): CSV of a table with its provenance as leading columns
  (``data``, ``dataset``, ``model_run``, ``year``). Files drawn from simulated data say
  ``simulated`` in their name and in the ``data`` column of every row.
- County predictions (Yield map): the same provenance columns, then ``geoid``, the county's ``name``
  and ``state``, ``true``, ``predicted`` and ``error`` (bu/acre), as CSV, or as GeoJSON with each
  county's polygon (EPSG:4326, the full 1:500k county boundaries) and these as properties.

Every function returns ``bytes`` (UTF-8 CSV without index, or a GeoTIFF), ready for
``st.download_button``; pandas and rasterio read them back as they are. Coordinates are degrees
(EPSG:4326), distances great-circle km.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd
from affine import Affine
from rasterio.io import MemoryFile
from scipy.spatial import cKDTree

from geoapp.data.geodesy import EARTH_RADIUS_KM, as_latlon, haversine_km
from geoapp.errors import InputError

__all__ = [
    "SIMULATED_DATA",
    "run_name",
    "file_slug",
    "place_slug",
    "similarity_file_stem",
    "similarity_csv",
    "similarity_geotiff",
    "geolocation_table",
    "geolocation_csv",
    "geolocation_file_name",
    "ablation_csv",
    "predictions_csv",
    "predictions_geojson",
    "predictions_file_name",
    "ablation_file_name",
]

SIMULATED_DATA = "simulated: a documented simulation on real county polygons, not observations"
"""The ``data`` column of every row exported from a simulated dataset."""

_SLUG_RE = re.compile(r"[^a-z0-9.-]+")


def file_slug(text: object, max_len: int = 40) -> str:
    """``text`` as a file-name part: lower case, runs of other characters as ``_``, at most ``max_len`` long."""
    slug = _SLUG_RE.sub("_", str(text).lower()).strip("_.")[:max_len].strip("_.")
    return slug or "unnamed"


def place_slug(lat: float, lon: float) -> str:
    """A (lat, lon) in degrees as a file-name part, e.g. ``22.32N_114.17E``."""
    return f"{abs(lat):.2f}{'N' if lat >= 0 else 'S'}_{abs(lon):.2f}{'E' if lon >= 0 else 'W'}"


# --------------------------------------------------------------------------------------------------
# Similarity field
# --------------------------------------------------------------------------------------------------


def _field(latlon: object, values: object) -> tuple[np.ndarray, np.ndarray]:
    pts = as_latlon(latlon)
    v = np.asarray(values, dtype=np.float64) if not isinstance(values, str | bytes) else np.asarray([])
    if v.ndim != 1 or len(v) != len(pts) or len(pts) == 0:
        raise InputError(
            f"values must be one number per point of a non-empty field: {len(pts)} points, got shape {np.shape(values)}"
        )
    return pts, v


def similarity_file_stem(encoder: str, gallery: str, reference: tuple[float, float]) -> str:
    """``similarity_<encoder>_<gallery>_ref_<place>``: the file name (without suffix) of a similarity export."""
    return f"similarity_{file_slug(encoder)}_{file_slug(gallery)}_ref_{place_slug(*reference)}"


def similarity_csv(latlon: np.ndarray, values: np.ndarray) -> bytes:
    """CSV with columns ``lat, lon, similarity``: one row per point of (N, 2) lat/lon ``latlon`` and (N,) ``values``.

    Coordinates to 1e-5 degree (about 1 m), similarities to 1e-6.
    """
    pts, v = _field(latlon, values)
    table = pd.DataFrame({"lat": pts[:, 0].round(5), "lon": pts[:, 1].round(5), "similarity": v.round(6)})
    return table.to_csv(index=False).encode("utf-8")


def _unit_vectors(lat: np.ndarray, lon: np.ndarray) -> np.ndarray:
    la, lo = np.radians(lat), np.radians(lon)
    return np.stack([np.cos(la) * np.cos(lo), np.cos(la) * np.sin(lo), np.sin(la)], axis=-1)


def similarity_geotiff(
    latlon: np.ndarray,
    values: np.ndarray,
    resolution_deg: float = 0.5,
    max_km: float = 130.0,
    tags: Mapping[str, object] | None = None,
) -> bytes:
    """A single-band float32 GeoTIFF of a point field on a regular lat/lon grid covering the world.

    Each cell (EPSG:4326, ``resolution_deg`` square, rows from 90 N southwards, columns from 180 W
    eastwards) takes the value of the point nearest its centre (great-circle), or NaN (the nodata
    value) when that point is farther than ``max_km`` (sea, for a land gallery). Band 1 is described
    as ``cosine similarity``; ``tags`` (e.g. encoder, gallery, reference) are written as dataset tags.

    Args:
        latlon: (N, 2) points, (lat, lon) degrees.
        values: (N,) values at the points.
        resolution_deg: cell size in degrees; 180 must be a whole multiple of it (0.5: 720 x 360 cells).
        max_km: cut-off distance, km.
        tags: extra metadata, written as text.

    Raises:
        InputError: a bad field, a resolution that does not divide 180 degrees or gives over 10^7 cells,
            or a cut-off that is not a positive number.
    """
    pts, v = _field(latlon, values)
    if not isinstance(resolution_deg, int | float) or isinstance(resolution_deg, bool) or not 0 < resolution_deg <= 90:
        raise InputError(f"resolution_deg must be a number of degrees in (0, 90], got {resolution_deg!r}")
    n_rows = 180.0 / resolution_deg
    if abs(n_rows - round(n_rows)) > 1e-9 or 2 * round(n_rows) ** 2 > 10_000_000:
        raise InputError(
            f"resolution_deg {resolution_deg!r} must divide 180 degrees and give at most 10^7 cells (e.g. 0.25, 0.5, 1)"
        )
    if not isinstance(max_km, int | float) or isinstance(max_km, bool) or not np.isfinite(max_km) or max_km <= 0:
        raise InputError(f"max_km must be a positive number of km, got {max_km!r}")
    height = round(n_rows)
    width = 2 * height
    lat = 90.0 - (np.arange(height) + 0.5) * resolution_deg
    lon = -180.0 + (np.arange(width) + 0.5) * resolution_deg
    lon_grid, lat_grid = np.meshgrid(lon, lat)
    tree = cKDTree(_unit_vectors(pts[:, 0], pts[:, 1]))
    chord_max = 2.0 * np.sin(max_km / EARTH_RADIUS_KM / 2.0)
    dist, idx = tree.query(_unit_vectors(lat_grid.ravel(), lon_grid.ravel()), distance_upper_bound=chord_max)
    grid = np.full(height * width, np.nan, dtype=np.float32)
    near = np.isfinite(dist)
    grid[near] = v[idx[near]]
    profile = {
        "driver": "GTiff",
        "height": height,
        "width": width,
        "count": 1,
        "dtype": "float32",
        "crs": "EPSG:4326",
        "transform": Affine(resolution_deg, 0.0, -180.0, 0.0, -resolution_deg, 90.0),  # west edge, north edge
        "nodata": float("nan"),
        "compress": "deflate",
    }
    with MemoryFile() as mem:
        with mem.open(**profile) as dst:
            dst.write(grid.reshape(height, width), 1)
            dst.set_band_description(1, "cosine similarity")
            dst.update_tags(**{str(k): str(val) for k, val in (tags or {}).items()}, max_km=f"{max_km:g}")
        return mem.read()


# --------------------------------------------------------------------------------------------------
# Geolocation
# --------------------------------------------------------------------------------------------------


def geolocation_csv(predictions: Sequence[Sequence[float]], truth: tuple[float, float] | None = None) -> bytes:
    """CSV of :func:`geolocation_table`."""
    return geolocation_table(predictions, truth).to_csv(index=False).encode("utf-8")


def geolocation_table(predictions: Sequence[Sequence[float]], truth: tuple[float, float] | None = None) -> pd.DataFrame:
    """Table ``rank, lat, lon, score`` (and ``error_km`` when ``truth`` is given) of top-k predictions.

    Args:
        predictions: (lat, lon, score) per prediction, best first (as :func:`geoapp.analysis.location.geolocate` returns).
        truth: the true (lat, lon) in degrees, when known; ``error_km`` is the great-circle distance to it.
    """
    try:
        preds = np.asarray(predictions, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise InputError(f"predictions must be (lat, lon, score) rows of numbers: {exc}") from exc
    if preds.ndim != 2 or preds.shape[1] != 3 or len(preds) == 0:
        raise InputError(f"predictions must be a non-empty list of (lat, lon, score) rows, got shape {preds.shape}")
    pts = as_latlon(preds[:, :2])
    table = pd.DataFrame(
        {
            "rank": np.arange(1, len(preds) + 1),
            "lat": pts[:, 0].round(5),
            "lon": pts[:, 1].round(5),
            "score": preds[:, 2].round(6),
        }
    )
    if truth is not None:
        t = as_latlon(truth)[0]
        table["error_km"] = haversine_km(t[0], t[1], pts[:, 0], pts[:, 1]).round(1)
    return table


def geolocation_file_name(model: str, image: str, k: int, truth: tuple[float, float] | None = None) -> str:
    """``geolocation_top<k>_<model>_<image>[_true_<place>].csv``."""
    where = f"_true_{place_slug(*truth)}" if truth is not None else ""
    return f"geolocation_top{k}_{file_slug(model)}_{file_slug(image)}{where}.csv"


# --------------------------------------------------------------------------------------------------
# Ablation tables
# --------------------------------------------------------------------------------------------------


def run_name(checkpoint: str | Path) -> str:
    """A checkpoint's run folder name (``.../s-ha-2016/best`` -> ``s-ha-2016``)."""
    path = Path(checkpoint)
    return path.parent.name if path.name in ("best", "last") else path.name


def ablation_csv(
    table: pd.DataFrame,
    dataset: str,
    simulated: bool,
    checkpoint: str | Path,
    year: int,
    counties: pd.DataFrame | None = None,
) -> bytes:
    """CSV of an ablation ``table`` with its provenance as leading columns on every row.

    Leading columns: ``data`` (:data:`SIMULATED_DATA`, or ``real`` for a dataset built from a user's
    files), ``dataset`` (its name), ``model_run`` (the checkpoint's run folder name) and ``year`` (the
    year evaluated), then the table's own columns unchanged (RMSE, yields, errors and their changes in
    bu/acre; R^2 without unit). A per-county table (with ``geoid``) given ``counties`` (``geoid``,
    ``name``, ``state``: the dataset's) gets each county's ``name`` and ``state`` after its geoid.

    Raises:
        InputError: ``table`` is not a DataFrame, or has a leading column of its own with other values;
            ``counties`` lacks geoid, name or state.
    """
    if counties is not None and isinstance(table, pd.DataFrame) and "geoid" in table.columns:
        if not isinstance(counties, pd.DataFrame) or not {"geoid", "name", "state"} <= set(counties.columns):
            raise InputError("counties must be a DataFrame with columns geoid, name and state (the dataset's counties)")
        names = counties[["geoid", "name", "state"]].astype({"geoid": str})
        table = table.astype({"geoid": str}).drop(columns=["name", "state"], errors="ignore").merge(names, on="geoid", how="left")
        order = [c for c in table.columns if c not in ("name", "state")]
        at = order.index("geoid") + 1
        table = table[[*order[:at], "name", "state", *order[at:]]]
    return _with_provenance(table, dataset, simulated, checkpoint, year).to_csv(index=False).encode("utf-8")


def _with_provenance(table: pd.DataFrame, dataset: str, simulated: bool, checkpoint: str | Path, year: int) -> pd.DataFrame:
    """``table`` with the leading provenance columns (see :func:`ablation_csv`)."""
    if not isinstance(table, pd.DataFrame):
        raise InputError(f"table must be a pandas DataFrame, got {type(table).__name__}")
    provenance = {
        "data": SIMULATED_DATA if simulated else "real",
        "dataset": dataset,
        "model_run": run_name(checkpoint),
        "year": int(year),
    }
    out = table.reset_index(drop=True).copy()
    for position, (name, value) in enumerate(provenance.items()):
        if name in out.columns:  # e.g. a per-county table's own year: kept when it agrees, moved to the front
            if not (out[name] == value).all():
                raise InputError(
                    f"the table's {name!r} column holds {sorted(set(out[name].astype(str)))[:3]}, not {value!r}; "
                    "rename the column or export the matching table"
                )
            out = out.drop(columns=name)
        out.insert(position, name, value)
    return out


def ablation_file_name(kind: str, dataset: str, simulated: bool, checkpoint: str | Path, year: int) -> str:
    """``ablation_<kind>_<dataset>_<run>_<year>[_simulated].csv``; simulated data always says so."""
    name = f"ablation_{file_slug(kind)}_{file_slug(dataset)}_{file_slug(run_name(checkpoint))}_{int(year)}"
    if simulated and "simulated" not in name:
        name += "_simulated"
    return name + ".csv"


# --------------------------------------------------------------------------------------------------
# County predictions
# --------------------------------------------------------------------------------------------------

_PREDICTION_COLUMNS = ("geoid", "true", "predicted", "error")


def _named_predictions(table: pd.DataFrame, counties: pd.DataFrame) -> pd.DataFrame:
    """Predictions (``geoid``, ``true``, ``predicted``, ``error``) with each county's ``name`` and ``state``."""
    if not isinstance(table, pd.DataFrame) or not set(_PREDICTION_COLUMNS) <= set(table.columns):
        raise InputError(f"table must be a DataFrame with columns {list(_PREDICTION_COLUMNS)} (a year's predictions)")
    if not isinstance(counties, pd.DataFrame) or not {"geoid", "name", "state"} <= set(counties.columns):
        raise InputError("counties must be a DataFrame with columns geoid, name and state (the dataset's counties)")
    names = counties[["geoid", "name", "state"]].astype({"geoid": str})
    out = table[list(_PREDICTION_COLUMNS)].astype({"geoid": str}).merge(names, on="geoid", how="left")
    return out[["geoid", "name", "state", "true", "predicted", "error"]]


def predictions_csv(
    table: pd.DataFrame, counties: pd.DataFrame, dataset: str, simulated: bool, checkpoint: str | Path, year: int
) -> bytes:
    """CSV of a year's county predictions (bu/acre) with their provenance and the counties' names."""
    named = _named_predictions(table, counties)
    return _with_provenance(named, dataset, simulated, checkpoint, year).to_csv(index=False).encode("utf-8")


def predictions_geojson(
    table: pd.DataFrame, polygons: pd.DataFrame, dataset: str, simulated: bool, checkpoint: str | Path, year: int
) -> bytes:
    """GeoJSON (EPSG:4326) of a year's county predictions: each county's polygon with the CSV's columns as properties.

    ``polygons``: a GeoDataFrame of the counties (``geoid``, ``name``, ``state``, ``geometry``; e.g.
    :func:`geoapp.data.counties.load_counties`); counties without a polygon are left out.
    """
    import geopandas as gpd

    if not isinstance(polygons, gpd.GeoDataFrame):
        raise InputError(f"polygons must be a GeoDataFrame of the counties, got {type(polygons).__name__}")
    rows = _with_provenance(_named_predictions(table, polygons), dataset, simulated, checkpoint, year)
    shapes = polygons[["geoid", "geometry"]].astype({"geoid": str})
    gdf = gpd.GeoDataFrame(rows.merge(shapes, on="geoid", how="inner"), geometry="geometry", crs=polygons.crs)
    return gdf.to_crs("EPSG:4326").to_json(drop_id=True).encode("utf-8")


def predictions_file_name(ext: str, dataset: str, simulated: bool, checkpoint: str | Path, year: int) -> str:
    """``predictions_<dataset>_<run>_<year>[_simulated].<csv|geojson>``; simulated data always says so."""
    if ext not in ("csv", "geojson"):
        raise InputError(f"ext must be 'csv' or 'geojson', got {ext!r}")
    name = f"predictions_{file_slug(dataset)}_{file_slug(run_name(checkpoint))}_{int(year)}"
    if simulated and "simulated" not in name:
        name += "_simulated"
    return f"{name}.{ext}"
