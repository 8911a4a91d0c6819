"""A tiny train-then-evaluate run of each yield model on the tiny dataset (seconds, CPU)."""

from __future__ import annotations

import dataclasses
import json
import shutil

import numpy as np
import pytest

from geoapp.data.dataset import load_dataset
from geoapp.errors import InputError
from geoapp.training.checkpoint import load_checkpoint
from geoapp.training.metrics_log import read_metrics
from geoapp.training.yield_trainer import YieldTrainConfig, evaluate_yield, nested_years, train_yield

SMALL = {"embed_dim": 16, "cnn_width": 4, "heads": 2, "layers": 1, "ff_dim": 32}


def _cfg(model: str, **kw) -> YieldTrainConfig:
    base = dict(model=model, test_year=2016, n_train_years=3, epochs=2, batch_size=16, max_train_examples=48,
                r_n_km=24.0, r_d_km=64.0, model_overrides=SMALL, device="cpu")
    return YieldTrainConfig(**{**base, **kw})


@pytest.fixture(scope="module")
def ds(tiny_dataset_path):
    return load_dataset(tiny_dataset_path)


@pytest.mark.parametrize("model", ["semi-ha", "s-ha", "semi-sa"])
def test_train_then_evaluate(ds, tmp_path, model):
    best = train_yield(_cfg(model), ds, tmp_path, progress=False)
    weights, card, _ = load_checkpoint(best)
    assert card["model"] == model and card["years"] == {"train": [2012, 2013, 2014], "validation": 2015, "test": 2016}
    assert card["dataset"]["fingerprint"] == ds.fingerprint
    assert np.isfinite(card["metrics"]["val_rmse"]) and np.isfinite(card["metrics"]["test_rmse"])
    result = evaluate_yield(best, ds)
    assert result["year"] == 2016 and result["n"] == len(ds.labelled(2016))
    assert set(result["table"].columns) == {"geoid", "year", "true", "predicted"}
    assert np.isfinite(result["table"]["predicted"]).all()
    assert result["rmse"] == pytest.approx(card["metrics"]["test_rmse"], rel=1e-4)  # same model, same data
    if model != "s-ha":
        assert "train_spatial" in read_metrics(tmp_path / "metrics.jsonl")[0]


def test_resume_continues_from_last(ds, tmp_path):
    cfg = _cfg("s-ha", epochs=1)
    train_yield(cfg, ds, tmp_path, progress=False)
    train_yield(dataclasses.replace(cfg, epochs=2), ds, tmp_path, resume=True, progress=False)
    assert [r["epoch"] for r in read_metrics(tmp_path / "metrics.jsonl")] == [1, 2]


def test_checkpoint_from_other_data_is_refused(ds, tmp_path, tiny_dataset_path):
    best = train_yield(_cfg("s-ha", epochs=1), ds, tmp_path / "run", progress=False)
    other = shutil.copytree(tiny_dataset_path, tmp_path / "other")
    card = json.loads((other / "dataset.json").read_text())
    card["fingerprint"] = "0000000000000000"
    (other / "dataset.json").write_text(json.dumps(card))
    with pytest.raises(InputError, match="fingerprint: checkpoint has"):
        evaluate_yield(best, load_dataset(other))


def test_nested_years_and_config_errors():
    assert nested_years(2018, 10, list(range(2003, 2019))) == (list(range(2007, 2017)), 2017, 2018)
    with pytest.raises(InputError, match="lacks"):
        nested_years(2010, 10, list(range(2003, 2019)))
    with pytest.raises(InputError, match="unknown yield-training option"):
        YieldTrainConfig.from_dict({"modle": "semi-ha"})
    with pytest.raises(InputError, match="model must be one of"):
        YieldTrainConfig(model="lstm")


def test_ridge_fits_and_evaluates_like_the_deep_models(ds, tmp_path):
    from geoapp.training.ridge_trainer import train_ridge

    best = train_ridge(ds, [2012, 2013, 2014], 2015, 2016, tmp_path)
    _, card, _ = load_checkpoint(best)
    assert card["kind"] == "ridge" and card["n_features"] == 63
    result = evaluate_yield(best, ds)
    assert result["n"] == len(ds.labelled(2016))
    assert result["rmse"] == pytest.approx(card["metrics"]["test_rmse"], rel=1e-9)
    assert result["rmse"] < np.std(result["table"]["true"]) * 1.5  # not wildly off
