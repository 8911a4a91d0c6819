"""Samplers: which tiles (and, later, which locations) a model sees, drawn vectorised from a seed.

- :mod:`geoapp.samplers.quadruplet`: the SEMI-HA quadruplet sampler (anchor, spatial neighbour, spatial
  distant, temporal neighbour), which chooses where the tiles lie.
- :mod:`geoapp.samplers.tiles`: :func:`gather_tiles`, which cuts the drawn tiles out of a cube array as
  one batch, and :func:`valid_pixel_mask`, the pixels a context tile may be centred on.
"""

from __future__ import annotations

from geoapp.samplers.quadruplet import (
    DistantRegion,
    DrawStatus,
    Quadruplets,
    QuadrupletSampler,
    Units,
    as_numpy_generator,
)
from geoapp.samplers.tiles import gather_tiles, valid_pixel_mask

__all__ = [
    "DistantRegion",
    "DrawStatus",
    "QuadrupletSampler",
    "Quadruplets",
    "Units",
    "as_numpy_generator",
    "gather_tiles",
    "valid_pixel_mask",
]
