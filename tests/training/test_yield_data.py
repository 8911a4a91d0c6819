"""Standardised tiles for yield training on the tiny dataset."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from geoapp.data.bands import BANDS
from geoapp.data.dataset import load_dataset
from geoapp.errors import InputError
from geoapp.samplers import QuadrupletSampler
from geoapp.training.yield_data import YieldTileSource


@pytest.fixture(scope="module")
def source(tiny_dataset_path):
    return YieldTileSource(load_dataset(tiny_dataset_path), train_years=[2012, 2013, 2014])


def test_standardised_with_training_years_only(source):
    train = source.cube[:3]  # 2012-2014
    per_month_band = train.transpose(1, 2, 0, 3, 4).reshape(7, 9, -1)
    np.testing.assert_allclose(per_month_band[:, BANDS.index("ndvi")].mean(axis=1), 0.0, atol=1e-3)
    np.testing.assert_allclose(per_month_band[:, BANDS.index("ppt")].std(axis=1), 1.0, atol=1e-2)
    assert source.n_missing == 0 and np.isfinite(source.cube).all()


def test_examples_and_anchor_tiles(source):
    ex = source.examples([2015, 2016])
    assert len(ex) == int(source.ds.labelled().query("year in [2015, 2016]").shape[0])
    tiles = source.anchor_tiles(ex, np.arange(4))
    assert tiles.shape == (4, 7, 9, source.tile_px, source.tile_px) and tiles.dtype == torch.float32
    masked = source.anchor_tiles(ex, np.arange(4), mask_group="PPT")
    assert torch.all(masked[:, :, BANDS.index("ppt")] == 0)
    torch.testing.assert_close(masked[:, :, BANDS.index("ndvi")], tiles[:, :, BANDS.index("ndvi")])
    with pytest.raises(InputError, match="unknown feature group"):
        source.anchor_tiles(ex, np.arange(2), mask_group="RAIN")
    with pytest.raises(InputError, match="1990 is not in dataset .*: it holds 2012..2016"):
        source.examples([1990])


def test_context_tiles_temporal_neighbour_is_previous_month_by_default(source):
    ex = source.examples([2013])
    sampler = QuadrupletSampler.from_dataset(source.ds, r_n=24.0, r_d=80.0)
    idx = np.arange(6)
    out = source.context_tiles(ex, idx, sampler, generator=0)
    assert {k: tuple(v.shape[1:]) for k, v in out.items() if k != "tn_valid"} == {
        k: (7, 9, 8, 8) for k in ("A", "SN", "SD", "TN")
    }
    torch.testing.assert_close(out["TN"][:, 1:], out["A"][:, :-1])  # TN^t = A^(t-1): one month earlier
    torch.testing.assert_close(out["TN"][:, 0], out["A"][:, 0])  # March has no earlier month: TN^1 = A^1
    assert out["tn_valid"].shape == (6, 7) and not out["tn_valid"][:, 0].any() and out["tn_valid"][:, 1:].all()
    with pytest.raises(InputError, match="temporal_neighbour must be one of"):
        source.context_tiles(ex, idx, sampler, generator=0, temporal_neighbour="week")


def test_context_tiles_temporal_neighbour_can_be_previous_year(source):
    ex = source.examples([2012, 2013])
    sampler = QuadrupletSampler.from_dataset(source.ds, r_n=24.0, r_d=80.0)
    idx = np.arange(len(ex))
    out = source.context_tiles(ex, idx, sampler, generator=0, temporal_neighbour="year")
    assert {k: tuple(v.shape[1:]) for k, v in out.items() if k != "tn_valid"} == {
        k: (7, 9, 8, 8) for k in ("A", "SN", "SD", "TN")
    }
    first = ex.year[idx] == 0  # 2012: no earlier year in the cube
    assert not out["tn_valid"][first].any() and out["tn_valid"][~first].all()
    later = np.flatnonzero(~first)[0]
    earlier = source.context_tiles(ex, idx[ex.year[idx] == 0], sampler, generator=0, temporal_neighbour="year")
    same_county = np.flatnonzero(ex.county[idx][first] == ex.county[later])
    if same_county.size:  # the 2013 example's TN is the 2012 anchor tile of the same county
        torch.testing.assert_close(out["TN"][later], earlier["A"][same_county[0]])


def test_one_year_with_given_stats_matches_the_full_source(source):
    ex = source.examples([2016])
    one = YieldTileSource(source.ds, None, stats=(source.mean, source.std), years=[2016])
    torch.testing.assert_close(one.anchor_tiles(one.examples([2016]), np.arange(5)), source.anchor_tiles(ex, np.arange(5)))
    with pytest.raises(InputError, match="not loaded"):
        one.anchor_tiles(one.examples([2015]), np.arange(2))
    with pytest.raises(InputError, match="needs training years"):
        YieldTileSource(source.ds, None)
