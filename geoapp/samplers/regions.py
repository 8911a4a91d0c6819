"""Offset regions of the quadruplet sampler: where SN and SD lie relative to the anchor, in pixels.

A region is a set of integer offsets (dy, dx) from the anchor tile's origin: SN's square
``[-r_n, r_n]^2`` without (0, 0), SD's square ring ``r_n < max(|dy|, |dx|) <= r_d`` or its four corner
squares. :meth:`Region.sample` draws offsets uniformly inside a per-example box (the offsets that keep
the tile on the grid) without enumerating the region; :func:`sorted_offsets` lists a region nearest
first, for the sampler's fallback search.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from enum import StrEnum

import numpy as np

from geoapp.data.args import as_int, given
from geoapp.errors import InputError

__all__ = ["DistantRegion", "Region", "neighbour_region", "distant_region", "sorted_offsets"]


class DistantRegion(StrEnum):
    """Where spatial-distant (SD) offsets (dy, dx) in pixels are drawn from, r_n < r_d."""

    RING = "ring"  # r_n < max(|dy|, |dx|) <= r_d: the square ring, four corner squares + four sides
    CORNERS = "corners"  # r_n < |dy| <= r_d and r_n < |dx| <= r_d: the four corner squares only


def _axis_draw(u: np.ndarray, lo: np.ndarray, hi: np.ndarray, outer: int, hole: int) -> np.ndarray:
    """One axis: uniform integers in [lo, hi] and in [-outer, outer] but outside [-hole, hole].

    ``u`` holds uniforms in [0, 1); ``hole < 0`` means no hole. The set is at most two intervals,
    sampled by one uniform index (floor(u * size), bias below size / 2**53).
    """
    a0 = np.maximum(lo, -outer)
    b1 = np.minimum(hi, outer)
    if hole < 0:
        size = b1 - a0 + 1
        return a0 + np.minimum((u * size).astype(np.int64), size - 1)
    s1 = np.clip(np.minimum(hi, -hole - 1) - a0 + 1, 0, None)  # [a0, -hole - 1]
    b0 = np.maximum(lo, hole + 1)
    size = s1 + np.clip(b1 - b0 + 1, 0, None)  # plus [hole + 1, b1]
    k = np.minimum((u * size).astype(np.int64), size - 1)
    return np.where(k < s1, a0 + k, b0 + k - s1)


@dataclass(frozen=True)
class Region:
    """Offsets (dy, dx) with |dy|, |dx| <= outer, |dy|, |dx| > axis_hole and max(|dy|, |dx|) > square_hole.

    A hole of -1 is no hole. SN: (r_n, -1, 0); SD ring: (r_d, -1, r_n); SD corners: (r_d, r_n, -1).
    """

    outer: int
    axis_hole: int
    square_hole: int

    def __post_init__(self) -> None:
        outer = as_int(self.outer, "outer", minimum=1)
        for name in ("axis_hole", "square_hole"):
            hole = as_int(getattr(self, name), name, minimum=-1)
            if hole >= outer:
                raise InputError(f"{name} must be smaller than outer ({outer} px), got {hole}: the region would be empty")

    def contains(self, off: np.ndarray) -> np.ndarray:
        """Bool (...,) for offsets (..., 2)."""
        a = np.abs(off)
        return (a.max(axis=-1) <= self.outer) & (a.min(axis=-1) > self.axis_hole) & (a.max(axis=-1) > self.square_hole)

    def sample(self, rng: np.random.Generator, lo: np.ndarray, hi: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Offsets uniform over the region's part inside the per-example box ``lo <= (dy, dx) <= hi``.

        ``lo``, ``hi``: (n, 2); every box must meet the region. Each axis is drawn inside the box and
        outside its axis hole directly (the region is a product set there); only the square hole is
        left to rejection. Returns the (n, 2) int64 offsets and a (n,) bool: True where outside the
        square hole (accept).
        """
        u = rng.random((lo.shape[0], 2))
        dy = _axis_draw(u[:, 0], lo[:, 0], hi[:, 0], self.outer, self.axis_hole)
        dx = _axis_draw(u[:, 1], lo[:, 1], hi[:, 1], self.outer, self.axis_hole)
        ok = np.maximum(np.abs(dy), np.abs(dx)) > self.square_hole
        return np.stack([dy, dx], axis=1), ok


@functools.lru_cache(maxsize=16)
def sorted_offsets(region: Region) -> np.ndarray:
    """(M, 2) every offset of ``region``, nearest the anchor first (dy^2 + dx^2, then dy, then dx)."""
    r = np.arange(-region.outer, region.outer + 1)
    off = np.stack(np.meshgrid(r, r, indexing="ij"), axis=-1).reshape(-1, 2)
    off = off[region.contains(off)]
    return off[np.lexsort((off[:, 1], off[:, 0], off[:, 0] ** 2 + off[:, 1] ** 2))]


def neighbour_region(r_n: int) -> Region:
    """The SN region: [-r_n, r_n]^2 without (0, 0); ``r_n`` a whole number of pixels >= 1."""
    return Region(outer=as_int(r_n, "r_n", minimum=1), axis_hole=-1, square_hole=0)


def distant_region(r_n: int, r_d: int, kind: DistantRegion) -> Region:
    """The SD region: the square ring r_n < max(|dy|, |dx|) <= r_d, or its four corner squares.

    Raises:
        InputError: ``r_n``/``r_d`` not whole numbers of pixels with 0 <= r_n < r_d, or ``kind`` not a
            :class:`DistantRegion` (or its value, ``"ring"`` / ``"corners"``).
    """
    r_n, r_d = as_int(r_n, "r_n", minimum=0), as_int(r_d, "r_d", minimum=1)
    if r_d <= r_n:
        raise InputError(f"r_d must exceed r_n (the SD region lies between them), got r_n={r_n} and r_d={r_d} px")
    try:
        kind = DistantRegion(kind)
    except ValueError:
        raise InputError(f"kind must be one of {[k.value for k in DistantRegion]!r}, got {given(kind)}") from None
    if kind is DistantRegion.CORNERS:
        return Region(outer=r_d, axis_hole=r_n, square_hole=-1)
    return Region(outer=r_d, axis_hole=-1, square_hole=r_n)
