"""The contrastive trainer: a tiny run writes best/last checkpoints and metrics, and resumes."""

from __future__ import annotations

import dataclasses

import pytest

from geoapp.errors import InputError
from geoapp.training.checkpoint import load_checkpoint
from geoapp.training.location_trainer import LocationTrainConfig, make_splits, train_location
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
