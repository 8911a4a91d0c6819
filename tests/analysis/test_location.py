"""Similarity, geolocalization and the contrastive loss; the shipped checkpoint against baselines."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from geoapp.analysis.location import (
    FootprintWarning,
    conform_image,
    footprint_note,
    geolocate,
    load_location_model,
    pixel_nn_baseline,
    random_baseline,
    score_geolocation,
    similarity,
)
from geoapp.data.galleries import Gallery, load_gallery
from geoapp.data.imagery import extract_patch, extract_patches
from geoapp.errors import InputError
from geoapp.models.contrastive import clip_loss
from geoapp.training.location_data import NEUTRAL_RELIEF
from geoapp.training.location_trainer import LocationTrainConfig, geolocation_metrics, split_locations, train_location

TINY = LocationTrainConfig(
    n_train=256,
    n_val=64,
    n_test=64,
    epochs=1,
    batch_size=64,
    sh_degree=4,
    hidden_dim=32,
    embed_dim=16,
    image_width=4,
    val_gallery=300,
)


@pytest.fixture(scope="module")
def tiny_folder(tmp_path_factory):
    return train_location(TINY, tmp_path_factory.mktemp("loc"), progress=False)


@pytest.fixture(scope="module")
def tiny_model(tiny_folder):
    return load_location_model(str(tiny_folder))


def test_clip_loss_matches_hand_computation():
    img = torch.tensor([[1.0, 0.0], [0.0, 2.0]])
    loc = torch.tensor([[3.0, 0.0], [1.0, 1.0]])
    scale = torch.tensor(math.log(10.0))
    i = img / img.norm(dim=1, keepdim=True)
    l_ = loc / loc.norm(dim=1, keepdim=True)
    logits = 10.0 * (i @ l_.T).numpy()

    def ce(rows):
        return np.mean([-(r[k] - np.log(np.exp(r).sum())) for k, r in enumerate(rows)])

    want = 0.5 * (ce(logits) + ce(logits.T))
    assert math.isclose(float(clip_loss(img, loc, scale)), want, rel_tol=1e-6)


def test_soft_targets_are_normalised_per_direction_by_hand():
    """Three places on the equator 3 degrees apart: the middle one's neighbourhood is denser than the ends'.

    Image i's targets are W_ij / sum_k W_ik and location j's W_ji / sum_k W_jk; the transpose of the first
    (what the loss used before) would give the middle location targets summing to more than 1.
    """
    from geoapp.models.contrastive import soft_targets

    lat, lon = torch.zeros(3, dtype=torch.float64), torch.tensor([0.0, 3.0, 6.0], dtype=torch.float64)
    w = soft_targets(lat, lon, 500.0).double()
    d = np.deg2rad(np.abs(lon.numpy()[:, None] - lon.numpy()[None, :])) * 6371.0088  # on the equator: arc length
    np.testing.assert_allclose(w.numpy(), np.exp(-((d / 500.0) ** 2)), rtol=1e-5)  # symmetric, 1 on the diagonal
    img = torch.tensor([[1.0, 0.0, 0.2], [0.3, 1.0, 0.0], [0.0, 0.4, 1.0]], dtype=torch.float64)
    loc = torch.tensor([[0.9, 0.1, 0.0], [0.2, 1.0, 0.3], [0.1, 0.0, 1.0]], dtype=torch.float64)
    scale = torch.tensor(math.log(10.0), dtype=torch.float64)
    logits = (10.0 * (img / img.norm(dim=1, keepdim=True)) @ (loc / loc.norm(dim=1, keepdim=True)).T).numpy()
    weights = w.numpy()
    rows = weights / weights.sum(axis=1, keepdims=True)  # W symmetric: the same for both directions

    def soft_ce(lg, t):
        return np.mean([-(t[k] * (lg[k] - np.log(np.exp(lg[k]).sum()))).sum() for k in range(len(lg))])

    want = 0.5 * (soft_ce(logits, rows) + soft_ce(logits.T, rows))
    assert math.isclose(float(clip_loss(img, loc, scale, w)), want, rel_tol=1e-9)
    assert not np.allclose(rows.T.sum(axis=1), 1.0)  # the transpose is not a distribution per location
    assert not math.isclose(want, 0.5 * (soft_ce(logits, rows) + soft_ce(logits.T, rows.T)), rel_tol=1e-6)


def test_similarity_is_cosine_and_peaks_at_the_reference(tiny_model):
    pts = np.array([[22.3, 114.2], [48.9, 2.3], [-1.0, 22.0], [22.3, 114.2 + 360.0 - 360.0]])
    gallery = Gallery("test-4", pts, "four points")
    coords, sims = similarity(22.3, 114.2, tiny_model, gallery)
    assert coords.shape == (4, 2) and sims.shape == (4,)
    assert np.all(sims <= 1.0 + 1e-5) and np.all(sims >= -1.0 - 1e-5)
    assert math.isclose(float(sims[0]), 1.0, abs_tol=1e-5)
    _, wrapped = similarity(22.3, 114.2 + 360.0, tiny_model, gallery)  # longitude wraps
    np.testing.assert_allclose(wrapped, sims, atol=1e-5)


@pytest.mark.parametrize("lat, lon, match", [(91.0, 0.0, "outside"), (float("nan"), 0.0, "finite")])
def test_similarity_refuses_bad_points(tiny_model, lat, lon, match):
    with pytest.raises(InputError, match=match):
        similarity(lat, lon, tiny_model, Gallery("one", np.array([[0.0, 0.0]]), ""))


def test_geolocate_returns_sorted_top_k(tiny_model):
    gallery = Gallery("small", load_gallery("land").coords[::200], "every 200th land point")
    patch = extract_patch(30.0, 31.0, size_px=TINY.patch_px, footprint_km=TINY.footprint_km, relief=TINY.relief)
    top = geolocate(patch, top_k=5, model=tiny_model, gallery=gallery)
    assert len(top) == 5
    scores = [s for _, _, s in top]
    assert scores == sorted(scores, reverse=True)
    rgb_only = geolocate(patch[..., :3], top_k=1, model=tiny_model, gallery=gallery)  # uploads have no relief band
    assert len(rgb_only) == 1
    with pytest.raises(InputError, match="top_k"):
        geolocate(patch, top_k=0, model=tiny_model, gallery=gallery)
    with pytest.raises(InputError, match="uint8 image"):
        geolocate(np.zeros((8, 8), np.uint8), model=tiny_model, gallery=gallery)


def test_model_patch_uses_the_cards_scale_and_rgb_only_sets_neutral_relief(tiny_model):
    cfg = tiny_model.config
    patch = tiny_model.patch(30.0, 31.0)
    want = extract_patch(30.0, 31.0, size_px=cfg.patch_px, footprint_km=cfg.footprint_km, relief=cfg.relief)
    np.testing.assert_array_equal(patch, want)
    rgb = tiny_model.patch(30.0, 31.0, rgb_only=True)
    np.testing.assert_array_equal(rgb[..., :3], want[..., :3])
    assert (rgb[..., 3] == NEUTRAL_RELIEF).all()
    # an RGB image (an upload) is given the same neutral band by geolocate's conform step
    np.testing.assert_array_equal(conform_image(want[..., :3], cfg), rgb)
    with pytest.raises(InputError, match="footprint_km"):
        tiny_model.patch(30.0, 31.0, footprint_km=-3)


def test_footprints_outside_the_trained_range_warn_and_wide_images_are_cropped(tiny_model):
    lo, hi = tiny_model.footprint_range_km
    assert footprint_note(None, tiny_model) is None and footprint_note((lo + hi) / 2, tiny_model) is None
    assert "accuracy will drop" in footprint_note(lo / 4, tiny_model)
    assert "central" in footprint_note(hi * 2, tiny_model)
    with pytest.raises(InputError, match="footprint_km"):
        footprint_note("wide", tiny_model)
    gallery = Gallery("small", load_gallery("land").coords[::500], "every 500th land point")
    # a 2 x hi wide image: its central half (the trained maximum) is what is placed
    wide = extract_patch(30.0, 31.0, size_px=64, footprint_km=2 * hi)
    centre = wide[16:48, 16:48]
    with pytest.warns(FootprintWarning, match="central"):
        got = geolocate(wide, top_k=3, model=tiny_model, gallery=gallery, footprint_km=2 * hi)
    assert got == geolocate(centre, top_k=3, model=tiny_model, gallery=gallery)
    with pytest.warns(FootprintWarning, match="accuracy will drop"):
        geolocate(centre, top_k=1, model=tiny_model, gallery=gallery, footprint_km=lo / 4)


def test_geolocation_metrics_by_hand():
    true = np.array([[0.0, 0.0], [0.0, 0.0]])
    pred = np.array([[0.0, 0.0], [0.0, 10.0]])  # 0 km and ~1112 km
    m = geolocation_metrics(pred, true)
    assert m["acc_25km"] == 0.5 and m["acc_750km"] == 0.5 and m["acc_2500km"] == 1.0
    assert 550 < m["median_km"] < 560


def test_shipped_checkpoint_beats_both_baselines_on_held_out_patches():
    model = load_location_model()
    cfg = model.config
    train, _, test = split_locations(cfg)
    train, test = train[:4000], test[:300]
    kw = {"size_px": cfg.patch_px, "footprint_km": cfg.footprint_km, "relief": cfg.relief}
    test_patches = extract_patches(test, **kw)
    gallery = load_gallery("land")
    ours = score_geolocation(model, test_patches, test, gallery)
    rand = random_baseline(test, gallery)
    pix = pixel_nn_baseline(extract_patches(train, **kw), train, test_patches, test)
    for base in (rand, pix):
        assert ours["acc_750km"] > base["acc_750km"] + 0.1
        assert ours["median_km"] < base["median_km"]


def test_shipped_checkpoint_places_rgb_images_of_random_land_points():
    """What a user's RGB image is: 300 random land points (not the checkpoint's split), at its reference footprint."""
    from geoapp.bench.location import RANDOM_POINTS_SEED
    from geoapp.data.land import sample_land_points
    from geoapp.training.location_trainer import reference_patches

    model = load_location_model()
    points = sample_land_points(300, seed=RANDOM_POINTS_SEED)
    patches = reference_patches(model.config, points, rgb_only=True)
    gallery = load_gallery("land")
    ours = score_geolocation(model, patches, points, gallery)
    assert ours["acc_750km"] >= 0.5 and ours["acc_2500km"] >= 0.8, ours
    assert ours["acc_750km"] > random_baseline(points, gallery)["acc_750km"] + 0.3


def test_a_checkpoint_rewritten_by_training_is_loaded_again_not_served_from_the_cache(tiny_folder, tmp_path):
    """``best/`` is rewritten at each better epoch: the cache is keyed on its files, not on its folder alone."""
    import os
    import shutil

    from safetensors.torch import load_file, save_file

    from geoapp.analysis.location import checkpoint_stamp

    folder = tmp_path / "best"
    shutil.copytree(tiny_folder, folder)
    first = load_location_model(str(folder))
    assert load_location_model(str(folder)) is first  # unchanged files: the cached model
    weights = load_file(folder / "model.safetensors")
    save_file({k: v + 0.01 if v.is_floating_point() else v for k, v in weights.items()}, folder / "model.safetensors")
    later = os.stat(folder / "model.safetensors").st_mtime_ns + 1_000_000_000
    os.utime(folder / "model.safetensors", ns=(later, later))  # however coarse the file system's clock
    second = load_location_model(str(folder))
    assert second is not first and second.fingerprint != first.fingerprint
    assert checkpoint_stamp(str(tmp_path / "nowhere")) == ()
