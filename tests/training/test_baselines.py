"""Each baseline of Section IV-B trained, saved, loaded and used for predictions on the tiny dataset (seconds, CPU)."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from geoapp.data.bands import group_bands
from geoapp.data.dataset import load_dataset
from geoapp.errors import DataFileError, InputError
from geoapp.models.yield_models import BASELINE_NAMES, MODEL_NAMES
from geoapp.training.checkpoint import load_checkpoint
from geoapp.training.metrics_log import read_metrics
from geoapp.training.model_kinds import MODEL_KINDS, kind_names, load_yield_checkpoint, model_kind, predict_yields
from geoapp.training.monitor import TrainingMonitor
from geoapp.training.yield_trainer import YieldTrainConfig, evaluate_yield, train_yield


def _cfg(model: str, **kw) -> YieldTrainConfig:
    base = dict(model=model, test_year=2016, n_train_years=3, epochs=2, batch_size=16, max_train_examples=64, device="cpu")
    return YieldTrainConfig(**{**base, **kw})


class Recorder(TrainingMonitor):
    def __init__(self) -> None:
        self.events: list[dict] = []

    def report(self, event: dict) -> None:
        self.events.append(event)


@pytest.fixture(scope="module")
def ds(tiny_dataset_path):
    return load_dataset(tiny_dataset_path)


@pytest.fixture(scope="module")
def trained(ds, tmp_path_factory):
    """One checkpoint per baseline (other than ridge, covered by its own tests), trained once."""
    out = {}
    for name in BASELINE_NAMES:
        if name != "ridge":
            out[name] = train_yield(_cfg(name), ds, tmp_path_factory.mktemp(name), progress=False)
    return out


def test_the_registry_has_every_model_name_and_says_what_each_reads():
    assert tuple(MODEL_KINDS) == MODEL_NAMES
    assert kind_names(attention=True) == ("semi-ha", "semi-ha-loc", "s-ha", "semi-sa")
    assert kind_names("baseline") == BASELINE_NAMES
    inputs = {name: model_kind(name).inputs for name in BASELINE_NAMES}
    assert inputs == {
        "ridge": "averaged",
        "rf": "averaged",
        "mlp": "averaged",
        "lstm-gp": "histograms",
        "cnn-gp": "histograms",
        "c3d": "tiles",
        "cnn-lstm": "tiles",
    }
    with pytest.raises(InputError, match=r"unknown yield model str 'xgboost'.*'cnn-lstm'"):
        model_kind("xgboost")


@pytest.mark.parametrize("name", [n for n in BASELINE_NAMES if n != "ridge"])
def test_train_save_load_predict(trained, ds, name):
    best = trained[name]
    weights, card, _ = load_checkpoint(best)
    assert card["model"] == name and card["kind"] == "yield-baseline"
    assert card["years"] == {"train": [2012, 2013, 2014], "validation": 2015, "test": 2016}
    assert "r_n_km" not in card["applies"] and "test_year" in card["applies"]
    assert all(bool(torch.isfinite(t).all()) for t in weights.values() if t.is_floating_point())
    predictor = load_yield_checkpoint(best, ds)
    out = predictor.predict(ds, 2016)
    assert len(out) == len(ds.labelled(2016)) and np.isfinite(out.predicted).all()
    result = evaluate_yield(best, ds)
    assert result["model"] == name and result["n"] == len(out)
    assert result["rmse"] == pytest.approx(card["metrics"]["test_rmse"], rel=1e-4)  # the same model on the same data
    assert np.allclose(result["table"]["predicted"], out.predicted)
    masked = predict_yields(best, ds, 2016, mask_group="VI")
    assert np.isfinite(masked.predicted).all() and not np.allclose(masked.predicted, out.predicted)
    assert len(read_metrics(best.parent / "metrics.jsonl")) >= 1


@pytest.mark.parametrize("name", ["lstm-gp", "cnn-gp"])
def test_the_gp_models_keep_their_gp_and_both_scores(trained, name):
    _, card, _ = load_checkpoint(trained[name])
    assert card["gp"]["n_train"] == 64 and card["gp"]["params"]["r_loc"] == 0.5
    m = card["metrics"]
    assert np.isfinite([m["test_rmse"], m["test_rmse_without_gp"], m["val_rmse"], m["val_rmse_without_gp"]]).all()
    assert len(card["inputs"]["histogram_edges"]) == 9 and len(card["inputs"]["histogram_edges"][0]) == 33


def test_exclude_group_drops_its_bands_for_a_baseline(ds, tmp_path):
    best = train_yield(_cfg("mlp", exclude_group="SOIL", epochs=1), ds, tmp_path, progress=False)
    _, card, _ = load_checkpoint(best)
    assert not set(card["normalisation"]["bands"]) & set(group_bands("SOIL"))
    assert card["model_config"]["in_features"] == 7 * 6
    assert np.isfinite(evaluate_yield(best, ds)["rmse"])


def test_ridge_trains_through_train_yield_and_records_what_applied(ds, tmp_path):
    best = train_yield(_cfg("ridge", exclude_group="PPT"), ds, tmp_path, progress=False)
    _, card, _ = load_checkpoint(best)
    assert card["kind"] == "ridge" and card["bands"] == [b for b in card["bands"] if b != "ppt"] and "ppt" not in card["bands"]
    assert card["applies"] == ["model", "test_year", "n_train_years", "exclude_group", "trend", "calibration"]
    assert card["train_config"]["epochs"] == 2  # given, and ignored
    result = evaluate_yield(best, ds)
    assert result["rmse"] == pytest.approx(card["metrics"]["test_rmse"], rel=1e-9)


def test_a_baseline_run_reports_progress_and_keeps_the_run_folder_rules(ds, tmp_path):
    monitor = Recorder()
    train_yield(_cfg("c3d", epochs=1), ds, tmp_path, progress=False, monitor=monitor)
    kinds = [e["event"] for e in monitor.events]
    assert kinds[0] == "start" and "step" in kinds and "epoch" in kinds and kinds[-1] == "end"
    with pytest.raises(InputError, match="holds"):
        train_yield(_cfg("c3d", epochs=1), ds, tmp_path, progress=False)  # another run is there: force needed
    assert train_yield(_cfg("c3d", epochs=1), ds, tmp_path, progress=False, force=True) == tmp_path / "best"
    with pytest.raises(InputError, match="trains in one go"):
        train_yield(_cfg("rf", epochs=1), ds, tmp_path / "rf", progress=False, resume=True)


class StopAfter(Recorder):
    """Asks to stop once ``steps`` training steps have run (as a cancelled job or a killed runner)."""

    def __init__(self, steps: int) -> None:
        super().__init__()
        self.steps = steps

    def stop_requested(self) -> bool:
        return sum(e["event"] == "step" for e in self.events) >= self.steps


@pytest.mark.parametrize("name", ["cnn-gp", "c3d"])
def test_an_interrupted_baseline_run_resumes_where_it_stopped(ds, tmp_path, name):
    from geoapp.training.monitor import TrainingCancelled

    cfg = _cfg(name, epochs=3)  # 64 examples, batch 16: 4 steps an epoch
    whole = train_yield(cfg, ds, tmp_path / "whole", progress=False)
    with pytest.raises(TrainingCancelled, match="cancelled in epoch 2"):
        train_yield(cfg, ds, tmp_path / "cut", progress=False, monitor=StopAfter(5))
    assert [r["epoch"] for r in read_metrics(tmp_path / "cut" / "metrics.jsonl")] == [1]
    with pytest.raises(InputError, match=r"train_config\.lr"):  # another setting: refused, nothing lost
        train_yield(_cfg(name, epochs=3, lr=0.01), ds, tmp_path / "cut", progress=False, resume=True)
    monitor = Recorder()
    resumed = train_yield(cfg, ds, tmp_path / "cut", progress=False, resume=True, monitor=monitor)
    assert monitor.events[0]["start_epoch"] == 1 and [e["epoch"] for e in monitor.events if e["event"] == "step"][0] == 2
    cut, full = read_metrics(tmp_path / "cut" / "metrics.jsonl"), read_metrics(tmp_path / "whole" / "metrics.jsonl")
    assert [r["epoch"] for r in cut] == [1, 2, 3]
    card = load_checkpoint(resumed)[1]
    assert np.isfinite(card["metrics"]["test_rmse"]) and card["epoch"] in (1, 2, 3)
    # the same examples and dropout draws per epoch: the resumed run is the uninterrupted one (GP included)
    np.testing.assert_allclose([r["val_rmse"] for r in cut], [r["val_rmse"] for r in full], rtol=1e-5)
    assert card["metrics"]["test_rmse"] == pytest.approx(load_checkpoint(whole)[1]["metrics"]["test_rmse"], rel=1e-5)
    assert (card["gp"] is not None) == (name == "cnn-gp")


def test_resuming_a_finished_gp_run_fits_the_same_gp_again(ds, tmp_path):
    """A run cut after its GP was saved: the network comes back out of best/ and the GP is fitted again."""
    cfg = _cfg("lstm-gp", epochs=2)
    best = train_yield(cfg, ds, tmp_path, progress=False)
    before = load_checkpoint(best)[1]["metrics"]
    monitor = Recorder()
    train_yield(cfg, ds, tmp_path, progress=False, resume=True, monitor=monitor)
    assert not [e for e in monitor.events if e["event"] == "step"]  # no epoch left to train
    after = load_checkpoint(best)[1]
    assert after["gp"] is not None and after["metrics"]["test_rmse"] == pytest.approx(before["test_rmse"], rel=1e-6)
    assert after["metrics"]["test_rmse_without_gp"] == pytest.approx(before["test_rmse_without_gp"], rel=1e-9)


def test_a_damaged_baseline_card_is_refused(trained, tmp_path):
    import shutil

    folder = tmp_path / "best"
    shutil.copytree(trained["mlp"], folder)
    card = json.loads((folder / "card.json").read_text())
    card["model_config"]["hidden"] = [3]
    (folder / "card.json").write_text(json.dumps(card))
    with pytest.raises(DataFileError, match="do not fit|does not fit|shape"):
        load_yield_checkpoint(folder)


def test_histograms_are_fractions_over_fixed_edges():
    from geoapp.training.yield_inputs import histograms

    tiles = np.array([-3.0, -0.9, 0.1, 0.4, 0.6, 9.0], dtype=np.float32).reshape(1, 1, 1, 2, 3)
    edges = np.array([[-1.0, 0.0, 0.5, 1.0]])  # 3 bins; values outside fall into the end bins
    np.testing.assert_allclose(histograms(tiles, edges)[0, 0, 0], [2 / 6, 2 / 6, 2 / 6])
    with pytest.raises(InputError, match="one row per band"):
        histograms(tiles, np.zeros((2, 4)))


def test_a_baseline_card_of_another_model_is_refused(trained, tmp_path):
    import shutil

    folder = tmp_path / "best"
    shutil.copytree(trained["rf"], folder)
    card = json.loads((folder / "card.json").read_text())
    card["model"] = "semi-ha"
    (folder / "card.json").write_text(json.dumps(card))
    with pytest.raises(DataFileError, match="unknown model 'semi-ha' for a yield-baseline checkpoint"):
        load_yield_checkpoint(folder)


def test_the_gp_is_fitted_on_a_seeded_subsample_of_a_large_training_set(ds, tmp_path, monkeypatch):
    import geoapp.training.network_trainer as trainer

    monkeypatch.setattr(trainer, "GP_MAX_EXAMPLES", 40)  # the tiny run has 64 training examples
    with pytest.warns(UserWarning, match="fitted on 40 of the 64 training examples"):
        best = train_yield(_cfg("cnn-gp", epochs=1), ds, tmp_path, progress=False)
    weights, card, _ = load_checkpoint(best)
    assert card["gp"]["n_train"] == 40 and card["gp"]["training_examples"] == 64
    assert weights["gp.alpha"].shape == (40,)
    assert np.isfinite(evaluate_yield(best, ds)["rmse"])


def test_a_resumed_gp_run_takes_this_runs_calibration_and_a_lost_best_is_handled(ds, tmp_path):
    """Resume with calibration none: the GP refitted, the earlier calibration removed, the model's own scores back."""
    import shutil

    from geoapp.training.resume import CannotResumeError

    cfg = _cfg("lstm-gp", epochs=2, calibration="trend")
    best = train_yield(cfg, ds, tmp_path, progress=False)
    before = load_checkpoint(best)[1]
    own = before["calibration"]["uncalibrated_metrics"]
    train_yield(_cfg("lstm-gp", epochs=2), ds, tmp_path, progress=False, resume=True)
    after = load_checkpoint(best)[1]
    assert "calibration" not in after and after["train_config"]["calibration"] == "none"
    assert after["metrics"]["test_rmse"] == pytest.approx(own["test_rmse"], rel=1e-6)
    assert after["metrics"]["test_rmse_without_gp"] == pytest.approx(before["metrics"]["test_rmse_without_gp"], rel=1e-9)
    # a card whose GP entry lacks the network's own scores: a clear error (the runner then starts anew), not a KeyError
    card = json.loads((best / "card.json").read_text())
    del card["metrics"]["test_rmse_without_gp"]
    (best / "card.json").write_text(json.dumps(card))
    with pytest.raises(CannotResumeError, match="lacks the network's own scores"):
        train_yield(_cfg("lstm-gp", epochs=2), ds, tmp_path, progress=False, resume=True)
    # best/ lost with nothing left to train: says so; with more epochs the next epoch becomes the best
    shutil.rmtree(best)
    with pytest.raises(CannotResumeError, match="is missing and the interrupted run has no epoch left to train"):
        train_yield(_cfg("lstm-gp", epochs=2), ds, tmp_path, progress=False, resume=True)
    again = train_yield(_cfg("lstm-gp", epochs=3), ds, tmp_path, progress=False, resume=True)
    assert load_checkpoint(again)[1]["epoch"] == 3 and [r["epoch"] for r in read_metrics(tmp_path / "metrics.jsonl")] == [1, 2, 3]


def test_ridge_reads_a_missing_feature_as_its_training_mean():
    from geoapp.models.ridge import fit_ridge
    from geoapp.training.ridge_trainer import fill_missing

    rng = np.random.default_rng(0)
    x = rng.normal(size=(40, 3))
    y = x @ np.array([1.0, -2.0, 0.5]) + 100.0
    model, _ = fit_ridge(x[:30], y[:30], x[30:], y[30:])
    gap = x[30:].copy()
    gap[:, 1] = np.nan  # a band without data that month
    filled = x[30:].copy()
    filled[:, 1] = x[:30, 1].mean()
    with torch.no_grad():
        assert np.allclose(model(torch.from_numpy(gap)).numpy(), model(torch.from_numpy(filled)).numpy())
    train = x[:30].copy()
    train[0, 0], train[:, 2] = np.nan, np.nan  # one value missing; a column without any data in the training years
    out = fill_missing(np.array([[np.nan, 1.0, np.nan]]), train)
    assert out[0, 0] == pytest.approx(np.nanmean(train[:, 0])) and out[0, 1] == 1.0 and out[0, 2] == 0.0


def test_ridge_trains_and_predicts_with_a_band_missing_in_a_training_and_the_test_year(ds, tmp_path, monkeypatch):
    import geoapp.training.ridge_trainer as ridge_trainer
    from geoapp.data.bands import BANDS
    from geoapp.data.tiles import anchor_tile_means

    means = anchor_tile_means(ds).copy()  # (Y, counties, T, C)
    means[ds.years.index(2013), :, 0, BANDS.index("evi")] = np.nan  # a month of EVI missing everywhere
    means[ds.years.index(2016), :, 2, BANDS.index("lst_night")] = np.nan
    monkeypatch.setattr(ridge_trainer, "anchor_tile_means", lambda _ds: means)
    best = train_yield(_cfg("ridge"), ds, tmp_path, progress=False)
    _, card, _ = load_checkpoint(best)
    result = evaluate_yield(best, ds)
    assert np.isfinite(result["rmse"]) and result["rmse"] == pytest.approx(card["metrics"]["test_rmse"], rel=1e-9)
