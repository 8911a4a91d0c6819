"""A tiny train-then-evaluate run of each yield model on the tiny dataset (seconds, CPU)."""

from __future__ import annotations

import dataclasses
import json
import shutil

import numpy as np
import pytest

from geoapp.data.dataset import load_dataset
from geoapp.errors import DataFileError, InputError
from geoapp.training.checkpoint import load_checkpoint
from geoapp.training.metrics_log import read_metrics
from geoapp.training.monitor import TrainingCancelled, TrainingMonitor
from geoapp.training.yield_trainer import YieldTrainConfig, evaluate_yield, nested_years, train_yield

SMALL = {"embed_dim": 16, "cnn_width": 4, "heads": 2, "layers": 1, "ff_dim": 32}


def _cfg(model: str, **kw) -> YieldTrainConfig:
    base = dict(
        model=model,
        test_year=2016,
        n_train_years=3,
        epochs=2,
        batch_size=16,
        max_train_examples=48,
        r_n_km=24.0,
        r_d_km=64.0,
        model_overrides=SMALL,
        device="cpu",
    )
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


def test_resume_after_an_early_stop_trains_no_more(ds, tmp_path):
    cfg = _cfg("s-ha", epochs=4, patience=2)
    train_yield(dataclasses.replace(cfg, epochs=2), ds, tmp_path, progress=False)
    state_file = tmp_path / "last" / "train_state.json"
    state = json.loads(state_file.read_text())
    state["stale"] = 2  # as if it had stopped early after epoch 2 and then failed before finishing
    state_file.write_text(json.dumps(state))
    events = []

    class Recorder(TrainingMonitor):
        def report(self, event):
            events.append(event)

    train_yield(cfg, ds, tmp_path, resume=True, progress=False, monitor=Recorder())
    assert [r["epoch"] for r in read_metrics(tmp_path / "metrics.jsonl")] == [1, 2]
    assert [e["event"] for e in events] == ["start", "end"] and events[-1]["stopped_early"]


def test_resume_without_a_saved_epoch_is_refused_and_force_starts_over_once(ds, tmp_path):
    cfg = _cfg("s-ha", epochs=1)
    train_yield(cfg, ds, tmp_path, progress=False)
    shutil.rmtree(tmp_path / "last")  # killed after logging epoch 1 but before saving it
    with pytest.raises(InputError, match="no last/ checkpoint in .* to resume from; run without --resume"):
        train_yield(cfg, ds, tmp_path, resume=True, progress=False)
    train_yield(cfg, ds, tmp_path, progress=False, force=True)  # starts over: the old metrics go
    assert [r["epoch"] for r in read_metrics(tmp_path / "metrics.jsonl")] == [1]


def test_resume_on_other_data_or_config_is_refused(ds, tmp_path):
    cfg = _cfg("s-ha", epochs=1)
    train_yield(cfg, ds, tmp_path, progress=False)
    bigger = dataclasses.replace(cfg, epochs=2, model_overrides={**SMALL, "embed_dim": 32})
    with pytest.raises(InputError, match="cannot resume .*model_config"):
        train_yield(bigger, ds, tmp_path, resume=True, progress=False)
    card = json.loads((tmp_path / "last" / "card.json").read_text())
    card["dataset"]["fingerprint"] = "0000000000000000"  # as if the dataset had been rebuilt since
    (tmp_path / "last" / "card.json").write_text(json.dumps(card))
    with pytest.raises(InputError, match="cannot resume .*dataset"):
        train_yield(dataclasses.replace(cfg, epochs=2), ds, tmp_path, resume=True, progress=False)


def test_resume_with_other_training_settings_is_refused_with_each_difference(ds, tmp_path):
    cfg = _cfg("s-ha", epochs=1)
    train_yield(cfg, ds, tmp_path, progress=False)
    other = dataclasses.replace(cfg, epochs=2, lr=cfg.lr * 3, precision="bfloat16")
    with pytest.raises(InputError, match=r"train_config\.lr: checkpoint has .*; train_config\.precision: checkpoint has 'auto'"):
        train_yield(other, ds, tmp_path, resume=True, progress=False)
    assert [r["epoch"] for r in read_metrics(tmp_path / "metrics.jsonl")] == [1]  # nothing lost
    card = json.loads((tmp_path / "last" / "card.json").read_text())
    del card["train_config"]["precision"]  # a card written before the setting existed is not held to it
    (tmp_path / "last" / "card.json").write_text(json.dumps(card))
    with pytest.raises(InputError, match=r"train_config\.lr") as caught:
        train_yield(other, ds, tmp_path, resume=True, progress=False)
    assert "precision" not in str(caught.value)
    # where and how long it trains may change: a different worker count, more epochs, compile off
    train_yield(dataclasses.replace(cfg, epochs=2, loader_workers=0, patience=5), ds, tmp_path, resume=True, progress=False)
    assert [r["epoch"] for r in read_metrics(tmp_path / "metrics.jsonl")] == [1, 2]


def test_too_few_examples_for_one_batch_is_a_clear_error(ds, tmp_path):
    with pytest.raises(InputError, match="make no batch of at least 2"):
        train_yield(_cfg("s-ha", max_train_examples=1), ds, tmp_path, progress=False)


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


class _Recorder(TrainingMonitor):
    def __init__(self, stop_after_steps: int | None = None) -> None:
        self.events: list[dict] = []
        self.stop_after_steps = stop_after_steps

    def report(self, event: dict) -> None:
        self.events.append(event)

    def stop_requested(self) -> bool:
        steps = sum(e["event"] == "step" for e in self.events)
        return self.stop_after_steps is not None and steps >= self.stop_after_steps


def test_monitor_sees_start_steps_epochs_end(ds, tmp_path):
    rec = _Recorder()
    train_yield(_cfg("s-ha"), ds, tmp_path, progress=False, monitor=rec)
    kinds = [e["event"] for e in rec.events]
    assert kinds[0] == "start" and kinds[-1] == "end" and kinds.count("epoch") == 2
    start = rec.events[0]
    assert start["epochs"] == 2 and start["steps"] == 3 and start["world_size"] == 1  # 48 examples / batch 16
    steps = [e for e in rec.events if e["event"] == "step"]
    assert [(e["epoch"], e["step"]) for e in steps] == [(1, 1), (1, 2), (1, 3), (2, 1), (2, 2), (2, 3)]
    assert all(np.isfinite(e["loss"]) for e in steps)
    assert rec.events[-1]["checkpoint"].endswith("best")


def test_stop_request_cancels_and_resume_finishes(ds, tmp_path):
    with pytest.raises(TrainingCancelled, match="cancelled in epoch 2"):
        train_yield(_cfg("s-ha"), ds, tmp_path, progress=False, monitor=_Recorder(stop_after_steps=4))
    assert [r["epoch"] for r in read_metrics(tmp_path / "metrics.jsonl")] == [1]  # epoch 1 finished and saved
    train_yield(_cfg("s-ha"), ds, tmp_path, resume=True, progress=False)
    assert [r["epoch"] for r in read_metrics(tmp_path / "metrics.jsonl")] == [1, 2]


def test_unwritable_checkpoint_folder_fails_before_training(ds, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    rec = _Recorder()
    with pytest.raises(DataFileError, match="cannot write checkpoints"):
        train_yield(_cfg("s-ha"), ds, blocker / "run", progress=False, monitor=rec)
    assert rec.events == []


def test_retrain_without_a_group_drops_its_bands_and_feeds_figure7(ds, tmp_path, monkeypatch):
    from geoapp.analysis.ablation import retrain_ablation, what_if_ablation

    monkeypatch.setenv("GEOAPP_CHECKPOINT_DIR", str(tmp_path))
    full = train_yield(_cfg("s-ha", epochs=1), ds, tmp_path / "yield" / "s-ha-2016", progress=False)
    assert retrain_ablation(full, ds) is None  # no retrained run yet
    no_soil = train_yield(
        _cfg("s-ha", epochs=1, exclude_group="SOIL"), ds, tmp_path / "yield" / "s-ha-2016-no-SOIL", progress=False
    )
    _, card, _ = load_checkpoint(no_soil)
    assert card["normalisation"]["bands"] == ["ndvi", "evi", "lst_day", "lst_night", "ppt", "elevation"]
    assert card["model_config"]["in_channels"] == 6
    result = evaluate_yield(no_soil, ds)
    assert np.isfinite(result["rmse"])
    table = retrain_ablation(full, ds)
    assert list(table["group"]) == ["none (all inputs)", "SOIL"]
    assert table["delta_rmse"].iloc[1] == pytest.approx(result["rmse"] - table["rmse"].iloc[0])
    assert retrain_ablation(no_soil, ds) is None  # only a full model has a Figure 7
    summary, per_county = what_if_ablation(no_soil, ds, 2016)  # a group the model never saw is not offered as a what-if
    assert list(summary["group"]) == ["none (all inputs)", "VI", "LST", "PPT", "ELE"]
    assert "SOIL_change" not in per_county and "PPT_change" in per_county
    with pytest.raises(InputError, match="exclude_group"):
        _cfg("s-ha", exclude_group="WIND")


def test_temporal_neighbour_choice_is_trained_and_recorded(ds, tmp_path):
    best = train_yield(_cfg("semi-sa", epochs=1, temporal_neighbour="year"), ds, tmp_path, progress=False)
    _, card, _ = load_checkpoint(best)
    assert card["train_config"]["temporal_neighbour"] == "year"
    assert np.isfinite(read_metrics(tmp_path / "metrics.jsonl")[0]["train_temporal"])
    with pytest.raises(InputError, match="temporal_neighbour must be one of"):
        _cfg("semi-ha", temporal_neighbour="decade")


def test_figure7_compares_the_retrained_runs_with_the_all_inputs_run_trained_the_same_way(ds, tmp_path, monkeypatch):
    """A checkpoint trained otherwise (1 epoch) than a study's runs (2 epochs) is not set against them."""
    from geoapp.analysis.ablation import retrain_ablation

    monkeypatch.setenv("GEOAPP_CHECKPOINT_DIR", str(tmp_path / "checkpoints"))
    shipped = train_yield(_cfg("s-ha", epochs=1), ds, tmp_path / "checkpoints" / "yield" / "s-ha-2016", progress=False)
    study = tmp_path / "study" / "runs"
    full = train_yield(_cfg("s-ha", device="auto"), ds, study / "s-ha-2016-ny3-seed0", progress=False)
    no_ele = train_yield(_cfg("s-ha", exclude_group="ELE"), ds, study / "s-ha-2016-ny3-seed0-no-ELE", progress=False)
    assert retrain_ablation(shipped, ds) is None  # the checkpoint folder alone holds no retrained run
    table = retrain_ablation(shipped, ds, roots=[study])
    assert list(table["group"]) == ["none (all inputs)", "ELE"]
    assert table["checkpoint"].tolist() == [str(full), str(no_ele)]  # against the study's own all-inputs run
    assert table["rmse"].iloc[0] == pytest.approx(evaluate_yield(full, ds)["rmse"], rel=1e-5)
    same = retrain_ablation(full, ds, roots=[study])  # the study's run itself: compared with itself
    assert same["checkpoint"].iloc[0] == str(full) and same["delta_rmse"].iloc[0] == 0.0
    with pytest.raises(InputError, match="roots must be a list of folders"):
        retrain_ablation(full, ds, roots=str(study))


def test_figure7_reads_an_older_card_and_written_out_default_weights_as_the_same_setting(ds, tmp_path, monkeypatch):
    """A card without settings added since (trend, calibration) and a run whose loss weights were written out."""
    import json
    import shutil

    from geoapp.analysis.ablation import retrain_ablation

    monkeypatch.setenv("GEOAPP_CHECKPOINT_DIR", str(tmp_path / "checkpoints"))
    runs = tmp_path / "checkpoints" / "yield"
    full = train_yield(_cfg("s-ha", epochs=1), ds, runs / "s-ha-2016", progress=False)
    old = runs / "s-ha-2016-old" / "best"
    shutil.copytree(full, old)
    card = json.loads((old / "card.json").read_text())
    for key in ("trend", "calibration", "temporal_neighbour"):  # as a card written before those settings existed
        card["train_config"].pop(key, None)
    card["train_config"]["precision"] = None
    (old / "card.json").write_text(json.dumps(card))
    weights = {k: card["model_config"][k] for k in ("alpha", "beta", "gamma") if k in card["model_config"]}
    no_lst = train_yield(
        _cfg("s-ha", epochs=1, exclude_group="LST", model_overrides={**SMALL, **weights}),
        ds,
        runs / "s-ha-2016-no-LST",
        progress=False,
    )  # the Training page writes the default loss weights out
    table = retrain_ablation(old, ds)
    assert table is not None and list(table["group"]) == ["none (all inputs)", "LST"]
    assert table["checkpoint"].tolist() == [str(old), str(no_lst)]  # the older card itself is the all-inputs run
