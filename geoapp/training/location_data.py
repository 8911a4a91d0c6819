"""Where the location encoder trains and is tested, and what each training patch looks like.

Two held-out sets, both drawn uniformly on land (south of 60 S excluded):

- **random**: held-out points among the training points' region (validation for best-model
  selection, test for the benchmark): generalisation to new points of known regions;
- **spatial blocks**: whole cells of ``holdout_block_deg`` x ``holdout_block_deg`` degrees (a
  seeded ``holdout_block_fraction`` of the cells that are mostly land) where no training point lies:
  generalisation to regions never seen. Training points are also kept ``footprint_km / 2 +
  2 * shift_km`` km away from every held-out block, so no training patch at the reference scale
  shows any of it (larger training footprints, up to ``footprint_max_km``, can show a block's edge
  at their coarser resolution).

Training patches are cut afresh for every batch (:func:`training_patches`): each at a random
footprint (log-uniform in ``[footprint_min_km, footprint_max_km]``), its centre shifted by a random
offset (normal, ``shift_km`` per axis), the relief band replaced by the neutral value
:data:`NEUTRAL_RELIEF` for a share ``relief_dropout`` of them (so the image tower works from RGB
alone, as an upload is), and the RGB colours jittered (brightness, contrast, saturation by up to
``color_jitter``; imagery from other sources than Blue Marble differs in tone).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from geoapp.data.geodesy import destination
from geoapp.data.imagery import extract_patches
from geoapp.data.land import fibonacci_land_points, sample_land_points

__all__ = [
    "NEUTRAL_RELIEF",
    "BlockHoldout",
    "holdout_blocks",
    "sample_outside_blocks",
    "sample_inside_blocks",
    "training_patches",
    "drop_relief",
    "jitter_colours",
]

NEUTRAL_RELIEF = 128
"""The relief band's value where there is no relief (an RGB image): the middle of the uint8 range."""

_LAND_SHARE = 0.5
"""A cell takes part in the block split when at least this share of its area is land."""


@dataclass(frozen=True)
class BlockHoldout:
    """Held-out cells of a lat/lon grid of ``block_deg`` degrees.

    ``cells``: (K, 2) int row/column indices of the held-out cells (row 0 at 90 S, column 0 at
    180 W); ``margin_km``: how far from every held-out cell a training point must lie.
    """

    block_deg: float
    cells: np.ndarray
    margin_km: float

    def cell_of(self, lat: np.ndarray, lon: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Row and column (int arrays) of the grid cell holding each point (degrees)."""
        n_rows = int(np.ceil(180.0 / self.block_deg))
        n_cols = int(np.ceil(360.0 / self.block_deg))
        row = np.clip(np.floor((np.asarray(lat) + 90.0) / self.block_deg).astype(np.int64), 0, n_rows - 1)
        col = np.clip(np.floor((np.mod(np.asarray(lon) + 180.0, 360.0)) / self.block_deg).astype(np.int64), 0, n_cols - 1)
        return row, col

    def inside(self, lat: np.ndarray, lon: np.ndarray) -> np.ndarray:
        """(N,) bool: the point lies in a held-out cell."""
        if len(self.cells) == 0:
            return np.zeros(np.shape(lat), dtype=bool)
        row, col = self.cell_of(lat, lon)
        n_cols = int(np.ceil(360.0 / self.block_deg))
        held = set((self.cells[:, 0] * n_cols + self.cells[:, 1]).tolist())
        return np.isin(row * n_cols + col, list(held))

    def near(self, lat: np.ndarray, lon: np.ndarray) -> np.ndarray:
        """(N,) bool: the point lies in a held-out cell or within ``margin_km`` of one (checked on 16 bearings)."""
        lat, lon = np.asarray(lat, dtype=np.float64), np.asarray(lon, dtype=np.float64)
        hit = self.inside(lat, lon)
        if self.margin_km > 0 and len(self.cells):
            for bearing in np.arange(0.0, 360.0, 22.5):
                for frac in (0.5, 1.0):
                    la, lo = destination(lat, lon, bearing, frac * self.margin_km)
                    hit |= self.inside(la, lo)
        return hit


def holdout_blocks(block_deg: float, fraction: float, margin_km: float, seed: int) -> BlockHoldout:
    """A seeded ``fraction`` of the mostly-land cells of a ``block_deg`` grid (none when fraction is 0)."""
    if fraction <= 0:
        return BlockHoldout(block_deg, np.empty((0, 2), dtype=np.int64), margin_km)
    probe = BlockHoldout(block_deg, np.empty((0, 2), dtype=np.int64), margin_km)
    n_lattice = 400_000  # ~1,270 km^2 per lattice point: a 10-degree cell holds hundreds
    land = fibonacci_land_points(int(n_lattice * 0.26))
    row, col = probe.cell_of(land[:, 0], land[:, 1])
    n_cols = int(np.ceil(360.0 / block_deg))
    ids, counts = np.unique(row * n_cols + col, return_counts=True)
    # a cell's expected lattice points if it were all land: its area share of the sphere
    lat0 = np.radians(ids // n_cols * block_deg - 90.0)
    lat1 = np.radians(np.minimum(ids // n_cols * block_deg + block_deg - 90.0, 90.0))
    full = n_lattice * (np.sin(lat1) - np.sin(lat0)) * (block_deg / 360.0) / 2.0
    mostly_land = ids[counts >= _LAND_SHARE * full]
    rng = np.random.default_rng([seed, 3])
    k = max(1, int(round(fraction * len(mostly_land))))
    chosen = np.sort(rng.choice(mostly_land, size=min(k, len(mostly_land)), replace=False))
    return BlockHoldout(block_deg, np.column_stack([chosen // n_cols, chosen % n_cols]), margin_km)


def sample_outside_blocks(n: int, blocks: BlockHoldout, seed: int) -> np.ndarray:
    """``n`` land points (N, 2) lat/lon degrees, uniform by area, none in or near a held-out block."""
    rng = np.random.default_rng([seed, 5])
    out, have = [], 0
    while have < n:
        pts = sample_land_points(int((n - have) * 1.6) + 64, seed=rng)
        pts = pts[~blocks.near(pts[:, 0], pts[:, 1])]
        out.append(pts[: n - have])
        have += len(out[-1])
    return np.concatenate(out) if out else np.empty((0, 2))


def sample_inside_blocks(n: int, blocks: BlockHoldout, seed: int) -> np.ndarray:
    """``n`` land points (N, 2) lat/lon degrees, uniform by area inside the held-out blocks (empty without blocks)."""
    if len(blocks.cells) == 0 or n == 0:
        return np.empty((0, 2))
    rng = np.random.default_rng([seed, 7])
    area_share = max(1e-3, len(blocks.cells) * (blocks.block_deg / 180.0) * (blocks.block_deg / 360.0))
    out, have = [], 0
    while have < n:
        pts = sample_land_points(int((n - have) / area_share * 1.5) + 64, seed=rng)
        pts = pts[blocks.inside(pts[:, 0], pts[:, 1])]
        out.append(pts[: n - have])
        have += len(out[-1])
    return np.concatenate(out)


def drop_relief(patches: np.ndarray, share: float, rng: np.random.Generator) -> np.ndarray:
    """Set the relief band (channel 3) of a random ``share`` of (B, S, S, 4) uint8 patches to :data:`NEUTRAL_RELIEF`, in place."""
    if share > 0 and patches.shape[-1] == 4:
        patches[rng.random(len(patches)) < share, ..., 3] = NEUTRAL_RELIEF
    return patches


def jitter_colours(patches: np.ndarray, amount: float, rng: np.random.Generator) -> np.ndarray:
    """Random brightness, contrast and saturation (each a factor in [1 - amount, 1 + amount]) on the RGB of (B, S, S, C) uint8.

    Returns a new uint8 array; the relief band (if any) is left as it is.
    """
    if amount <= 0:
        return patches
    b = len(patches)
    rgb = patches[..., :3].astype(np.float32)
    brightness, contrast, saturation = (rng.uniform(1.0 - amount, 1.0 + amount, (3, b, 1, 1, 1))).astype(np.float32)
    rgb *= brightness
    mean = rgb.mean(axis=(1, 2, 3), keepdims=True)
    rgb = (rgb - mean) * contrast + mean
    grey = rgb.mean(axis=3, keepdims=True)
    rgb = (rgb - grey) * saturation + grey
    out = patches.copy()
    out[..., :3] = np.clip(np.rint(rgb), 0, 255).astype(np.uint8)
    return out


def training_patches(
    latlon: np.ndarray,
    size_px: int,
    footprint_range_km: tuple[float, float],
    shift_km: float,
    relief: bool,
    relief_dropout: float,
    color_jitter: float,
    rng: np.random.Generator,
) -> np.ndarray:
    """Augmented patches (B, S, S, C) uint8 of (B, 2) lat/lon training points (see the module docstring)."""
    lo, hi = footprint_range_km
    footprints = np.exp(rng.uniform(np.log(lo), np.log(hi), len(latlon))) if hi > lo else float(lo)
    shift = rng.normal(0.0, shift_km, (len(latlon), 2)) if shift_km > 0 else None
    patches = extract_patches(latlon, size_px=size_px, footprint_km=footprints, relief=relief, shift_km=shift)
    patches = drop_relief(patches, relief_dropout if relief else 0.0, rng)
    return jitter_colours(patches, color_jitter, rng)
