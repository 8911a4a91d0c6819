"""Tests for geoapp.samplers.quadruplet: offset regions, grid edges, TN, seeds, masks, radii, bad inputs."""

from __future__ import annotations

import time

import numpy as np
import pytest
import torch

from geoapp.data.dataset import load_dataset
from geoapp.data.grid import Grid
from geoapp.data.tiles import tile_origin
from geoapp.errors import InputError
from geoapp.samplers import (
    DistantRegion,
    DrawStatus,
    QuadrupletSampler,
    Units,
    as_numpy_generator,
    gather_tiles,
)

H, W, TILE = 120, 150, 16  # a small 4 km grid; defaults give r_n = 6 px, r_d = 25 px


def make_grid(h: int = H, w: int = W, res: float = 4000.0) -> Grid:
    return Grid("EPSG:5070", res, 0.0, 0.0, w * res, h * res)


def random_anchors(n: int, h: int = H, w: int = W, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.stack([rng.integers(0, h, n), rng.integers(0, w, n)], axis=1)


EDGE_ANCHORS = np.array(
    [[0, 0], [0, W - 1], [H - 1, 0], [H - 1, W - 1], [0, W // 2], [H - 1, W // 2], [H // 2, 0], [H // 2, W - 1],
     [3, 5], [H - 4, W - 2], [H // 2, W // 2]]
)  # fmt: skip


def cheb(off: np.ndarray) -> np.ndarray:
    return np.abs(off).max(axis=1)


def assert_on_grid(origins: np.ndarray, h: int = H, w: int = W, tile: int = TILE) -> None:
    assert (origins >= 0).all()
    assert (origins[:, 0] <= h - tile).all() and (origins[:, 1] <= w - tile).all()


# ---- regions ------------------------------------------------------------------------------------


def test_default_radii_are_the_papers_km_on_the_demo_grid():
    s = QuadrupletSampler(make_grid(), TILE)
    assert (s.r_n_px, s.r_d_px) == (6, 25)  # 25 km and 100 km at 4 km per pixel
    assert s.region is DistantRegion.RING


def test_offsets_within_bounds_ring():
    s = QuadrupletSampler(make_grid(), TILE, generator=1)
    q = s.sample(random_anchors(20_000), np.zeros(20_000, dtype=int))
    assert (q.sn_status == DrawStatus.DRAWN).all() and (q.sd_status == DrawStatus.DRAWN).all()
    assert (cheb(q.sn_offset) <= 6).all() and (cheb(q.sn_offset) >= 1).all()  # [-r_n, r_n]^2 \ {0}
    assert (cheb(q.sd_offset) > 6).all() and (cheb(q.sd_offset) <= 25).all()  # r_n < max(|dy|,|dx|) <= r_d
    np.testing.assert_array_equal(q.sn - q.anchor, q.sn_offset)
    np.testing.assert_array_equal(q.sd - q.anchor, q.sd_offset)
    # the ring has sides as well as corners: some SD offsets have one small component
    assert (np.abs(q.sd_offset).min(axis=1) <= 6).any() and (np.abs(q.sd_offset).min(axis=1) > 6).any()


def test_offsets_within_bounds_corners():
    s = QuadrupletSampler(make_grid(), TILE, region="corners", generator=2)
    q = s.sample(random_anchors(20_000), np.zeros(20_000, dtype=int))
    a = np.abs(q.sd_offset)
    assert (a > 6).all() and (a <= 25).all()


def test_every_offset_reachable_and_roughly_uniform_in_the_interior():
    s = QuadrupletSampler(make_grid(), TILE, generator=3)
    n = 60_000
    q = s.sample(np.tile([[H // 2, W // 2]], (n, 1)), np.zeros(n, dtype=int))
    sn = np.unique(q.sn_offset, axis=0, return_counts=True)[1]
    sd = np.unique(q.sd_offset, axis=0, return_counts=True)[1]
    assert len(sn) == 13 * 13 - 1 and len(sd) == 51 * 51 - 13 * 13
    assert sn.min() > 0.6 * n / len(sn) and sn.max() < 1.4 * n / len(sn)


# ---- grid edges ---------------------------------------------------------------------------------


@pytest.mark.parametrize("region", list(DistantRegion))
def test_tiles_always_on_the_grid_at_corners_and_edges(region):
    s = QuadrupletSampler(make_grid(), TILE, region=region, generator=4)
    anchors = np.repeat(EDGE_ANCHORS, 500, axis=0)
    q = s.sample(anchors, np.ones(len(anchors), dtype=int))
    for origins in (q.anchor, q.sn, q.sd):
        assert_on_grid(origins)
    assert (q.sn_status == DrawStatus.DRAWN).all() and (q.sd_status == DrawStatus.DRAWN).all()
    assert (cheb(q.sn_offset) >= 1).all() and (cheb(q.sn_offset) <= 6).all()
    assert (cheb(q.sd_offset) > 6).all() and (cheb(q.sd_offset) <= 25).all()
    # A is placed exactly like geoapp.data.tiles.tile_origin
    expected = np.array([tile_origin(int(r), int(c), TILE, (H, W)) for r, c in anchors])
    np.testing.assert_array_equal(q.anchor, expected)


def test_grid_just_large_enough_for_sd_never_hangs():
    grid = make_grid(h=TILE, w=TILE + 13)  # rows: no room at all; cols: exactly 2 r_n + 1
    s = QuadrupletSampler(grid, TILE, generator=5)
    anchors = np.array([[0, 0], [TILE - 1, TILE + 12], [5, 14]])
    q = s.sample(anchors, np.zeros(3, dtype=int))
    assert_on_grid(q.sd, TILE, TILE + 13)
    assert (cheb(q.sd_offset) > 6).all() and (q.sd_offset[:, 0] == 0).all()


# ---- temporal neighbour -------------------------------------------------------------------------


def test_tn_is_one_year_earlier_at_the_same_place():
    s = QuadrupletSampler(make_grid(), TILE, n_years=5, generator=6)
    years = np.array([0, 1, 2, 3, 4, 4, 0])
    q = s.sample(random_anchors(len(years)), years)
    np.testing.assert_array_equal(q.year, years)
    np.testing.assert_array_equal(q.tn_year, [0, 0, 1, 2, 3, 3, 0])
    np.testing.assert_array_equal(q.tn_is_same_year, years == 0)
    # TN cut with lead_index is the anchor tile of the previous year
    cube = np.random.default_rng(0).random((5, 2, H, W), dtype=np.float32)
    tn = gather_tiles(cube, q.anchor, TILE, lead_index=q.tn_year)
    for i, (y, (r, c)) in enumerate(zip(q.tn_year, q.anchor, strict=True)):
        np.testing.assert_array_equal(tn[i], cube[y, :, r : r + TILE, c : c + TILE])
    assert not np.array_equal(tn[2], gather_tiles(cube, q.anchor, TILE, lead_index=q.year)[2])


# ---- randomness ---------------------------------------------------------------------------------


def _draws(q):
    return np.concatenate([q.sn, q.sd], axis=1)


@pytest.mark.parametrize(
    "make",
    [lambda s: s, lambda s: np.random.default_rng(s), lambda s: torch.Generator().manual_seed(s)],
    ids=["int", "numpy", "torch"],
)
def test_same_seed_same_draws_different_seed_different_draws(make):
    anchors, years = random_anchors(1000), np.ones(1000, dtype=int)
    s = QuadrupletSampler(make_grid(), TILE)
    a = s.sample(anchors, years, generator=make(7))
    b = s.sample(anchors, years, generator=make(7))
    c = s.sample(anchors, years, generator=make(8))
    np.testing.assert_array_equal(_draws(a), _draws(b))
    assert not np.array_equal(_draws(a), _draws(c))


def test_sampler_stream_is_seeded_and_advances():
    anchors, years = random_anchors(500), np.ones(500, dtype=int)
    s1, s2 = QuadrupletSampler(make_grid(), TILE, generator=9), QuadrupletSampler(make_grid(), TILE, generator=9)
    first, second = s1.sample(anchors, years), s1.sample(anchors, years)
    np.testing.assert_array_equal(_draws(first), _draws(s2.sample(anchors, years)))
    np.testing.assert_array_equal(_draws(second), _draws(s2.sample(anchors, years)))
    assert not np.array_equal(_draws(first), _draws(second))


# ---- valid-pixel mask ---------------------------------------------------------------------------


def test_mask_centres_fall_on_valid_pixels():
    mask = np.ones((H, W), dtype=bool)
    mask[:, : W // 2] = False
    mask[::7, :] = False
    s = QuadrupletSampler(make_grid(), TILE, valid_mask=mask, generator=10)
    anchors = random_anchors(5000)
    anchors[:, 1] = np.clip(anchors[:, 1], W // 2 + 10, W - 1)
    q = s.sample(anchors, np.zeros(5000, dtype=int))
    for origins, status in ((q.sn, q.sn_status), (q.sd, q.sd_status)):
        drawn = status != DrawStatus.MASK_IGNORED
        centres = origins + TILE // 2
        assert mask[centres[drawn, 0], centres[drawn, 1]].all()


def test_almost_all_invalid_mask_finishes_fast_and_reports_fallbacks():
    mask = np.zeros((H, W), dtype=bool)
    mask[60, 75] = mask[20, 20] = True  # two valid pixels in the whole grid
    s = QuadrupletSampler(make_grid(), TILE, valid_mask=mask, generator=11)
    anchors = np.concatenate([random_anchors(2000), EDGE_ANCHORS])
    t0 = time.perf_counter()
    q = s.sample(anchors, np.zeros(len(anchors), dtype=int))
    assert time.perf_counter() - t0 < 5.0
    assert q.rounds <= 2 * s.max_rounds
    assert q.n_fallback["sn"] > 1000 and q.n_fallback["sd"] > 1000
    assert q.n_mask_ignored["sn"] > 0 and q.n_mask_ignored["sd"] > 0
    for origins, offsets, status, lo, hi in ((q.sn, q.sn_offset, q.sn_status, 1, 6), (q.sd, q.sd_offset, q.sd_status, 7, 25)):
        assert_on_grid(origins)
        assert (cheb(offsets) >= lo).all() and (cheb(offsets) <= hi).all()  # the region holds even in fallback
        centres = origins + TILE // 2
        nearest = status == DrawStatus.NEAREST
        assert nearest.any() and mask[centres[nearest, 0], centres[nearest, 1]].all()


def test_fallback_is_deterministic_whatever_the_seed():
    mask = np.zeros((H, W), dtype=bool)  # nothing valid: every offset is the deterministic fallback
    s = QuadrupletSampler(make_grid(), TILE, valid_mask=mask, max_rounds=2)
    anchors = random_anchors(300)
    a = s.sample(anchors, np.zeros(300, dtype=int), generator=1)
    b = s.sample(anchors, np.zeros(300, dtype=int), generator=2)
    assert (a.sn_status == DrawStatus.MASK_IGNORED).all() and (a.sd_status == DrawStatus.MASK_IGNORED).all()
    np.testing.assert_array_equal(_draws(a), _draws(b))
    assert_on_grid(a.sd)


def test_from_dataset_on_the_tiny_dataset(tiny_dataset_path):
    ds = load_dataset(tiny_dataset_path)
    try:
        s = QuadrupletSampler.from_dataset(ds, generator=12)
        assert s.grid_shape == ds.grid.shape and s.tile_px == ds.tile_px == 8
        assert (s.r_n_px, s.r_d_px) == (3, 12)  # 25 km and 100 km at 8 km per pixel
        anchors = ds.counties[["anchor_row", "anchor_col"]].to_numpy()
        years = np.arange(len(anchors)) % len(ds.years)
        q = s.sample(anchors, years)
        assert len(q) == len(anchors)
        for origins in (q.anchor, q.sn, q.sd):
            assert_on_grid(origins, *ds.grid.shape, ds.tile_px)
        ndvi = ds.cube["ndvi"].values  # (year, month, y, x)
        tiles = gather_tiles(ndvi, q.sn, ds.tile_px, lead_index=q.year)
        assert tiles.shape == (len(anchors), 7, 8, 8)
    finally:
        ds.close()


# ---- radii follow the resolution ----------------------------------------------------------------


def test_radii_follow_the_grid_resolution():
    fine = QuadrupletSampler(make_grid(res=4000.0), 8, r_n=48.0, r_d=96.0)
    coarse = QuadrupletSampler(make_grid(res=8000.0), 8, r_n=48.0, r_d=96.0)
    assert (fine.r_n_px, fine.r_d_px) == (12, 24)
    assert (coarse.r_n_px, coarse.r_d_px) == (6, 12)
    q = coarse.sample(random_anchors(3000), np.zeros(3000, dtype=int), generator=0)
    assert cheb(q.sn_offset).max() <= 6 and cheb(q.sd_offset).max() <= 12
    px = QuadrupletSampler(make_grid(res=8000.0), 8, r_n=5, r_d=20, units=Units.PIXELS)
    assert (px.r_n_px, px.r_d_px) == (5, 20)


# ---- bad inputs ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"r_n": 100.0, "r_d": 100.0}, "r_d must exceed r_n"),
        ({"r_n": 50.0, "r_d": 25.0}, "r_d must exceed r_n"),
        ({"r_n": 25.0, "r_d": 26.0}, r"r_d must exceed r_n.*6 and 6 px"),  # distinct km, same pixels
        ({"r_n": -5.0}, "r_n must be a positive number of km"),
        ({"r_d": 0.0}, "r_d must be a positive number of km"),
        ({"r_n": float("nan")}, "r_n must be a positive"),
        ({"r_n": 2.5, "r_d": 10, "units": "px"}, "whole number"),
        ({"units": "miles"}, "expected units in"),
        ({"region": "donut"}, "expected units in .* region in"),
        ({"tile_px": 200}, "larger than the 120x150 grid"),
        ({"tile_px": 0}, "tile_px must be a positive"),
        ({"r_n": 300.0, "r_d": 400.0}, "leaves no room"),
        ({"valid_mask": np.ones((H, W))}, "valid_mask must be a bool array"),
        ({"valid_mask": np.ones((H, W + 1), dtype=bool)}, "valid_mask must be a bool array"),
        ({"max_rounds": 0}, "max_rounds must be an int >= 1"),
        ({"n_years": 0}, "n_years must be a positive int"),
        ({"generator": "seed"}, "generator must be"),
        ({"generator": -1}, "generator must be"),
    ],
)
def test_bad_sampler_arguments(kwargs, match):
    args = {"tile_px": TILE, **kwargs}
    with pytest.raises(InputError, match=match):
        QuadrupletSampler(make_grid(), **args)


@pytest.mark.parametrize(
    "anchors, years, match",
    [
        (np.array([[0, 0], [H, 3]]), [0, 0], r"1 anchor\(s\) off the 120x150 grid, first #1 at \(row, col\) = \(120, 3\)"),
        (np.array([[-1, 3]]), [0], "off the 120x150 grid"),
        (np.array([[5, W]]), [0], "off the 120x150 grid"),
        (np.array([[5.5, 3.0]]), [0], "anchors must be integers"),
        (np.array([1, 2, 3]), [0], r"anchors must have shape \(N, 2\)"),
        (np.array([[1, 2]]), [0, 1], "year_index has 2 entries for 1 anchors"),
        (np.array([[1, 2]]), [5], r"year index 5 is not a year of the cube; expected 0\.\.4"),
        (np.array([[1, 2]]), [-1], "year index -1"),
        (np.array([[1, 2]]), [0.5], "year_index must be integers"),
    ],
)
def test_bad_sample_arguments(anchors, years, match):
    s = QuadrupletSampler(make_grid(), TILE, n_years=5)
    with pytest.raises(InputError, match=match):
        s.sample(anchors, np.asarray(years))


def test_as_numpy_generator_passes_a_numpy_generator_through():
    g = np.random.default_rng(0)
    assert as_numpy_generator(g) is g
    assert isinstance(as_numpy_generator(None), np.random.Generator)


def test_fallback_finds_a_lone_valid_pixel_and_flags_an_empty_region():
    anchor = np.array([[60, 75]])  # interior: A's origin is (52, 67), its centre the anchor itself
    mask = np.zeros((H, W), dtype=bool)
    mask[60, 75] = True  # only A's own centre: no offset of SN (never 0) or SD reaches a valid pixel
    q = QuadrupletSampler(make_grid(), TILE, valid_mask=mask, max_rounds=1).sample(anchor, [1], generator=0)
    assert q.sn_status[0] == DrawStatus.MASK_IGNORED and q.sd_status[0] == DrawStatus.MASK_IGNORED
    mask[60, 75] = False
    mask[60, 100] = True  # one valid pixel at offset (0, 25): the far edge of the SD ring
    q = QuadrupletSampler(make_grid(), TILE, valid_mask=mask, max_rounds=1).sample(anchor, [1], generator=0)
    assert q.sd_status[0] in (DrawStatus.DRAWN, DrawStatus.NEAREST) and tuple(q.sd_offset[0]) == (0, 25)
    assert q.sn_status[0] == DrawStatus.MASK_IGNORED


@pytest.mark.parametrize("region", list(DistantRegion))
def test_valid_offset_count_matches_brute_force(region):
    mask = np.random.default_rng(5).random((H, W)) < 0.02
    s = QuadrupletSampler(make_grid(), TILE, valid_mask=mask, region=region)
    origins = s.anchor_origins(np.concatenate([EDGE_ANCHORS, random_anchors(40)]))
    for reg in (s._sn_region, s._sd_region):
        r = np.arange(-reg.outer, reg.outer + 1)
        offs = np.stack(np.meshgrid(r, r, indexing="ij"), axis=-1).reshape(-1, 2)
        offs = offs[reg.contains(offs)]
        brute = s._feasible(origins[:, None, :] + offs[None])[1].sum(axis=1)
        np.testing.assert_array_equal(s._count_valid(reg, origins), brute)
