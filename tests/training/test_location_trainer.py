"""The contrastive trainer: a tiny run writes best/last checkpoints and metrics, and resumes."""

from __future__ import annotations

import dataclasses
import math

import pytest
import torch

from geoapp.errors import InputError
from geoapp.training.checkpoint import load_checkpoint
from geoapp.training.location_trainer import LocationTrainConfig, build_contrastive_model, make_splits, train_location
from geoapp.training.metrics_log import read_metrics

TINY = LocationTrainConfig(
    n_train=128,
    n_val=32,
    n_test=32,
    epochs=1,
    batch_size=64,
    sh_degree=3,
    hidden_dim=16,
    embed_dim=8,
    image_width=4,
    val_gallery=200,
)


def test_tiny_run_then_resume(tmp_path):
    splits = make_splits(TINY, progress=False)
    best = train_location(TINY, tmp_path, progress=False, splits=splits)
    assert (best / "model.safetensors").exists() and (tmp_path / "last" / "train_state.safetensors").exists()
    _, card, _ = load_checkpoint(best)
    assert card["model"] == "contrastive-sh-siren" and card["config"]["n_train"] == 128
    assert set(card["metrics"]) >= {"train_loss", "val_acc_750km", "val_median_km", "temperature"}

    longer = dataclasses.replace(TINY, epochs=2)
    train_location(longer, tmp_path, resume=True, progress=False, splits=splits)
    epochs = [r["epoch"] for r in read_metrics(tmp_path / "metrics.jsonl")]
    assert epochs == [1, 2]  # resumed at epoch 2, not restarted
    _, _, state = load_checkpoint(tmp_path / "last", with_train_state=True)
    assert state["epoch"] == 1  # zero-based index of the last finished epoch


def test_config_refuses_unknown_and_bad_values():
    with pytest.raises(InputError, match="unknown location-training option"):
        LocationTrainConfig.from_dict({"epochz": 3})
    with pytest.raises(InputError, match="epochs must be a positive integer"):
        LocationTrainConfig(epochs=0)


def test_weight_decay_spares_biases_gains_and_the_temperature():
    model = build_contrastive_model(TINY)
    decayed, spared = model.parameter_groups(0.3)
    assert decayed["weight_decay"] == 0.3 and spared["weight_decay"] == 0.0
    assert all(p.ndim >= 2 for p in decayed["params"]) and all(p.ndim < 2 for p in spared["params"])
    assert any(p is model.logit_scale for p in spared["params"])
    assert len(decayed["params"]) + len(spared["params"]) == len(list(model.parameters()))
    # one AdamW step with zero gradients: only weight decay moves a parameter
    opt = torch.optim.AdamW([decayed, spared], lr=0.1)
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    for p in model.parameters():
        p.grad = torch.zeros_like(p)
    opt.step()
    for n, p in model.named_parameters():
        moved = not torch.equal(before[n], p.detach())
        assert moved == (p.ndim >= 2 and bool(before[n].any())), n


def test_the_logged_temperature_is_the_one_the_loss_uses():
    model = build_contrastive_model(TINY)  # min_temperature 0.01: a logit-scale ceiling of log(100)
    with torch.no_grad():
        model.logit_scale.fill_(math.log(1000.0))  # above the ceiling: the loss clamps it
    assert model.temperature() == pytest.approx(0.01)
    with torch.no_grad():
        model.logit_scale.fill_(math.log(20.0))
    assert model.temperature() == pytest.approx(0.05)
