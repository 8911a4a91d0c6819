"""What the baselines read, cut from the standardised cube of :class:`~geoapp.training.yield_data.YieldTileSource`.

Three inputs, each for a batch of labelled examples (``Examples``) and with an optional feature
group masked (its standardised values set to 0, the training mean, as the attention models' what-if
ablation does):

- ``averaged`` (N, T * C): the anchor tile's mean of every band and month
  (:func:`geoapp.data.tiles.anchor_tile_means`), standardised with the source's training-year
  statistics; a missing mean is 0 (the training mean). Column ``t * C + c``.
- ``histograms`` (N, T, C, K): per month and band, the histogram of the anchor tile's standardised
  pixel values over K = 32 bins (You et al. 2017), as fractions of the tile's pixels (each sums to 1).
  The bin edges are fixed per band from the training years: K equal bins between the smallest and the
  largest standardised value of the band over the training examples' anchor tiles (a band whose
  values are all equal gets the range value +- 0.5); values outside fall into the end bins. The edges
  are saved in the checkpoint card, so a checkpoint bins every year the same way.
- ``tiles`` (N, T, C, t, t): the standardised anchor tiles themselves.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from geoapp.data.args import given
from geoapp.data.bands import BANDS, group_bands
from geoapp.data.tiles import anchor_tile_means
from geoapp.errors import InputError
from geoapp.training.yield_data import Examples, YieldTileSource

__all__ = ["InputReader", "HISTOGRAM_BINS", "INPUT_KINDS", "histogram_edges", "histograms"]

HISTOGRAM_BINS = 32
"""K, the bins of each band's histogram (You et al. 2017 use 32)."""

INPUT_KINDS = ("averaged", "histograms", "tiles")

_BATCH = 256
"""Examples per read when a whole set of inputs is computed."""


def histograms(tiles: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """Per-band histograms (B, T, C, K) float32 of standardised tiles (B, T, C, t, t) over ``edges`` (C, K + 1).

    Bin k of band c holds the fraction of the tile's pixels with ``edges[c, k] <= v < edges[c, k + 1]``;
    values below the first edge count in bin 0, values from the last edge on in bin K - 1.
    """
    b, t, c = tiles.shape[:3]
    k = edges.shape[1] - 1
    if edges.shape[0] != c:
        raise InputError(f"edges must have one row per band ({c}), got shape {edges.shape}")
    values = tiles.reshape(b, t, c, -1)
    bins = np.empty(values.shape, dtype=np.int64)
    for j in range(c):
        bins[:, :, j] = np.clip(np.searchsorted(edges[j, 1:-1], values[:, :, j], side="right"), 0, k - 1)
    flat = (np.arange(b * t * c).reshape(b, t, c, 1) * k + bins).ravel()
    counts = np.bincount(flat, minlength=b * t * c * k).reshape(b, t, c, k)
    return (counts / values.shape[-1]).astype(np.float32)


def histogram_edges(source: YieldTileSource, ex: Examples, bins: int = HISTOGRAM_BINS) -> np.ndarray:
    """Bin edges (C, bins + 1) float64 per band: equal bins over the band's range in the anchor tiles of ``ex``."""
    lo = np.full(len(source.bands), np.inf)
    hi = np.full(len(source.bands), -np.inf)
    for start in range(0, len(ex), _BATCH):
        tiles = source.anchor_tiles(ex, np.arange(start, min(start + _BATCH, len(ex)))).numpy()
        lo = np.minimum(lo, tiles.min(axis=(0, 1, 3, 4)))
        hi = np.maximum(hi, tiles.max(axis=(0, 1, 3, 4)))
    same = ~(hi > lo)
    lo, hi = np.where(same, lo - 0.5, lo), np.where(same, hi + 0.5, hi)
    return np.linspace(lo, hi, bins + 1, axis=1)


class InputReader:
    """One kind of baseline input for the examples of a :class:`YieldTileSource`.

    Args:
        kind: ``averaged``, ``histograms`` or ``tiles``.
        source: the standardised cube (its bands and training statistics).
        edges: the histogram bin edges (C, K + 1) for ``histograms`` (see :meth:`fit`).
    """

    def __init__(self, kind: str, source: YieldTileSource, edges: np.ndarray | None = None) -> None:
        if kind not in INPUT_KINDS:
            raise InputError(f"unknown input kind {given(kind)}; expected one of {list(INPUT_KINDS)}")
        if kind == "histograms" and edges is None:
            raise InputError("histogram inputs need bin edges (InputReader.fit, or the checkpoint card's)")
        self.kind, self.source = kind, source
        self.edges = None if edges is None else np.asarray(edges, dtype=np.float64)
        if self.edges is not None and (self.edges.ndim != 2 or self.edges.shape[0] != len(source.bands)):
            raise InputError(f"histogram edges must be ({len(source.bands)}, K + 1), got shape {self.edges.shape}")
        self._means: np.ndarray | None = None

    @classmethod
    def fit(cls, kind: str, source: YieldTileSource, train: Examples) -> InputReader:
        """The reader of ``kind``, with histogram edges fixed from the training examples ``train``."""
        edges = histogram_edges(source, train) if kind == "histograms" else None
        return cls(kind, source, edges)

    def card(self) -> dict[str, Any]:
        """What a checkpoint card keeps to read the same inputs again."""
        out: dict[str, Any] = {"kind": self.kind}
        if self.edges is not None:
            out["histogram_edges"] = self.edges.tolist()
        return out

    @property
    def shape(self) -> tuple[int, ...]:
        """One example's input shape."""
        t, c = self.source.mean.shape
        if self.kind == "averaged":
            return (t * c,)
        if self.kind == "histograms":
            return (t, c, self.edges.shape[1] - 1)
        return (t, c, self.source.tile_px, self.source.tile_px)

    def batch(self, ex: Examples, idx: np.ndarray, mask_group: str | None = None) -> torch.Tensor:
        """Inputs (B, *shape) float32 of examples ``idx``; ``mask_group``'s standardised values set to 0."""
        if mask_group is not None:
            group_bands(mask_group)  # an unknown group is refused
        if self.kind == "averaged":
            return torch.from_numpy(self._averaged(ex, idx, mask_group))
        tiles = self.source.anchor_tiles(ex, idx, mask_group=mask_group)
        if self.kind == "tiles":
            return tiles
        return torch.from_numpy(histograms(tiles.numpy(), self.edges))

    def all(self, ex: Examples, mask_group: str | None = None) -> torch.Tensor:
        """Inputs of every example of ``ex`` (averaged and histograms: small enough to hold)."""
        parts = [self.batch(ex, np.arange(s, min(s + _BATCH, len(ex))), mask_group) for s in range(0, len(ex), _BATCH)]
        return torch.cat(parts) if parts else torch.zeros((0, *self.shape))

    def _averaged(self, ex: Examples, idx: np.ndarray, mask_group: str | None) -> np.ndarray:
        if self._means is None:
            bands = [BANDS.index(b) for b in self.source.bands]
            self._means = anchor_tile_means(self.source.ds)[..., bands]  # (Y, counties, T, C) raw
        x = (self._means[ex.year[idx], ex.county[idx]] - self.source.mean) / self.source.std
        x = np.where(np.isfinite(x), x, 0.0).astype(np.float32)
        if mask_group is not None:
            x[..., [j for j, b in enumerate(self.source.bands) if b in group_bands(mask_group)]] = 0.0
        return x.reshape(len(x), -1)
