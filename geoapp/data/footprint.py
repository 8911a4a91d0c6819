"""Where a user's rasters lie, and which states' counties they cover.

A raster's footprint is its bounding box, drawn in its own CRS and traced (densified) into lon/lat
(EPSG:4326), so a MODIS sinusoidal tile becomes the curved shape it really covers. The footprint of a
manifest is where every band has a raster: per band the union of its rasters' footprints, then the
intersection over bands. A county is covered when its interior point (shapely ``representative_point``)
lies inside that area; a state is covered when at least one of its counties is.

Footprints are bounding boxes: nodata inside a raster is not seen here (the build measures each
county's real coverage from the cube afterwards).
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import numpy as np
import pandas as pd
import rasterio
import rasterio.errors
import shapely
from pyproj import Transformer
from shapely.geometry.base import BaseGeometry

from geoapp.data.counties import STATE_FIPS, load_counties
from geoapp.data.ingest.manifest import NETCDF_GDAL_NAME
from geoapp.data.ingest.reproject import raster_file_error
from geoapp.errors import CRSError, InputError

__all__ = ["raster_footprint", "manifest_footprint", "covered_states", "check_states_covered", "describe_area"]

_EDGE_POINTS = 64
"""Points traced along each edge of a raster's bounding box when moving it to lon/lat."""


def raster_footprint(source: str) -> BaseGeometry:
    """The bounding box of the raster ``source`` (a path or GDAL name) as a lon/lat polygon (EPSG:4326).

    Raises:
        CRSError: the raster has no CRS.
        InputError: a NetCDF file of several variables named without one.
        DataFileError: it cannot be opened (empty, corrupt, a NetCDF file with no data variables, not a raster).
    """
    m = NETCDF_GDAL_NAME.match(source)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", rasterio.errors.NotGeoreferencedWarning)
            with rasterio.open(source) as src:
                crs, (x0, y0, x1, y1) = src.crs, src.bounds
                count, subdatasets = src.count, list(src.subdatasets)
    except (rasterio.errors.RasterioError, OSError) as exc:
        file, variable = (m["file"], m["var"]) if m else (source, None)
        raise raster_file_error(file, f"raster {source!r}", exc, variable=variable) from exc
    if count == 0:
        names = [s.rsplit(":", 1)[-1] for s in subdatasets]
        if not names:
            raise raster_file_error(source, f"raster {source!r}", rasterio.errors.RasterioIOError("no raster band"))
        raise InputError(
            f"raster {source!r} holds several variables ({', '.join(names)}); name one in the manifest as file.nc:variable"
        )
    if crs is None:
        raise CRSError(
            f"raster {source!r} has no CRS, so geoapp cannot tell where it lies; embed one (GeoTIFF georeferencing, a "
            f"NetCDF grid_mapping variable) or put a .prj or .aux.xml file beside it"
        )
    t = np.linspace(0.0, 1.0, _EDGE_POINTS)
    xs = np.concatenate([x0 + (x1 - x0) * t, np.full_like(t, x1), x1 - (x1 - x0) * t, np.full_like(t, x0)])
    ys = np.concatenate([np.full_like(t, y0), y0 + (y1 - y0) * t, np.full_like(t, y1), y1 - (y1 - y0) * t])
    lon, lat = Transformer.from_crs(crs, "EPSG:4326", always_xy=True).transform(xs, ys)
    ok = np.isfinite(lon) & np.isfinite(lat)
    if ok.sum() < 4:
        raise CRSError(f"raster {source!r}: its bounds {x0, y0, x1, y1} do not map to longitudes and latitudes in {crs}")
    return shapely.make_valid(shapely.Polygon(np.column_stack([lon[ok], lat[ok]])))


def manifest_footprint(table: pd.DataFrame) -> BaseGeometry:
    """Where every band of a manifest has data: intersection over bands of the union of each band's rasters.

    Args:
        table: a manifest read by :func:`geoapp.data.ingest.read_manifest` (columns ``band`` and ``source``).

    Returns:
        A lon/lat (EPSG:4326) geometry; empty when the bands do not overlap.
    """
    cache: dict[str, BaseGeometry] = {}
    area: BaseGeometry | None = None
    for _, rows in table.groupby("band", sort=True):
        shapes = [cache.setdefault(s, raster_footprint(s)) for s in rows["source"].unique()]
        band_area = shapely.union_all(shapes)
        area = band_area if area is None else area.intersection(band_area)
    return area if area is not None else shapely.Polygon()


def covered_states(area: BaseGeometry) -> tuple[str, ...]:
    """Postal codes (sorted) of the states with at least one county whose interior point lies in ``area``."""
    counties = load_counties(list(STATE_FIPS))
    points = counties.geometry.representative_point()
    inside = (
        shapely.contains_xy(area, points.x.to_numpy(), points.y.to_numpy()) if not area.is_empty else np.zeros(len(points), bool)
    )
    return tuple(sorted(set(counties.loc[inside, "state"])))


def check_states_covered(states: Sequence[str], area: BaseGeometry, what: str) -> None:
    """Raise :class:`InputError` naming any of ``states`` with no county inside ``area``.

    Args:
        states: postal codes asked for.
        area: the rasters' common footprint (lon/lat).
        what: how to name the rasters in the message (e.g. the manifest's file name).
    """
    have = covered_states(area)
    absent = [s for s in states if s not in have]
    if absent:
        raise InputError(
            f"state(s) {absent} are not covered by the rasters of {what}: where every band has a raster "
            f"({describe_area(area)}) holds counties of {list(have) or 'no state'}; pick states the rasters cover "
            f"or leave the states out to use those"
        )


def describe_area(area: BaseGeometry) -> str:
    """``"lon -92.6..-88.9, lat 40.9..42.3"`` for a lon/lat geometry (``"nothing"`` if empty)."""
    if area.is_empty:
        return "nothing: the bands' rasters do not overlap"
    x0, y0, x1, y1 = area.bounds
    return f"lon {x0:.2f}..{x1:.2f}, lat {y0:.2f}..{y1:.2f}"
