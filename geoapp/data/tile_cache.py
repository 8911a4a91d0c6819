"""Tiles read out of core: an LRU cache of cube blocks sized in MB, and batched tile reads through it.

A :class:`BlockCache` holds square blocks of a (lead, month, band, y, x) array that lives on disk
(the lead axis is usually the year), ``block_px`` x ``block_px`` pixels each, aligned with the
cube's chunks, and loads a missing block with a caller's function (which reads the chunks under it,
e.g. standardising them on the way). :meth:`BlockCache.gather` cuts a batch of tiles anywhere on the
grid from the blocks they overlap (at most four for a tile no larger than a block), so a tile read
touches only the chunks it needs, and memory stays under ``capacity_mb`` however large the cube: the
least recently used blocks are dropped first.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable

import numpy as np

from geoapp.data.args import as_int, as_number
from geoapp.errors import InputError

__all__ = ["BlockCache"]


class BlockCache:
    """Least-recently-used cache of (lead, block row, block col) blocks of a (L, T, C, H, W) array.

    Args:
        load_block: ``load_block(lead, rows, cols)`` returns the block (T, C, len(rows), len(cols))
            float32 for a lead index and two ``slice`` objects of pixels.
        shape: (L, T, C, H, W) of the whole array.
        block_px: block side in pixels (best a multiple of the on-disk chunk side).
        capacity_mb: most megabytes (10^6 bytes) of blocks held; at least one block is always kept.

    Attributes:
        hits, misses: block lookups served from memory and loaded, since creation.
    """

    def __init__(
        self,
        load_block: Callable[[int, slice, slice], np.ndarray],
        shape: tuple[int, int, int, int, int],
        block_px: int,
        capacity_mb: float,
    ) -> None:
        if len(shape) != 5:
            raise InputError(f"shape must be (lead, months, bands, rows, cols), got {shape!r}")
        self.shape = tuple(int(v) for v in shape)
        self.block_px = as_int(block_px, "block_px", minimum=1)
        self.capacity_bytes = as_number(capacity_mb, "capacity_mb", "MB") * 1e6
        self._load = load_block
        self._blocks: OrderedDict[tuple[int, int, int], np.ndarray] = OrderedDict()
        self._bytes = 0
        self.hits = 0
        self.misses = 0

    @property
    def nbytes(self) -> int:
        """Bytes of the blocks held now."""
        return self._bytes

    def block(self, lead: int, bi: int, bj: int) -> np.ndarray:
        """The block at block row ``bi``, block column ``bj`` of lead index ``lead`` (T, C, bh, bw)."""
        key = (lead, bi, bj)
        found = self._blocks.get(key)
        if found is not None:
            self._blocks.move_to_end(key)
            self.hits += 1
            return found
        self.misses += 1
        b = self.block_px
        h, w = self.shape[-2:]
        values = np.ascontiguousarray(self._load(lead, slice(bi * b, min((bi + 1) * b, h)), slice(bj * b, min((bj + 1) * b, w))))
        self._blocks[key] = values
        self._bytes += values.nbytes
        while self._bytes > self.capacity_bytes and len(self._blocks) > 1:
            _, dropped = self._blocks.popitem(last=False)
            self._bytes -= dropped.nbytes
        return values

    def gather(self, origins: np.ndarray, tile_px: int, lead: np.ndarray) -> np.ndarray:
        """Tiles (N, T, C, tile_px, tile_px) float32 with upper-left pixels ``origins`` (N, 2) of leads ``lead`` (N,).

        Raises:
            InputError: a tile off the grid or a lead index out of range.
        """
        origins = np.asarray(origins, dtype=np.int64).reshape(-1, 2)
        lead = np.asarray(lead, dtype=np.int64).reshape(-1)
        n_lead, t_len, c_len, h, w = self.shape
        t = as_int(tile_px, "tile_px", minimum=1)
        if len(lead) != len(origins):
            raise InputError(f"lead must hold one index per tile ({len(origins)}), got {len(lead)}")
        bad = (origins[:, 0] < 0) | (origins[:, 0] > h - t) | (origins[:, 1] < 0) | (origins[:, 1] > w - t)
        bad |= (lead < 0) | (lead >= n_lead)
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            raise InputError(
                f"tile #{i} at origin {tuple(int(v) for v in origins[i])} (lead {int(lead[i])}) leaves the {h}x{w} grid "
                f"of {n_lead} lead(s) (tile {t} px)"
            )
        out = np.empty((len(origins), t_len, c_len, t, t), dtype=np.float32)
        b = self.block_px
        for i, ((r0, c0), k) in enumerate(zip(origins.tolist(), lead.tolist(), strict=True)):
            for bi in range(r0 // b, (r0 + t - 1) // b + 1):
                rs, re = max(r0, bi * b), min(r0 + t, (bi + 1) * b)
                for bj in range(c0 // b, (c0 + t - 1) // b + 1):
                    cs, ce = max(c0, bj * b), min(c0 + t, (bj + 1) * b)
                    blk = self.block(k, bi, bj)
                    out[i, :, :, rs - r0 : re - r0, cs - c0 : ce - c0] = blk[
                        :, :, rs - bi * b : re - bi * b, cs - bj * b : ce - bj * b
                    ]
        return out
