"""Data: everything read from or written to disk, below the models.

County polygons, the study grid, the input cube, datasets (simulated or built from a user's files),
NASS yields, raster ingest, Blue Marble patches, land sampling, galleries and country labels.

Modules are imported explicitly (``from geoapp.data.dataset import load_dataset``) so that importing one
never loads GDAL, geopandas or the imagery it does not need.
"""

from __future__ import annotations

__all__: list[str] = []
