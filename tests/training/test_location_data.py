"""The location encoder's held-out sets (random and spatial blocks) and its training-patch augmentation."""

from __future__ import annotations

import numpy as np
import pytest

from geoapp.data.geodesy import haversine_km
from geoapp.data.imagery import extract_patches
from geoapp.errors import InputError
from geoapp.training.location_data import NEUTRAL_RELIEF, drop_relief, jitter_colours, training_patches
from geoapp.training.location_trainer import (
    LocationTrainConfig,
    block_holdout,
    block_test_locations,
    split_locations,
)

CFG = LocationTrainConfig(n_train=4000, n_val=500, n_test=500, n_block_test=400)


def test_no_training_point_lies_in_or_near_a_held_out_block():
    blocks = block_holdout(CFG)
    assert len(blocks.cells) >= 5  # 10% of the mostly-land 10-degree cells
    train, val, test = split_locations(CFG)
    for part in (train, val, test):
        assert not blocks.inside(part[:, 0], part[:, 1]).any()
    held = block_test_locations(CFG)
    assert len(held) == CFG.n_block_test and blocks.inside(held[:, 0], held[:, 1]).all()
    # every training point keeps the margin: half the reference footprint plus twice the shift
    d = haversine_km(train[:, None, 0], train[:, None, 1], held[None, :, 0], held[None, :, 1])
    assert d.min() > blocks.margin_km == pytest.approx(CFG.footprint_km / 2 + 2 * CFG.shift_km)


def test_splits_are_deterministic_and_disjoint():
    a, b = split_locations(CFG), split_locations(CFG)
    for x, y in zip(a, b, strict=True):
        np.testing.assert_array_equal(x, y)
    train, val, test = a
    assert len(train) == CFG.n_train and len(val) == CFG.n_val and len(test) == CFG.n_test
    rows = {tuple(p) for p in np.concatenate(a)}
    assert len(rows) == CFG.n_train + CFG.n_val + CFG.n_test


def test_no_block_split_when_the_fraction_is_zero():
    cfg = LocationTrainConfig(n_train=300, n_val=50, n_test=50, holdout_block_fraction=0.0)
    assert len(block_holdout(cfg).cells) == 0 and len(block_test_locations(cfg)) == 0
    assert len(split_locations(cfg)[0]) == 300


def test_training_patches_vary_in_scale_and_keep_their_shape():
    pts = np.array([[45.0, 7.0]] * 8)
    rng = np.random.default_rng(0)
    patches = training_patches(pts, 32, (100.0, 1600.0), 25.0, True, 0.0, 0.0, rng)
    assert patches.shape == (8, 32, 32, 4) and patches.dtype == np.uint8
    assert len({p.tobytes() for p in patches}) == 8  # random footprints and shifts: all differ
    fixed = training_patches(pts[:2], 32, (400.0, 400.0), 0.0, False, 0.0, 0.0, rng)
    np.testing.assert_array_equal(fixed, extract_patches(pts[:2], footprint_km=400.0))


def test_relief_dropout_sets_a_share_to_the_neutral_value():
    patches = np.full((2000, 4, 4, 4), 7, np.uint8)
    drop_relief(patches, 0.5, np.random.default_rng(1))
    dropped = (patches[..., 3] == NEUTRAL_RELIEF).all(axis=(1, 2))
    assert 0.45 < dropped.mean() < 0.55
    assert (patches[..., :3] == 7).all()  # RGB untouched


def test_colour_jitter_changes_rgb_only_and_stays_in_range():
    patches = np.random.default_rng(2).integers(0, 256, (16, 8, 8, 4)).astype(np.uint8)
    out = jitter_colours(patches, 0.3, np.random.default_rng(3))
    assert out.dtype == np.uint8 and out.shape == patches.shape
    np.testing.assert_array_equal(out[..., 3], patches[..., 3])
    assert (out[..., :3] != patches[..., :3]).any()
    np.testing.assert_array_equal(jitter_colours(patches, 0.0, np.random.default_rng(3)), patches)


@pytest.mark.parametrize(
    "kw, match",
    [
        ({"footprint_min_km": 500.0}, "footprint"),  # above the reference 400
        ({"footprint_max_km": 20_000.0}, "footprint"),
        ({"relief_dropout": 1.5}, "relief_dropout"),
        ({"holdout_block_fraction": -0.1}, "holdout_block_fraction"),
        ({"min_temperature": 0.0}, "min_temperature"),
        ({"soft_target_km": -5.0}, "soft_target_km"),
        ({"holdout_block_deg": 0.1}, "holdout_block_deg"),
    ],
)
def test_config_refuses_impossible_settings(kw, match):
    with pytest.raises(InputError, match=match):
        LocationTrainConfig(**kw)


def test_per_point_footprints_and_shifts_are_checked():
    pts = np.array([[0.0, 0.0], [10.0, 10.0]])
    with pytest.raises(InputError, match="footprint_km"):
        extract_patches(pts, footprint_km=np.array([100.0]))
    with pytest.raises(InputError, match="footprint_km"):
        extract_patches(pts, footprint_km=np.array([100.0, -1.0]))
    with pytest.raises(InputError, match="shift_km"):
        extract_patches(pts, shift_km=np.zeros((2, 3)))
    with pytest.raises(InputError, match="relief"):
        extract_patches(pts, relief="no")
    # a shift of the centre equals a patch cut at the shifted point (on the local grid: close, not exact)
    east = extract_patches(pts[:1], footprint_km=400.0, shift_km=np.array([[200.0, 0.0]])).astype(int)
    half = extract_patches(pts[:1], footprint_km=400.0).astype(int)
    np.testing.assert_array_equal(east[0, :, :16], half[0, :, 16:])


@pytest.mark.parametrize("latlon", [[["40", "-90"]], [[True, False]], [[None, 1.0]], "40,-90"])
def test_coordinates_given_as_text_or_flags_are_refused(latlon):
    from geoapp.data.geodesy import as_latlon

    with pytest.raises(InputError, match="latlon must be numbers"):
        as_latlon(latlon)
