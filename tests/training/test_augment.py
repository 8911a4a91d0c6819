"""Dihedral augmentation of training tiles: the eight symmetries, one per example, replayed from the step's key."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from geoapp.app_support.training import ignored_settings, used_settings
from geoapp.data.dataset import load_dataset
from geoapp.errors import InputError
from geoapp.models.yield_models import _is_previous_month
from geoapp.samplers import QuadrupletSampler
from geoapp.training.augment import (
    N_SYMMETRIES,
    apply_symmetries,
    augment_batch,
    augment_rng,
    check_augment,
    symmetry_codes,
)
from geoapp.training.distributed import init_distributed
from geoapp.training.model_kinds import model_kind
from geoapp.training.yield_config import YieldTrainConfig
from geoapp.training.yield_data import YieldTileSource
from geoapp.training.yield_loader import YieldBatches
from geoapp.training.yield_trainer import evaluate_yield, train_yield

from . import test_baselines, test_yield_trainer

TRAIN_YEARS = [2012, 2013, 2014]


@pytest.fixture(scope="module")
def ds(tiny_dataset_path):
    return load_dataset(tiny_dataset_path)


def _tile(h: int = 4) -> torch.Tensor:
    """(1, 1, h, h): every pixel a different value, so each symmetry gives a different tile."""
    return torch.arange(h * h, dtype=torch.float32).reshape(1, 1, h, h)


def test_the_eight_codes_are_the_eight_symmetries_of_the_square():
    tile = _tile()
    expected = [torch.rot90(tile, k, dims=(-2, -1)) for k in range(4)]
    expected += [torch.rot90(tile.flip(-1), k, dims=(-2, -1)) for k in range(4)]
    got = [apply_symmetries(tile, np.array([code])) for code in range(N_SYMMETRIES)]
    assert torch.equal(got[0], tile)
    for e in expected:  # each symmetry of the square is one of the codes, and no two codes agree
        assert sum(torch.equal(g, e) for g in got) == 1
    assert apply_symmetries(tile, np.array([3])).shape == tile.shape
    assert torch.equal(tile, _tile())  # the input is left as it was


def test_each_example_gets_its_own_code_for_every_month_and_band():
    tiles = torch.randn(5, 3, 2, 6, 6)  # (B, T, C, H, W)
    codes = np.array([0, 1, 2, 5, 7])
    out = apply_symmetries(tiles, codes)
    for b, code in enumerate(codes):
        assert torch.equal(out[b], apply_symmetries(tiles[b : b + 1], np.array([code]))[0])
    assert torch.equal(out[0], tiles[0])
    # values move, none is made or lost
    for b in range(5):
        assert torch.equal(out[b].flatten(-2).sort(-1).values, tiles[b].flatten(-2).sort(-1).values)


def test_bad_codes_tiles_and_names_are_refused_with_what_was_expected():
    with pytest.raises(InputError, match="0..7"):
        apply_symmetries(torch.zeros(2, 1, 4, 4), np.array([0, 8]))
    with pytest.raises(InputError, match="one whole symmetry code per example"):
        apply_symmetries(torch.zeros(2, 1, 4, 4), np.array([0]))
    with pytest.raises(InputError, match="square tiles"):
        apply_symmetries(torch.zeros(2, 1, 4, 5), np.array([0, 4]))
    with pytest.raises(InputError, match=r"'none', 'dihedral'"):
        check_augment("rotate")
    with pytest.raises(InputError, match="augment"):
        YieldTrainConfig(augment="flip")
    with pytest.raises(InputError, match="none of the tile keys"):
        augment_batch({"target": torch.zeros(2)}, ("A",), augment_rng(0))


def test_codes_come_from_the_key_and_cover_the_group():
    a = symmetry_codes(4000, augment_rng(1, 2, 0, 3))
    assert np.array_equal(a, symmetry_codes(4000, augment_rng(1, 2, 0, 3)))
    assert not np.array_equal(a, symmetry_codes(4000, augment_rng(1, 2, 0, 4)))
    counts = np.bincount(a, minlength=N_SYMMETRIES)
    assert counts.min() > 400  # about 500 each


def _batches(ds, augment: str, context: bool = True) -> YieldBatches:
    source = YieldTileSource(ds, TRAIN_YEARS)
    ex = source.examples(TRAIN_YEARS)
    sampler = QuadrupletSampler.from_dataset(ds, r_n=24.0, r_d=64.0, generator=0) if context else None
    return YieldBatches(source, ex, batch=16, seed=3, ctx=init_distributed("cpu"), sampler=sampler, augment=augment)


def test_a_batch_turns_each_examples_tiles_alike_and_keeps_the_temporal_neighbour(ds):
    plain, turned = _batches(ds, "none")[(1, 0)], _batches(ds, "dihedral")[(1, 0)]
    assert torch.equal(plain["target"], turned["target"]) and torch.equal(plain["index"], turned["index"])
    assert torch.equal(plain["tn_valid"], turned["tn_valid"])
    codes = symmetry_codes(len(plain["index"]), augment_rng(3, 1, 0, 0))
    assert (codes != 0).any()
    for k in ("A", "SN", "SD", "TN"):  # the same draws of context tiles, turned by the step's codes
        assert torch.equal(turned[k], apply_symmetries(plain[k], codes)), k
    # the paper's TN (the anchor one month earlier) is still the anchor's tile: the model reuses its embeddings
    assert _is_previous_month(turned["TN"], turned["A"])
    assert torch.equal(_batches(ds, "dihedral")[(1, 0)]["A"], turned["A"])  # replayed from the key alone


def test_anchor_only_batches_are_turned_too(ds):
    plain, turned = _batches(ds, "none", context=False)[(0, 2)], _batches(ds, "dihedral", context=False)[(0, 2)]
    codes = symmetry_codes(len(plain["index"]), augment_rng(3, 0, 0, 2))
    assert set(turned) == set(plain) and torch.equal(turned["A"], apply_symmetries(plain["A"], codes))


def _trained(ds, tmp_path, model: str, cfg_of, **kw):
    best = train_yield(cfg_of(model, augment="dihedral", **kw), ds, tmp_path / model, progress=False)
    card = json.loads((best / "card.json").read_text())
    return best, card


@pytest.mark.parametrize("model", ["s-ha", "semi-ha"])
def test_an_attention_model_trains_with_augmentation_and_its_card_says_so(ds, tmp_path, model):
    best, card = _trained(ds, tmp_path, model, test_yield_trainer._cfg, epochs=1)
    assert card["train_config"]["augment"] == "dihedral" and "augment" in card["applies"]
    plain = train_yield(test_yield_trainer._cfg(model, epochs=1), ds, tmp_path / f"{model}-plain", progress=False)
    scores = evaluate_yield(best, ds)
    assert np.isfinite(scores["rmse"])
    # the same seed and draws, only the tiles turned: a different model
    a = (best / "model.safetensors").read_bytes()
    assert a != (plain / "model.safetensors").read_bytes()


def test_a_baseline_on_tiles_uses_it_and_one_on_averages_or_histograms_ignores_it(ds, tmp_path):
    best, card = _trained(ds, tmp_path, "c3d", test_baselines._cfg, epochs=1)
    assert "augment" in card["applies"] and np.isfinite(evaluate_yield(best, ds)["rmse"])
    plain = train_yield(test_baselines._cfg("c3d", epochs=1), ds, tmp_path / "c3d-plain", progress=False)
    assert (best / "model.safetensors").read_bytes() != (plain / "model.safetensors").read_bytes()  # the tiles were turned
    _, card = _trained(ds, tmp_path, "mlp", test_baselines._cfg, epochs=1)
    assert "augment" not in card["applies"] and card["train_config"]["augment"] == "dihedral"
    # the Training page lists the setting as ignored exactly where the cards leave it out
    for name in ("mlp", "cnn-gp", "lstm-gp", "ridge", "rf"):
        assert "augment" not in used_settings(model_kind(name)) and "Tile augmentation" in ignored_settings(name)
    for name in ("c3d", "cnn-lstm", "s-ha", "semi-ha", "semi-sa", "semi-ha-loc"):
        assert "augment" in used_settings(model_kind(name)) and "Tile augmentation" not in ignored_settings(name)


def test_a_run_cannot_resume_with_another_augmentation(ds, tmp_path):
    out = tmp_path / "run"
    train_yield(test_yield_trainer._cfg("s-ha", epochs=1, augment="dihedral"), ds, out, progress=False)
    with pytest.raises(InputError, match="augment"):
        train_yield(test_yield_trainer._cfg("s-ha", epochs=2, augment="none"), ds, out, resume=True, progress=False)
    # a card from before the setting existed was trained without it: it resumes only without it
    old = tmp_path / "old"
    train_yield(test_yield_trainer._cfg("s-ha", epochs=1), ds, old, progress=False)
    card_path = old / "last" / "card.json"
    card = json.loads(card_path.read_text())
    del card["train_config"]["augment"]
    card_path.write_text(json.dumps(card))
    with pytest.raises(InputError, match="augment"):
        train_yield(test_yield_trainer._cfg("s-ha", epochs=2, augment="dihedral"), ds, old, resume=True, progress=False)
    train_yield(test_yield_trainer._cfg("s-ha", epochs=2), ds, old, resume=True, progress=False)
