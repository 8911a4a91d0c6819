"""The quadruplet sampler of SEMI-HA (Section III-C2): where A, SN, SD and TN lie, as tile origins.

For every (county anchor, year) example the sampler draws, all at once for a batch, the tile origins of

- **A**, the anchor: the ``tile_px`` tile centred at the county's crop centre, shifted (never cropped)
  onto the grid exactly as :func:`geoapp.data.tiles.tile_origin` does;
- **SN**, the spatial neighbour: A moved by an offset (dy, dx) with ``|dy| <= r_n`` and ``|dx| <= r_n``
  (both axes, as the paper), never (0, 0);
- **SD**, the spatial distant "hard negative": by default A moved by an offset with
  ``r_n < max(|dy|, |dx|) <= r_d``, the square ring between the two squares (its four corner squares
  plus its four side bands, :attr:`DistantRegion.RING`); or only the four corner squares
  ``r_n < |dy| <= r_d`` and ``r_n < |dx| <= r_d`` (:attr:`DistantRegion.CORNERS`);
- **TN**, the temporal neighbour: the same tile as A one time step earlier. The paper's time step is a
  month (Section IV-E), and TN^t = A^(t-1) needs no draw: the tile source builds it from A
  (:meth:`geoapp.training.yield_data.YieldTileSource.context_tiles`). The sampler gives the
  alternative, the previous *year* (``tn_year``; see :class:`QuadrupletSampler`).

The tiles themselves are cut out of the cube by :func:`geoapp.samplers.tiles.gather_tiles`.

Reference: H. Mao, X. Liu, N. Duffield, H. Yuan, S. Ji, B. Mohanty, "Context-aware Deep Representation
Learning for Geo-spatiotemporal Analysis" (``seeds/000_c3504549b90f76f9.txt``), Section III-C.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum, StrEnum
from typing import TYPE_CHECKING

import numpy as np
import torch

from geoapp.data.args import given
from geoapp.data.grid import Grid
from geoapp.errors import InputError
from geoapp.samplers.regions import DistantRegion, Region, distant_region, neighbour_region, sorted_offsets
from geoapp.samplers.tiles import gather_tiles, int_array, valid_pixel_mask

if TYPE_CHECKING:
    from geoapp.data.dataset import YieldDataset

__all__ = [
    "Units",
    "DistantRegion",
    "DrawStatus",
    "Quadruplets",
    "QuadrupletSampler",
    "as_numpy_generator",
    # defined in geoapp.samplers.tiles, and importable from here as they were
    "gather_tiles",
    "valid_pixel_mask",
]

GeneratorLike = int | np.random.Generator | torch.Generator | None
"""A seed, a numpy or torch generator, or None (fresh OS entropy: not reproducible)."""

MAX_ROUNDS = 1000
"""The most rejection rounds a sampler may run before its deterministic fallback (10 are plenty: each round
keeps the draws that landed)."""

_FALLBACK_CHUNK = 1 << 20  # examples x candidate offsets examined at once by the fallback search


class Units(StrEnum):
    """Units of the radii given to :class:`QuadrupletSampler`."""

    KM = "km"  # kilometres, converted with the grid resolution (Grid.km_to_px)
    PIXELS = "px"  # whole pixels of the grid


class DrawStatus(IntEnum):
    """How a context tile's offset was chosen (per example, in :class:`Quadruplets`)."""

    DRAWN = 0  # uniform at random in its region, tile on the grid, centre on a valid pixel
    NEAREST = 1  # rejection gave up: the region's offset nearest the anchor that is on the grid and valid
    MASK_IGNORED = 2  # no offset of the region has a valid centre: the nearest one on the grid, centre invalid


@dataclass(frozen=True)
class Quadruplets:
    """One batch of quadruplets drawn by :class:`QuadrupletSampler`; every array has N rows.

    Origins are the (row, col) of a tile's upper-left pixel; the tile spans ``origin`` to
    ``origin + tile_px - 1`` on both axes and always lies fully on the grid. Offsets are (dy, dx) in
    pixels from A's origin (rows grow southward, columns eastward).

    Attributes:
        anchor: (N, 2) int64 origins of A.
        sn: (N, 2) int64 origins of the spatial neighbours SN.
        sd: (N, 2) int64 origins of the spatial-distant tiles SD.
        year: (N,) int64 year index of A, SN and SD (an index into the cube's years).
        tn_year: (N,) int64 year index of TN; TN's origin is ``anchor``.
        tn_is_same_year: (N,) bool, True where A is in the first year (index 0) so TN is A itself; a
            trainer should drop those examples from the temporal loss L_UT.
        sn_offset: (N, 2) int64, ``sn - anchor``.
        sd_offset: (N, 2) int64, ``sd - anchor``.
        sn_status: (N,) int8 :class:`DrawStatus` of SN.
        sd_status: (N,) int8 :class:`DrawStatus` of SD.
        rounds: rejection rounds run (SN and SD together; each at most ``max_rounds``).
    """

    anchor: np.ndarray
    sn: np.ndarray
    sd: np.ndarray
    year: np.ndarray
    tn_year: np.ndarray
    tn_is_same_year: np.ndarray
    sn_offset: np.ndarray
    sd_offset: np.ndarray
    sn_status: np.ndarray
    sd_status: np.ndarray
    rounds: int

    def __len__(self) -> int:
        return int(self.anchor.shape[0])

    @property
    def n_fallback(self) -> dict[str, int]:
        """How many SN and SD offsets were not drawn at random (status NEAREST or MASK_IGNORED)."""
        return {
            "sn": int(np.count_nonzero(self.sn_status != DrawStatus.DRAWN)),
            "sd": int(np.count_nonzero(self.sd_status != DrawStatus.DRAWN)),
        }

    @property
    def n_mask_ignored(self) -> dict[str, int]:
        """How many SN and SD tiles are centred on an invalid pixel (no valid offset in their region)."""
        return {
            "sn": int(np.count_nonzero(self.sn_status == DrawStatus.MASK_IGNORED)),
            "sd": int(np.count_nonzero(self.sd_status == DrawStatus.MASK_IGNORED)),
        }


# ---- small blocks -----------------------------------------------------------------------------


def as_numpy_generator(generator: GeneratorLike) -> np.random.Generator:
    """Return a numpy Generator for a seed, a numpy Generator (returned as is) or a torch Generator.

    A torch Generator gives one 63-bit seed (advancing its state), so the same torch state gives the
    same draws. None gives a generator seeded from OS entropy.
    """
    if generator is None or isinstance(generator, np.random.Generator):
        return generator if generator is not None else np.random.default_rng()
    if isinstance(generator, torch.Generator):
        return np.random.default_rng(int(torch.randint(0, 2**63 - 1, (1,), generator=generator)))
    if isinstance(generator, (int, np.integer)) and not isinstance(generator, bool) and generator >= 0:
        return np.random.default_rng(int(generator))
    raise InputError(
        f"generator must be a non-negative int seed, a numpy.random.Generator, a torch.Generator or None; got {generator!r}"
    )


def _radius_px(value: float, name: str, units: Units, grid: Grid) -> int:
    number = isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, (bool, np.bool_))
    if not (number and np.isfinite(value) and value > 0):
        raise InputError(f"{name} must be a positive number of {units.value}, got {value!r}")
    if units is Units.PIXELS:
        if float(value) != int(value):
            raise InputError(f"{name} in pixels must be a whole number, got {value!r}")
        return int(value)
    return grid.km_to_px(float(value))


# ---- the sampler ------------------------------------------------------------------------------


class QuadrupletSampler:
    """Draw SEMI-HA quadruplets (A, SN, SD, TN) as tile origins, vectorised over a batch.

    Yields, per call of :meth:`sample`, a :class:`Quadruplets` of int64 tile origins (upper-left row,
    col, in pixels of ``grid``) for A, SN and SD, the year index of A and of TN, and the offsets.

    - Radii ``r_n`` and ``r_d`` are in ``units`` (km by default, converted with :meth:`Grid.km_to_px`,
      so they follow the grid resolution): the paper's 25 and 100 px at 1 km are 25 and 100 km, i.e.
      6 and 25 px on the 4 km demo grid. Offsets are measured from A's tile (its centre is the anchor
      pixel unless A had to be shifted onto the grid near an edge).
    - SN and SD tiles are **not** clipped onto the grid: offsets are drawn uniformly from the part of
      their region that keeps the tile fully on the grid, so every SN/SD lies on the grid *and* its
      displacement from A is exactly its offset (clipping would slide a "distant" tile back towards A,
      even onto it, near the edges). A itself is shifted onto the grid like
      :func:`~geoapp.data.tiles.tile_origin`.
    - ``valid_mask`` (H, W) bool: SN and SD tile centres (``origin + tile_px // 2``) must fall on True.
    - Rejection (of the ring's inner square and of invalid centres) is vectorised and runs at most
      ``max_rounds`` rounds over the examples still pending; those still without an offset
      then get, deterministically, the offset of the region nearest the anchor whose tile is on the grid
      with a valid centre (:attr:`DrawStatus.NEAREST`), or, if none has a valid centre, the nearest one on
      the grid (:attr:`DrawStatus.MASK_IGNORED`). The grid is checked to leave room for such an offset,
      so a call never loops and never fails.
    - TN here is the **previous year** (``tn_year``), the alternative to the paper's previous month
      (which needs no draw; the trainer's default): the same place and months under other weather.
      For year index 0 TN is the same year (TN = A, L_UT = 0), flagged by ``tn_is_same_year``. TN reads
      only inputs, never labels, and always an earlier year, so it cannot leak a validation/test label.
    - Same generator state, same draws. Each call advances the sampler's own generator unless one is
      passed to :meth:`sample`.

    When not to use it: for point locations (the location encoders sample lon/lat, not tiles); when
    context tiles should be allowed to hang over the grid edge (padded), as it never yields those; on a
    geographic (degree) grid, as it measures pixels, not great-circle km; with radii so small that SN
    and SD overlap A almost entirely (e.g. r_n = 1 px with 50 px tiles), where the spatial contrast the
    losses rely on vanishes; or where uniform offsets are wrong for the task (it does not weight by
    cropland: an SD tile may land on a city or forest).
    """

    def __init__(
        self,
        grid: Grid,
        tile_px: int,
        r_n: float = 25.0,
        r_d: float = 100.0,
        units: Units | str = Units.KM,
        valid_mask: np.ndarray | None = None,
        region: DistantRegion | str = DistantRegion.RING,
        n_years: int | None = None,
        max_rounds: int = 10,
        generator: GeneratorLike = None,
    ) -> None:
        """Check the geometry once and precompute the offset regions.

        Args:
            grid: the cube's grid (shape and resolution).
            tile_px: tile size in pixels (A, SN, SD and TN are all ``tile_px`` squares).
            r_n: spatial-neighbour radius, in ``units`` (paper: 25 px at 1 km = 25 km).
            r_d: spatial-distant radius, in ``units``, larger than ``r_n`` (paper: 100 px = 100 km).
            units: :class:`Units` of the radii (``"km"`` or ``"px"``).
            valid_mask: optional (H, W) bool array; SN/SD centres must be True (see :func:`valid_pixel_mask`).
            region: :class:`DistantRegion` SD is drawn from (default: the square ring).
            n_years: number of years in the cube, to check year indices (None: not checked above).
            max_rounds: rejection rounds before the deterministic fallback (at least 1).
            generator: seed or generator of the sampler's own random stream.

        Raises:
            InputError: bad radii (not positive, ``r_d <= r_n`` after conversion), a tile larger than the
                grid, a grid with no room for SD, a mask of the wrong shape or type, bad ``max_rounds``.
        """
        try:
            self.units = Units(units)
            self.region = DistantRegion(region)
        except ValueError as exc:
            raise InputError(
                f"{exc}; expected units in {[u.value for u in Units]!r} and region in {[r.value for r in DistantRegion]!r}"
            ) from None
        if not isinstance(grid, Grid):
            raise InputError(f"grid must be a geoapp.data.grid.Grid (e.g. ds.grid), got {given(grid)}")
        self.grid = grid
        self.grid_shape: tuple[int, int] = grid.shape
        h, w = self.grid_shape
        if not isinstance(tile_px, (int, np.integer)) or isinstance(tile_px, bool) or tile_px < 1:
            raise InputError(f"tile_px must be a positive whole number of pixels, got {tile_px!r}")
        if tile_px > min(h, w):
            raise InputError(f"tile of {tile_px} px is larger than the {h}x{w} grid; use a smaller tile_px")
        self.tile_px = int(tile_px)
        self.r_n_px = _radius_px(r_n, "r_n", self.units, grid)
        self.r_d_px = _radius_px(r_d, "r_d", self.units, grid)
        if self.r_d_px <= self.r_n_px:
            raise InputError(
                f"r_d must exceed r_n: got r_n={r_n!r} and r_d={r_d!r} {self.units.value}, i.e. {self.r_n_px} and "
                f"{self.r_d_px} px at {grid.resolution_m:g} m per pixel (the SD ring lies between them)"
            )
        room = [h - self.tile_px, w - self.tile_px]
        need = 2 * self.r_n_px + 1  # then every anchor can move r_n + 1 px along that axis
        if (max(room) if self.region is DistantRegion.RING else min(room)) < need:
            raise InputError(
                f"the {h}x{w} grid leaves no room for {self.region.value} SD tiles of {self.tile_px} px beyond "
                f"r_n = {self.r_n_px} px (needs grid size >= tile_px + {need} px on "
                f"{'one axis' if self.region is DistantRegion.RING else 'both axes'}); use a smaller r_n or tile"
            )
        if valid_mask is not None:
            valid_mask = np.asarray(valid_mask)
            if valid_mask.dtype != np.bool_ or valid_mask.shape != self.grid_shape:
                raise InputError(
                    f"valid_mask must be a bool array of the grid shape {self.grid_shape}; "
                    f"got {valid_mask.dtype} of shape {valid_mask.shape}"
                )
        self.valid_mask = valid_mask
        # Summed-area table of the mask, (H + 1, W + 1): valid pixels in any box in O(1) (fallback only).
        self._sat = None if valid_mask is None else np.pad(valid_mask.cumsum(0, dtype=np.int64).cumsum(1), ((1, 0), (1, 0)))
        if n_years is not None and (isinstance(n_years, bool) or not isinstance(n_years, (int, np.integer)) or n_years < 1):
            raise InputError(f"n_years must be a positive int or None, got {n_years!r}")
        self.n_years = n_years
        if isinstance(max_rounds, bool) or not isinstance(max_rounds, (int, np.integer)) or not 1 <= max_rounds <= MAX_ROUNDS:
            raise InputError(f"max_rounds must be an int >= 1 and at most {MAX_ROUNDS}, got {max_rounds!r}")
        self.max_rounds = int(max_rounds)
        self._sn_region = neighbour_region(self.r_n_px)
        self._sd_region = distant_region(self.r_n_px, self.r_d_px, self.region)
        self._rng = as_numpy_generator(generator)

    @classmethod
    def from_dataset(
        cls, ds: YieldDataset, r_n: float = 25.0, r_d: float = 100.0, mask: bool = True, **kwargs
    ) -> QuadrupletSampler:
        """Build a sampler on a dataset's grid and tile size, with its valid-pixel mask when ``mask``.

        The anchors to pass to :meth:`sample` are ``ds.counties[["anchor_row", "anchor_col"]]`` and the
        year indices are positions in ``ds.years``. Other keyword arguments go to the constructor.
        """
        from geoapp.data.dataset import YieldDataset

        if not isinstance(ds, YieldDataset):
            raise InputError(f"ds must be a dataset from load_dataset, got {given(ds)}; load it with load_dataset(<folder>)")
        if not isinstance(mask, (bool, np.bool_)):
            raise InputError(f"mask must be True or False (a bool), got {given(mask)}")
        valid = valid_pixel_mask(ds.cube) if mask else None
        return cls(ds.grid, ds.tile_px, r_n, r_d, valid_mask=valid, n_years=len(ds.years), **kwargs)

    def __repr__(self) -> str:
        return (
            f"QuadrupletSampler(grid={self.grid_shape}, tile_px={self.tile_px}, r_n={self.r_n_px} px, "
            f"r_d={self.r_d_px} px, region={self.region.value}, mask={self.valid_mask is not None})"
        )

    def anchor_origins(self, anchors: np.ndarray) -> np.ndarray:
        """(N, 2) origins of the tiles centred at ``anchors`` (N, 2) (row, col), shifted onto the grid."""
        centres = self._check_anchors(anchors)
        hi = np.array(self.grid_shape) - self.tile_px
        return np.clip(centres - self.tile_px // 2, 0, hi)

    def sample(self, anchors: np.ndarray, year_index: np.ndarray, generator: GeneratorLike = None) -> Quadruplets:
        """Draw one quadruplet per example.

        Args:
            anchors: (N, 2) int anchor centres (row, col) on the grid, e.g. counties' crop centres.
            year_index: (N,) int year index of each example (0 = first year of the cube).
            generator: seed or generator for this call; None uses (and advances) the sampler's own.

        Raises:
            InputError: anchors not (N, 2) integers on the grid, year indices negative or >= ``n_years``.
        """
        origin = self.anchor_origins(anchors)
        n = len(origin)
        years = int_array(year_index, "year_index", "of shape (N,)").reshape(-1)
        if years.shape[0] != n:
            raise InputError(f"year_index has {years.shape[0]} entries for {n} anchors; expected one per anchor")
        top = self.n_years if self.n_years is not None else np.iinfo(np.int64).max
        bad = (years < 0) | (years >= top)
        if bad.any():
            allowed = f"0..{top - 1}" if self.n_years is not None else "0 or more"
            raise InputError(
                f"year index {int(years[bad][0])} is not a year of the cube; expected {allowed} (positions in ds.years)"
            )
        rng = self._rng if generator is None else as_numpy_generator(generator)
        sn_off, sn_status, sn_rounds = self._draw(self._sn_region, origin, rng)
        sd_off, sd_status, sd_rounds = self._draw(self._sd_region, origin, rng)
        first = years == 0
        return Quadruplets(
            anchor=origin,
            sn=origin + sn_off,
            sd=origin + sd_off,
            year=years,
            tn_year=np.where(first, years, years - 1),
            tn_is_same_year=first,
            sn_offset=sn_off,
            sd_offset=sd_off,
            sn_status=sn_status,
            sd_status=sd_status,
            rounds=sn_rounds + sd_rounds,
        )

    # ---- internals ----------------------------------------------------------------------------
    def _check_anchors(self, anchors: np.ndarray) -> np.ndarray:
        a = int_array(anchors, "anchors", "of shape (N, 2) (row, col)")
        if a.ndim != 2 or a.shape[1] != 2:
            raise InputError(f"anchors must have shape (N, 2) (row, col); got shape {a.shape}")
        h, w = self.grid_shape
        off = (a[:, 0] < 0) | (a[:, 0] >= h) | (a[:, 1] < 0) | (a[:, 1] >= w)
        if off.any():
            i = int(np.flatnonzero(off)[0])
            raise InputError(
                f"{int(off.sum())} anchor(s) off the {h}x{w} grid, first #{i} at (row, col) = {tuple(int(v) for v in a[i])}; "
                "expected 0 <= row < H and 0 <= col < W (are they pixel indices of this grid?)"
            )
        return a

    def _feasible(self, origins: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(on the grid, on the grid with a valid centre) for origins of shape (..., 2)."""
        r, c = origins[..., 0], origins[..., 1]
        h, w = self.grid_shape
        t = self.tile_px
        on_grid = (r >= 0) & (r <= h - t) & (c >= 0) & (c <= w - t)
        if self.valid_mask is None:
            return on_grid, on_grid
        half = t // 2
        valid = self.valid_mask[np.clip(r + half, 0, h - 1), np.clip(c + half, 0, w - 1)]
        return on_grid, on_grid & valid

    def _draw(self, region: Region, origin: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, int]:
        n = len(origin)
        off = np.zeros((n, 2), dtype=np.int64)
        status = np.zeros(n, dtype=np.int8)
        pending = np.arange(n)
        lo = -origin  # offsets keeping the tile on the grid: lo <= (dy, dx) <= hi
        hi = np.array(self.grid_shape) - self.tile_px - origin
        rounds = 0
        while pending.size and rounds < self.max_rounds:
            rounds += 1
            cand, ok = region.sample(rng, lo[pending], hi[pending])
            if self.valid_mask is not None:
                ok &= self._feasible(origin[pending] + cand)[1]
            off[pending[ok]] = cand[ok]
            pending = pending[~ok]
        if pending.size:
            self._fallback(region, origin, pending, off, status)
        return off, status, rounds

    def _fallback(self, region: Region, origin: np.ndarray, pending: np.ndarray, off: np.ndarray, status: np.ndarray) -> None:
        """Deterministic offsets for ``pending`` (in place): the nearest feasible offset of ``region``.

        Examples whose region holds a valid centre (counted exactly in O(1) with the mask's summed-area
        table) get the nearest valid one (NEAREST); the others the nearest on the grid (MASK_IGNORED).
        """
        has_valid = self._count_valid(region, origin[pending]) > 0
        for need_valid, sel in ((True, pending[has_valid]), (False, pending[~has_valid])):
            if sel.size:
                off[sel] = self._nearest_feasible(sorted_offsets(region), origin[sel], need_valid)
                status[sel] = DrawStatus.NEAREST if need_valid else DrawStatus.MASK_IGNORED

    def _nearest_feasible(self, cands: np.ndarray, origins: np.ndarray, need_valid: bool) -> np.ndarray:
        """For each origin, the first of ``cands`` (sorted nearest first) that is feasible.

        Scans candidates in blocks and drops examples once served, so the work stops at the nearest
        feasible offset; the loop runs over candidate blocks (at most len(cands) / 64), never examples.
        """
        pick = np.zeros((len(origins), 2), dtype=np.int64)
        todo = np.arange(len(origins))
        start = 0
        while todo.size:
            block = cands[start : start + max(64, _FALLBACK_CHUNK // todo.size)]
            if not len(block):  # unreachable: the caller only asks for what the region holds
                raise RuntimeError(f"no feasible offset for {todo.size} anchor(s); please report this as a bug")
            on_grid, valid = self._feasible(origins[todo, None, :] + block[None, :, :])
            hit = valid if need_valid else on_grid
            found = hit.any(axis=1)
            pick[todo[found]] = block[hit[found].argmax(axis=1)]
            todo = todo[~found]
            start += len(block)
        return pick

    def _count_valid(self, region: Region, origins: np.ndarray) -> np.ndarray:
        """(n,) number of offsets of ``region`` keeping each tile on the grid with a valid centre.

        Inclusion-exclusion over boxes of the summed-area table; exact for regions with one kind of
        hole (all three used here). Without a mask every on-grid offset counts as valid (returns 1).
        """
        if self._sat is None:
            return np.ones(len(origins), dtype=np.int64)
        h, w = self.grid_shape
        t, half = self.tile_px, self.tile_px // 2

        def box(ry: int, rx: int) -> np.ndarray:  # valid centres with |dy| <= ry, |dx| <= rx, tile on the grid
            r0 = np.maximum(-ry, -origins[:, 0]) + origins[:, 0] + half
            r1 = np.minimum(ry, h - t - origins[:, 0]) + origins[:, 0] + half + 1
            c0 = np.maximum(-rx, -origins[:, 1]) + origins[:, 1] + half
            c1 = np.minimum(rx, w - t - origins[:, 1]) + origins[:, 1] + half + 1
            r1, c1 = np.maximum(r1, r0), np.maximum(c1, c0)  # empty ranges count 0
            sat = self._sat
            return sat[r1, c1] - sat[r0, c1] - sat[r1, c0] + sat[r0, c0]

        count = box(region.outer, region.outer)
        if region.square_hole >= 0:
            count = count - box(region.square_hole, region.square_hole)
        if region.axis_hole >= 0:
            a, b = region.axis_hole, region.outer
            count = count - box(a, b) - box(b, a) + box(a, a)
        return count
