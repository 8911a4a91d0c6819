"""Results kept on disk: hit the second time, rebuilt when an input changes, a damaged entry recomputed."""

from __future__ import annotations

import json
import os
import shutil

import numpy as np
import pandas as pd
import pytest

import geoapp.analysis.ablation as ablation_mod
import geoapp.analysis.attention as attention_mod
import geoapp.analysis.yield_predictions as predictions_mod
from geoapp.analysis.ablation import what_if_ablation
from geoapp.analysis.attention import attention_for_year
from geoapp.analysis.result_cache import ResultCache, cache_root, no_cache, result_cache, result_key
from geoapp.analysis.yield_predictions import predictions_for_year
from geoapp.data.dataset import load_dataset
from geoapp.training.ridge_trainer import train_ridge
from geoapp.training.yield_trainer import YieldTrainConfig, train_yield

SMALL = {"embed_dim": 16, "cnn_width": 4, "heads": 2, "layers": 1, "ff_dim": 32}


@pytest.fixture(scope="module")
def ds(tiny_dataset_path):
    return load_dataset(tiny_dataset_path)


@pytest.fixture(scope="module")
def runs(ds, tmp_path_factory):
    root = tmp_path_factory.mktemp("ck")
    cfg = YieldTrainConfig(
        model="semi-ha",
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
    return {
        "deep": train_yield(cfg, ds, root / "yield" / "semi-ha-2016", progress=False),
        "ridge": train_ridge(ds, [2012, 2013, 2014], 2015, 2016, root / "yield" / "ridge-2016"),
    }


@pytest.fixture
def fresh(tmp_path):
    """An empty results folder for one test."""
    with cache_root(tmp_path / "results") as root:
        yield root


def _counting(monkeypatch, module, name):
    calls = []
    original = getattr(module, name)

    def wrapper(*args, **kwargs):
        calls.append(args)
        return original(*args, **kwargs)

    monkeypatch.setattr(module, name, wrapper)
    return calls


@pytest.mark.parametrize("which", ["deep", "ridge"])
def test_predictions_are_computed_once_and_read_back_the_same(ds, runs, fresh, monkeypatch, which):
    calls = _counting(monkeypatch, predictions_mod, "evaluate_yield")
    table, summary = predictions_for_year(runs[which], ds, 2016)
    again, summary_again = predictions_for_year(runs[which], ds, 2016)
    assert len(calls) == 1
    pd.testing.assert_frame_equal(table, again)
    assert summary == summary_again and summary["role"] == "test" and summary["year"] == 2016
    predictions_for_year(runs[which], ds, 2015)  # another year is another result
    assert len(calls) == 2
    assert len(list((fresh / "predictions").iterdir())) == 2


def test_attention_and_ablation_are_kept_too(ds, runs, fresh, monkeypatch):
    att_calls = _counting(monkeypatch, attention_mod, "attention_matrices")
    att, geoids, effect = attention_for_year(runs["deep"], ds, 2016)
    n_first = len(att_calls)
    att2, geoids2, effect2 = attention_for_year(runs["deep"], ds, 2016)
    assert n_first >= 1 and len(att_calls) == n_first
    np.testing.assert_array_equal(att, att2)
    assert geoids == geoids2 and len(geoids) == att.shape[1] and effect == effect2 and effect is not None
    np.testing.assert_allclose(att.sum(axis=-1), 1.0, atol=1e-5)

    for which in ("deep", "ridge"):
        name = "_deep_ablation" if which == "deep" else "_registry_ablation"
        calls = _counting(monkeypatch, ablation_mod, name)
        summary, per_county = what_if_ablation(runs[which], ds, 2016)
        summary2, per_county2 = what_if_ablation(runs[which], ds, 2016)
        assert len(calls) == 1
        pd.testing.assert_frame_equal(summary, summary2)
        pd.testing.assert_frame_equal(per_county, per_county2)


def test_a_changed_card_weights_or_dataset_is_recomputed(ds, runs, fresh, tmp_path, monkeypatch):
    folder = tmp_path / "copy" / "best"
    shutil.copytree(runs["deep"], folder)
    calls = _counting(monkeypatch, predictions_mod, "evaluate_yield")
    predictions_for_year(folder, ds, 2016)
    assert len(calls) == 1

    card = json.loads((folder / "card.json").read_text())
    card["metrics"] = {**(card.get("metrics") or {}), "note": 1.0}
    (folder / "card.json").write_text(json.dumps(card))
    predictions_for_year(folder, ds, 2016)
    assert len(calls) == 2

    stat = (folder / "model.safetensors").stat()
    os.utime(folder / "model.safetensors", ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))
    predictions_for_year(folder, ds, 2016)
    predictions_for_year(folder, ds, 2016)
    assert len(calls) == 3

    labels_changed = load_dataset(ds.root)  # the same folder, labels edited in memory
    labels_changed.yields = labels_changed.yields.assign(
        labelled=labels_changed.yields["labelled"] & (labels_changed.yields["geoid"] != ds.labelled(2016)["geoid"].iloc[0])
    )
    table, summary = predictions_for_year(folder, labels_changed, 2016)
    assert len(calls) == 4 and summary["n"] == len(ds.labelled(2016)) - 1


def test_a_touched_dataset_file_changes_the_key(ds, runs, tmp_path):
    copy = load_dataset(shutil.copytree(ds.root, tmp_path / "ds"))
    before = result_key("predictions", runs["deep"], copy, 2016)
    stat = (copy.root / "yields.csv").stat()
    os.utime(copy.root / "yields.csv", ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))
    after = result_key("predictions", runs["deep"], copy, 2016)
    assert before is not None and after is not None
    assert before.slot == after.slot and before.inputs != after.inputs


@pytest.mark.parametrize("damage", ["garbage-table", "garbage-entry", "missing-table", "empty-folder"])
def test_a_damaged_entry_is_recomputed_and_replaced(ds, runs, fresh, monkeypatch, damage):
    calls = _counting(monkeypatch, predictions_mod, "evaluate_yield")
    table, _ = predictions_for_year(runs["deep"], ds, 2016)
    key = result_key("predictions", runs["deep"], ds, 2016)
    entry = result_cache().path(key)
    if damage == "garbage-table":
        (entry / "table.parquet").write_bytes(b"not parquet at all")
    elif damage == "garbage-entry":
        (entry / "entry.json").write_text("{ not json")
    elif damage == "missing-table":
        (entry / "table.parquet").unlink()
    else:
        shutil.rmtree(entry)
        entry.mkdir()
    again, _ = predictions_for_year(runs["deep"], ds, 2016)
    assert len(calls) == 2
    pd.testing.assert_frame_equal(table, again)
    predictions_for_year(runs["deep"], ds, 2016)
    assert len(calls) == 2  # the entry was written again


def test_no_cache_computes_every_time_and_writes_nothing(ds, runs, fresh, monkeypatch):
    calls = _counting(monkeypatch, predictions_mod, "evaluate_yield")
    with no_cache():
        predictions_for_year(runs["deep"], ds, 2016)
        predictions_for_year(runs["deep"], ds, 2016)
    assert len(calls) == 2 and not fresh.exists()


def test_errors_are_not_kept(ds, runs, fresh):
    from geoapp.errors import InputError

    with pytest.raises(InputError, match="year 1990 is not in dataset"):
        predictions_for_year(runs["deep"], ds, 1990)
    assert not fresh.exists()


def test_an_unwritable_cache_still_returns_the_result(ds, runs, tmp_path, monkeypatch):
    blocker = tmp_path / "file"
    blocker.write_text("a file where the cache folder would be")
    calls = _counting(monkeypatch, predictions_mod, "evaluate_yield")
    with cache_root(blocker / "results"), pytest.warns(UserWarning, match="cannot keep the predictions result"):
        table, _ = predictions_for_year(runs["deep"], ds, 2016)
    assert len(table) == len(ds.labelled(2016)) and len(calls) == 1


def test_prune_removes_entries_of_deleted_checkpoints(ds, runs, fresh, tmp_path):
    folder = tmp_path / "gone" / "best"
    shutil.copytree(runs["ridge"], folder)
    predictions_for_year(folder, ds, 2016)
    predictions_for_year(runs["ridge"], ds, 2016)
    shutil.rmtree(folder.parent)
    removed = ResultCache().prune()
    assert len(removed) == 1 and len(list((fresh / "predictions").iterdir())) == 1
