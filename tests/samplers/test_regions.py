"""Tests for geoapp.samplers.regions: the SN and SD offset regions of the quadruplet sampler."""

from __future__ import annotations

import numpy as np

from geoapp.samplers.regions import DistantRegion, distant_region, neighbour_region, sorted_offsets


def test_neighbour_region_is_the_square_without_the_anchor():
    off = sorted_offsets(neighbour_region(2))
    assert len(off) == 5 * 5 - 1
    assert not ((off[:, 0] == 0) & (off[:, 1] == 0)).any()
    assert np.abs(off).max() == 2


def test_sorted_offsets_come_nearest_first():
    off = sorted_offsets(distant_region(2, 4, DistantRegion.RING))
    d2 = (off**2).sum(axis=1)
    assert (np.diff(d2) >= 0).all()
    assert len(off) == 9 * 9 - 5 * 5  # the ring between the two squares


def test_corners_are_the_four_corner_squares_of_the_ring():
    ring = distant_region(2, 4, DistantRegion.RING)
    corners = distant_region(2, 4, DistantRegion.CORNERS)
    off = sorted_offsets(corners)
    assert len(off) == 4 * 2 * 2
    assert (np.abs(off).min(axis=1) > 2).all()
    assert ring.contains(off).all()
    assert not corners.contains(np.array([[3, 0], [0, 4], [1, 1]])).any()


def test_sample_stays_inside_the_box_and_the_region():
    rng = np.random.default_rng(0)
    region = distant_region(2, 6, DistantRegion.RING)
    lo = np.tile([-6, -1], (2000, 1))
    hi = np.tile([6, 6], (2000, 1))
    off, ok = region.sample(rng, lo, hi)
    assert ((off >= lo) & (off <= hi)).all()
    assert region.contains(off[ok]).all()
    assert not region.contains(off[~ok]).any()  # rejected draws are exactly those in the square hole
    assert ok.mean() > 0.5
