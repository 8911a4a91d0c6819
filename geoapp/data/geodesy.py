"""Points on a spherical Earth (mean radius 6371.0088 km).

Validation of (lat, lon) arrays and great-circle distances.
"""

from __future__ import annotations

import numpy as np

from geoapp.errors import InputError

__all__ = ["EARTH_RADIUS_KM", "as_latlon", "haversine_km", "destination"]

EARTH_RADIUS_KM = 6371.0088


def haversine_km(lat1, lon1, lat2, lon2) -> np.ndarray:
    """Great-circle distance in km between points given in degrees (arrays broadcast)."""
    p1, p2 = np.radians(lat1), np.radians(lat2)
    dphi = p2 - p1
    dlmb = np.radians(np.asarray(lon2) - np.asarray(lon1))
    a = np.sin(dphi / 2) ** 2 + np.cos(p1) * np.cos(p2) * np.sin(dlmb / 2) ** 2
    return 2 * EARTH_RADIUS_KM * np.arcsin(np.sqrt(np.clip(a, 0.0, 1.0)))


def destination(lat, lon, bearing_deg, distance_km) -> tuple[np.ndarray, np.ndarray]:
    """The point ``distance_km`` from (lat, lon) along the great circle leaving at ``bearing_deg``.

    Degrees in and out (bearing clockwise from north; arrays broadcast); longitudes in [-180, 180).
    """
    phi, lam = np.radians(lat), np.radians(lon)
    theta = np.radians(bearing_deg)
    delta = np.asarray(distance_km, dtype=np.float64) / EARTH_RADIUS_KM
    sin_phi2 = np.sin(phi) * np.cos(delta) + np.cos(phi) * np.sin(delta) * np.cos(theta)
    phi2 = np.arcsin(np.clip(sin_phi2, -1.0, 1.0))
    lam2 = lam + np.arctan2(np.sin(theta) * np.sin(delta) * np.cos(phi), np.cos(delta) - np.sin(phi) * sin_phi2)
    return np.degrees(phi2), np.mod(np.degrees(lam2) + 180.0, 360.0) - 180.0


def as_latlon(latlon) -> np.ndarray:
    """``latlon`` as a float64 (N, 2) array of (lat, lon) degrees; a single (2,) pair becomes N = 1.

    Raises:
        InputError: non-numbers, a wrong shape, NaN or infinite values, or a latitude outside
            [-90, 90] (naming the first bad row; a swapped lat/lon is the usual cause).
    """
    try:
        raw = np.asarray(latlon)
        if raw.dtype.kind not in "biuf" or raw.dtype.kind == "b":
            raise TypeError(f"got {raw.dtype} values (text, booleans or objects)")
        arr = raw.astype(np.float64)
    except (TypeError, ValueError) as exc:
        raise InputError(f"latlon must be numbers in an (N, 2) array of (lat, lon) degrees: {exc}") from exc
    if arr.ndim == 1 and arr.shape[0] == 2:
        arr = arr[None, :]
    if arr.ndim != 2 or arr.shape[1] != 2:
        raise InputError(f"latlon must be an (N, 2) array of (lat, lon) degrees, got shape {arr.shape}")
    bad = ~np.isfinite(arr).all(axis=1)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise InputError(f"latlon row {i} is {arr[i].tolist()}: lat and lon must be finite numbers")
    out = np.abs(arr[:, 0]) > 90.0
    if out.any():
        i = int(np.flatnonzero(out)[0])
        raise InputError(f"latitude must lie in [-90, 90] degrees, got {arr[i, 0]!r} (row {i}); were lat and lon swapped?")
    return arr
