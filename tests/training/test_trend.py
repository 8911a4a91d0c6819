"""The linear yield trend: fitted on the training years only, removed from the labels, kept in the card."""

from __future__ import annotations

import numpy as np
import pytest

from geoapp.data.dataset import load_dataset
from geoapp.errors import DataFileError, InputError
from geoapp.training.trend import YieldTrend, detrended, fit_trend, from_card


@pytest.fixture(scope="module")
def ds(tiny_dataset_path):
    dataset = load_dataset(tiny_dataset_path)
    yield dataset
    dataset.close()


def test_the_trend_is_the_least_squares_line_of_the_training_years(ds):
    trend = fit_trend(ds, [2012, 2013, 2014])
    lab = ds.labelled()
    lab = lab[lab["year"].isin([2012, 2013, 2014])]
    t, y = lab["year"].to_numpy(float), lab["yield"].to_numpy(float)
    slope = np.sum((t - t.mean()) * (y - y.mean())) / np.sum((t - t.mean()) ** 2)  # the normal equations by hand
    assert trend.slope == pytest.approx(slope)
    assert trend.at(t.mean()) == pytest.approx(y.mean())
    assert trend.fitted_years == (2012, 2013, 2014)
    assert trend.at([2015, 2016])[1] - trend.at([2015, 2016])[0] == pytest.approx(slope)


def test_the_test_year_does_not_change_the_fit(ds):
    a = fit_trend(ds, [2012, 2013, 2014])
    changed = detrended(ds, YieldTrend(0.0, 100.0, 2016.0, (2016,)))  # every label moved by -100
    b = fit_trend(changed, [2012, 2013, 2014])
    assert b.slope == pytest.approx(a.slope) and b.intercept == pytest.approx(a.intercept - 100.0)
    only_2016 = ds.yields.copy()
    only_2016.loc[only_2016["year"] == 2016, "yield"] += 50.0  # the test year's labels do not enter
    import dataclasses

    c = fit_trend(dataclasses.replace(ds, yields=only_2016), [2012, 2013, 2014])
    assert c == a


def test_detrended_labels_are_residuals_and_within_year_spread_is_unchanged(ds):
    trend = fit_trend(ds, [2012, 2013, 2014])
    view = detrended(ds, trend)
    assert view.cube is ds.cube and view.fingerprint == ds.fingerprint
    for year in (2013, 2016):
        raw, res = ds.labelled(year)["yield"], view.labelled(year)["yield"]
        np.testing.assert_allclose(res.to_numpy(), raw.to_numpy() - trend.at(year))
        assert res.std() == pytest.approx(raw.std())  # R^2 within a year is the same on either scale
    assert ds.labelled(2013)["yield"].mean() > 20  # the original dataset is untouched


def test_the_card_entry_round_trips_and_a_damaged_one_is_refused(ds):
    trend = fit_trend(ds, [2012, 2013, 2014])
    assert from_card({"dataset": {"yield_trend": trend.to_card()}}) == trend
    assert from_card({"dataset": {}}) is None and from_card({}) is None
    assert detrended(ds, trend).card["yield_trend"] == trend.to_card()  # what a run's dataset_card copies
    with pytest.raises(DataFileError, match="trend"):
        from_card({"dataset": {"yield_trend": {"kind": "quadratic"}}})
    with pytest.raises(DataFileError, match="not finite"):
        from_card({"dataset": {"yield_trend": {**trend.to_card(), "slope_bu_per_year": float("nan")}}})


def test_one_labelled_year_is_refused(ds):
    with pytest.raises(InputError, match="two"):
        fit_trend(ds, [2013])
    with pytest.raises(InputError):
        detrended(ds, "linear")


@pytest.mark.parametrize("model", ["ridge", "mlp", "s-ha"])
def test_a_run_with_a_linear_trend_keeps_it_in_the_card_and_adds_it_back(ds, tmp_path, model):
    from geoapp.analysis.ablation import what_if_ablation
    from geoapp.training.checkpoint import read_card
    from geoapp.training.model_kinds import load_yield_checkpoint
    from geoapp.training.trend import TrendedPredictor
    from geoapp.training.yield_trainer import YieldTrainConfig, evaluate_yield, train_yield

    base = dict(model=model, test_year=2016, n_train_years=3, epochs=1, batch_size=16, max_train_examples=64, device="cpu")
    best = train_yield(YieldTrainConfig(**base, trend="linear"), ds, tmp_path / "trend", progress=False)
    card = read_card(best)
    assert "trend" in card["applies"] and card["train_config"]["trend"] == "linear"
    trend = from_card(card)
    assert trend == fit_trend(ds, [2012, 2013, 2014])  # fitted on the training years only
    predictor = load_yield_checkpoint(best, ds)
    assert isinstance(predictor, TrendedPredictor)
    inner = predictor.inner.predict(ds, 2016)
    result = evaluate_yield(best, ds)
    np.testing.assert_allclose(result["table"]["predicted"], inner.predicted + trend.at(2016))
    np.testing.assert_allclose(result["table"]["true"], ds.labelled(2016)["yield"].to_numpy())  # scored on true yields
    assert result["rmse"] == pytest.approx(card["metrics"]["test_rmse"], rel=1e-4)  # same score on either scale
    summary, per_county = what_if_ablation(best, ds, 2016)
    np.testing.assert_allclose(per_county["predicted"], result["table"]["predicted"], rtol=1e-5)
    if model == "ridge":  # ridge's own evaluation scores the same predictions, the trend added back
        from geoapp.training.ridge_trainer import evaluate_ridge

        assert evaluate_ridge(best, ds)["rmse"] == pytest.approx(result["rmse"])
    plain = train_yield(YieldTrainConfig(**base), ds, tmp_path / "plain", progress=False)
    assert from_card(read_card(plain)) is None and not isinstance(load_yield_checkpoint(plain, ds), TrendedPredictor)
