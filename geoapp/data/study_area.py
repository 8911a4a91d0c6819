"""The study area: the grid that covers the 13 default states' counties.

Both the simulated dataset and ingested real rasters use this grid by default, so a real cube and the
simulated one line up pixel for pixel at the same resolution.
"""

from __future__ import annotations

from geoapp.data.args import as_int, as_number
from geoapp.data.counties import load_counties
from geoapp.data.grid import ALBERS_CONUS, Grid

__all__ = ["STUDY_AREA_MARGIN_M", "study_area_grid"]

STUDY_AREA_MARGIN_M = 100_000.0
"""Margin around the counties' bounds, in metres, so context tiles near the border stay on the grid."""


def study_area_grid(resolution_m: float, states: list[str] | tuple[str, ...] | None = None, min_side_px: int = 16) -> Grid:
    """The EPSG:5070 grid at ``resolution_m`` covering the counties of ``states`` plus a 100 km margin.

    Args:
        resolution_m: pixel size in metres (4000 for the demo configuration, 1000 for the paper's).
        states: postal codes; None for the 13 default states.
        min_side_px: the fewest pixels across the grid may have (one anchor tile; 16 by default).

    Raises:
        InputError: the resolution is not a positive number, or the grid would be too large or smaller
            than ``min_side_px`` across (:meth:`Grid.covering`; before anything is allocated); unknown
            states; ``min_side_px`` not a whole number of at least 1.
    """
    resolution_m = as_number(resolution_m, "resolution_m", "metres")  # before the counties are read
    min_side_px = as_int(min_side_px, "min_side_px", minimum=1)
    bounds = load_counties(states).to_crs(ALBERS_CONUS).total_bounds
    return Grid.covering(
        tuple(float(v) for v in bounds), resolution_m, ALBERS_CONUS, margin_m=STUDY_AREA_MARGIN_M, min_side_px=min_side_px
    )
