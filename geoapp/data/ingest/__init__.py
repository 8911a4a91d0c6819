"""Build a cube from a user's own rasters (GeoTIFF or NetCDF), listed in a CSV manifest.

- :mod:`~geoapp.data.ingest.manifest`: the manifest's format and :func:`read_manifest`, which checks
  every row and names each problem with its line.
- :mod:`~geoapp.data.ingest.reproject`: reading one raster band and warping it onto the cube grid.
- :mod:`~geoapp.data.ingest.build`: :func:`ingest_manifest`, which reprojects every raster of a
  manifest onto one grid, checks the values and saves the cube atomically.
- :mod:`~geoapp.data.ingest.report`: :class:`IngestReport` (what :func:`ingest_manifest` returns) and
  :class:`SlotStatus`, one (band, year, month) slot, filled or missing.

Example::

    from geoapp.data.ingest import ingest_manifest

    report = ingest_manifest("rasters.csv", "data/real_cube.nc", resolution_m=4000.0)
    print(report.summary())
"""

from __future__ import annotations

from geoapp.data.ingest.build import PLAUSIBLE_RANGE, UNIT_HINTS, ingest_manifest
from geoapp.data.ingest.manifest import MANIFEST_COLUMNS, OPTIONAL_COLUMNS, read_manifest
from geoapp.data.ingest.report import IngestReport, SlotStatus
from geoapp.data.ingest.reproject import MAX_READ_PIXELS

__all__ = [
    "MANIFEST_COLUMNS",
    "OPTIONAL_COLUMNS",
    "PLAUSIBLE_RANGE",
    "SlotStatus",
    "IngestReport",
    "read_manifest",
    "ingest_manifest",
    # constants importable from here as before (MAX_READ_PIXELS is read from geoapp.data.ingest.reproject)
    "UNIT_HINTS",
    "MAX_READ_PIXELS",
]
