"""Tests for geoapp.data.tiles: tile placement on the grid and per-month tile means of a county."""

from __future__ import annotations

import numpy as np
import pytest

from geoapp.data.bands import BAND_INFO, BANDS, DYNAMIC_BANDS, MONTHS, STATIC_BANDS
from geoapp.data.dataset import load_dataset
from geoapp.data.tiles import county_anchor, county_monthly_inputs, tile_origin
from geoapp.errors import InputError


@pytest.fixture(scope="module")
def ds(tiny_dataset_path):
    d = load_dataset(tiny_dataset_path)
    yield d
    d.close()


# ---- tile_origin ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "row, col, tile, shape, expected",
    [
        (50, 60, 8, (116, 124), (46, 56)),  # interior: centred
        (50, 60, 7, (116, 124), (47, 57)),  # odd size: row - 3
        (0, 0, 8, (116, 124), (0, 0)),  # top-left corner: shifted down/right
        (2, 3, 8, (116, 124), (0, 0)),
        (115, 123, 8, (116, 124), (108, 116)),  # bottom-right corner: shifted up/left
        (113, 5, 8, (116, 124), (108, 1)),
        (3, 3, 8, (8, 8), (0, 0)),  # tile as large as the grid
        (-5, 200, 8, (116, 124), (0, 116)),  # off the grid: still a full tile on it
    ],
)
def test_tile_origin(row, col, tile, shape, expected):
    assert tile_origin(row, col, tile, shape) == expected


def test_tile_origin_tiles_stay_full_size_on_the_grid():
    h, w, t = 20, 13, 6
    for row in range(h):
        for col in range(w):
            r0, c0 = tile_origin(row, col, t, (h, w))
            assert 0 <= r0 <= h - t and 0 <= c0 <= w - t
            assert r0 <= row < r0 + t and c0 <= col < c0 + t  # the tile holds its centre pixel
            if t // 2 <= row <= h - t + t // 2:
                assert row - r0 == t // 2
    assert isinstance(tile_origin(5, 5, 4, (10, 10))[0], int)


def test_tile_origin_too_large():
    with pytest.raises(InputError, match=r"tile of 9 px does not fit the 8x20 grid"):
        tile_origin(4, 4, 9, (8, 20))


# ---- county_monthly_inputs --------------------------------------------------------------------


def test_county_anchor(ds):
    row = county_anchor(ds, "19153")
    assert row["name"] == "Polk" and row["state"] == "IA"
    assert county_anchor(ds, 19153)["geoid"] == "19153"  # an int geoid is accepted
    with pytest.raises(InputError, match=r"county '99999' is not in dataset 'corn_belt_sim_tiny'"):
        county_anchor(ds, "99999")


def test_county_monthly_inputs(ds):
    df = county_monthly_inputs(ds, "19153", 2013)
    assert list(df.columns) == ["band", "units", "month", "value"]
    assert len(df) == len(BANDS) * len(MONTHS) == 63
    assert df["band"].unique().tolist() == list(BANDS)
    for band, g in df.groupby("band", sort=False):
        assert g["month"].tolist() == list(MONTHS)
        assert (g["units"] == BAND_INFO[band].units).all()
        assert np.isfinite(g["value"]).all()
    for band in STATIC_BANDS:
        v = df.loc[df["band"] == band, "value"]
        assert v.nunique() == 1, band
    for band in DYNAMIC_BANDS:
        assert df.loc[df["band"] == band, "value"].nunique() > 1, band
    assert set(df.loc[df["units"] == "degC", "band"]) == {"lst_day", "lst_night"}


def test_county_monthly_inputs_are_tile_means(ds):
    anchor = county_anchor(ds, "17019")  # Champaign, IL
    r0, c0 = tile_origin(int(anchor["anchor_row"]), int(anchor["anchor_col"]), ds.tile_px, ds.grid.shape)
    df = county_monthly_inputs(ds, "17019", 2012).set_index(["band", "month"])["value"]
    tile = ds.cube["ppt"].sel(year=2012, month=7).values[r0 : r0 + 8, c0 : c0 + 8]
    assert tile.shape == (8, 8)
    assert df[("ppt", 7)] == pytest.approx(float(np.nanmean(tile.astype(np.float64))), rel=1e-5)
    sand = ds.cube["sand"].values[r0 : r0 + 8, c0 : c0 + 8]
    assert df[("sand", 3)] == pytest.approx(float(np.nanmean(sand.astype(np.float64))), rel=1e-5)
    # dynamic bands change between years, static ones do not
    wet = county_monthly_inputs(ds, "17019", 2016).set_index(["band", "month"])["value"]
    assert df[("ppt", 7)] != wet[("ppt", 7)]
    assert df[("sand", 3)] == wet[("sand", 3)]


def test_county_monthly_inputs_errors(ds):
    with pytest.raises(InputError, match=r"county '00000' is not in dataset"):
        county_monthly_inputs(ds, "00000", 2013)
    with pytest.raises(InputError, match=r"year 2011 is not in dataset 'corn_belt_sim_tiny': it holds 2012..2016"):
        county_monthly_inputs(ds, "19153", 2011)
    with pytest.raises(InputError, match=r"year 2020 is not in dataset 'corn_belt_sim_tiny'"):
        county_monthly_inputs(ds, "19153", 2020)
