"""Attention summaries, the global query's effect and what-if ablation on tiny trained models."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from geoapp.analysis.ablation import what_if_ablation
from geoapp.analysis.attention import attention_matrices, global_query_effect, summarise_attention, without_global_query
from geoapp.analysis.yield_predictions import compare_on_year, predictions_for_year, yield_checkpoints
from geoapp.data.dataset import load_dataset
from geoapp.training.ridge_trainer import train_ridge
from geoapp.training.yield_data import YieldTileSource
from geoapp.training.yield_trainer import YieldTrainConfig, load_yield_model, train_yield

SMALL = {"embed_dim": 16, "cnn_width": 4, "heads": 2, "layers": 2, "ff_dim": 32}


@pytest.fixture(scope="module")
def ds(tiny_dataset_path):
    return load_dataset(tiny_dataset_path)


@pytest.fixture(scope="module")
def trained(ds, tmp_path_factory):
    root = tmp_path_factory.mktemp("ck")
    out = {}
    for name in ("s-ha", "semi-sa"):
        cfg = YieldTrainConfig(
            model=name,
            test_year=2016,
            n_train_years=3,
            epochs=1,
            batch_size=16,
            max_train_examples=32,
            r_n_km=24.0,
            r_d_km=64.0,
            model_overrides=SMALL,
            device="cpu",
        )
        out[name] = train_yield(cfg, ds, root / "yield" / name, progress=False)
    out["ridge"] = train_ridge(ds, [2012, 2013, 2014], 2015, 2016, root / "yield" / "ridge")
    out["root"] = root
    return out


def _source(ds):
    return YieldTileSource(ds, [2012, 2013, 2014], years=[2016])


def test_attention_rows_sum_to_one_and_summaries(ds, trained):
    model, _ = load_yield_model(trained["s-ha"], ds)
    src = _source(ds)
    ex = src.examples([2016])
    att = attention_matrices(model, src, ex)
    assert att.shape == (2, len(ex), 2, 7, 7)
    np.testing.assert_allclose(att.sum(axis=-1), 1.0, atol=1e-5)
    s = summarise_attention(att)
    assert s.per_head.shape == (2, 2, 7, 7) and s.overall.shape == (7, 7)
    assert s.received.sum() == pytest.approx(1.0, abs=1e-5)
    one = summarise_attention(att, county=3)
    np.testing.assert_allclose(one.per_head, att[:, 3])


def test_global_query_effect_and_restoration(ds, trained):
    model, _ = load_yield_model(trained["s-ha"], ds)
    before = [p.detach().clone() for n, p in model.named_parameters() if "global_query" in n]
    with without_global_query(model):
        assert all(float(p.abs().sum()) == 0 for n, p in model.named_parameters() if "global_query" in n)
    after = [p for n, p in model.named_parameters() if "global_query" in n]
    for b, a in zip(before, after, strict=True):
        torch.testing.assert_close(a, b)
    src = _source(ds)
    effect = global_query_effect(model, src, src.examples([2016]))
    assert effect["mean_abs_attention_change"] >= 0 and np.isfinite(effect["rms_prediction_change_bu"])
    semi_sa, _ = load_yield_model(trained["semi-sa"], ds)
    assert global_query_effect(semi_sa, src, src.examples([2016])) is None  # self-attention has no G


@pytest.mark.parametrize("name", ["s-ha", "ridge"])
def test_what_if_ablation_tables(ds, trained, name):
    summary, per_county = what_if_ablation(trained[name], ds, 2016)
    assert list(summary["group"]) == ["none (all inputs)", "VI", "LST", "PPT", "SOIL", "ELE"]
    assert summary["delta_rmse"].iloc[0] == 0.0
    assert len(per_county) == len(ds.labelled(2016))
    for g in ("VI", "LST", "PPT", "SOIL", "ELE"):
        assert np.isfinite(per_county[f"{g}_change"]).all()
    base_rmse = float(np.sqrt(np.mean((per_county["predicted"] - per_county["true"]) ** 2)))
    assert summary["rmse"].iloc[0] == pytest.approx(base_rmse, rel=1e-6)


def test_checkpoints_are_matched_to_their_dataset(ds, trained):
    found = [f.parent.name for f, _ in yield_checkpoints(ds, trained["root"])]
    assert sorted(found) == ["ridge", "s-ha", "semi-sa"]
    table, summary = predictions_for_year(trained["s-ha"], ds, 2014)
    assert summary["role"] == "training" and {"geoid", "true", "predicted", "error"} <= set(table.columns)


def test_compare_on_year_scores_only_checkpoints_tested_on_that_year(ds, trained):
    table = compare_on_year(ds, 2016, trained["root"])
    assert sorted(table["model"]) == ["ridge", "s-ha", "semi-sa"]  # all three were tested on 2016
    assert list(table["rmse"]) == sorted(table["rmse"])  # best first
    for row in table.itertuples():
        preds, summary = predictions_for_year(row.checkpoint, ds, 2016)
        assert row.rmse == pytest.approx(summary["rmse"]) and row.n == summary["n"]
        assert row.bias == pytest.approx(preds["error"].mean())
    assert table.set_index("model").loc["s-ha", "seed"] == 0
    empty = compare_on_year(ds, 2014, trained["root"])  # a training year of every checkpoint
    assert empty.empty and list(empty.columns) == list(table.columns)
