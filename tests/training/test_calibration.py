"""Residual calibration: a trend and shrunk county offsets fitted to a model's training-year residuals."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pandas as pd
import pytest

from geoapp.data.dataset import load_dataset
from geoapp.errors import DataFileError, InputError
from geoapp.training.calibration import CalibratedPredictor, Calibration, fit_to_residuals, from_card, shift


@pytest.fixture(scope="module")
def ds(tiny_dataset_path):
    dataset = load_dataset(tiny_dataset_path)
    yield dataset
    dataset.close()


def _synthetic(n_counties=300, years=range(2005, 2013), slope=0.5, county_sd=2.0, noise_sd=3.0, seed=0):
    rng = np.random.default_rng(seed)
    effect = county_sd * rng.standard_normal(n_counties)
    rows = []
    for year in years:
        e = noise_sd * rng.standard_normal(n_counties)
        for c in range(n_counties):
            rows.append((f"{c:05d}", year, 1.0 + slope * (year - 2008.5) + effect[c] + e[c]))
    return pd.DataFrame(rows, columns=["geoid", "year", "residual"]), effect


def test_the_mixed_model_recovers_a_known_trend_and_county_effect():
    residuals, effect = _synthetic()
    cal = fit_to_residuals("county-trend", residuals)
    assert cal.slope == pytest.approx(0.5, abs=0.08)
    assert cal.county_sd == pytest.approx(2.0, abs=0.35)
    assert cal.residual_sd == pytest.approx(3.0, abs=0.15)
    assert cal.shrinkage_years == pytest.approx(cal.residual_sd**2 / cal.county_sd**2)
    offsets = cal.offsets_of([f"{c:05d}" for c in range(len(effect))])
    assert np.corrcoef(offsets, effect)[0, 1] > 0.6
    # Shrinkage: the offsets vary less than the raw county means of the detrended residuals.
    assert offsets.std() < residuals.groupby("geoid")["residual"].mean().std()
    assert cal.fitted_years == tuple(range(2005, 2013))


def test_the_offsets_are_the_shrunk_county_means_by_hand():
    residuals = pd.DataFrame(
        {
            "geoid": ["a", "a", "a", "b", "b", "b", "c", "c"],
            "year": [2001, 2002, 2003, 2001, 2002, 2003, 2001, 2003],
            "residual": [4.0, 5.0, 6.5, -3.0, -2.0, -4.5, 0.5, 1.0],
        }
    )
    cal = fit_to_residuals("county-trend", residuals)
    t, r = residuals["year"].to_numpy(float), residuals["residual"].to_numpy()
    b = np.sum((t - t.mean()) * (r - r.mean())) / np.sum((t - t.mean()) ** 2)
    a = r.mean()
    d = r - a - b * (t - t.mean())
    g = pd.Series(d).groupby(residuals["geoid"])
    n, m = g.count(), g.mean()
    s_e2 = float(((d - g.transform("mean")) ** 2).sum()) / (len(d) - 3)
    s_u2 = m.var(ddof=1) - s_e2 * (1 / n).mean()
    lam = s_e2 / s_u2
    assert cal.slope == pytest.approx(b) and cal.intercept == pytest.approx(a)
    assert cal.shrinkage_years == pytest.approx(lam)
    for geoid in "abc":
        assert cal.offsets[geoid] == pytest.approx(n[geoid] / (n[geoid] + lam) * m[geoid])
    assert cal.offsets_of(["a", "zz"])[1] == 0.0  # a county without training labels gets none


def test_no_county_effect_gives_no_offsets_and_trend_fits_the_line_only():
    residuals, _ = _synthetic(county_sd=0.0, seed=3)
    residuals["residual"] -= residuals.groupby("geoid")["residual"].transform("mean")  # every county mean 0
    cal = fit_to_residuals("county-trend", residuals)
    assert cal.offsets == {} and math.isinf(cal.shrinkage_years) and cal.county_sd == 0.0
    line = fit_to_residuals("trend", _synthetic()[0])
    assert line.kind == "trend" and line.offsets == {} and line.slope == pytest.approx(0.5, abs=0.08)


def test_bad_residuals_and_kinds_are_refused():
    residuals, _ = _synthetic(n_counties=5)
    with pytest.raises(InputError, match="two years"):
        fit_to_residuals("trend", residuals[residuals["year"] == 2005])
    with pytest.raises(InputError, match="finite"):
        fit_to_residuals("trend", residuals.assign(residual=np.nan))
    with pytest.raises(InputError, match="kind"):
        fit_to_residuals("none", residuals)
    with pytest.raises(InputError, match="columns"):
        fit_to_residuals("trend", residuals.drop(columns="year"))


def test_the_card_entry_round_trips_and_a_damaged_one_is_refused():
    cal = fit_to_residuals("county-trend", _synthetic(n_counties=40)[0])
    back = from_card({"calibration": cal.to_card()})
    assert back.kind == cal.kind and back.slope == cal.slope and back.fitted_years == cal.fitted_years
    assert back.offsets == pytest.approx({g: round(v, 4) for g, v in cal.offsets.items()})
    line = fit_to_residuals("trend", _synthetic(n_counties=40)[0])
    assert math.isinf(from_card({"calibration": line.to_card()}).shrinkage_years)  # written as null
    assert from_card({}) is None
    with pytest.raises(DataFileError, match="calibration"):
        from_card({"calibration": {"kind": "quadratic"}})
    with pytest.raises(DataFileError, match="not finite"):
        from_card({"calibration": {**cal.to_card(), "offsets_bu": {"00001": float("inf")}}})


def test_the_shift_is_the_year_trend_plus_each_county_offset(ds):
    geoids = ds.counties["geoid"].astype(str).tolist()
    cal = Calibration("county-trend", 0.5, 1.0, 2010.0, (2009, 2011), offsets={geoids[2]: 3.0})
    np.testing.assert_allclose(shift(cal, ds, np.array([0, 2]), 2012), [2.0, 5.0])
    assert shift(None, ds, np.array([0, 2]), 2012).tolist() == [0.0, 0.0]


@pytest.mark.parametrize("model", ["ridge", "s-ha"])
def test_a_calibrated_run_records_the_fit_and_every_prediction_path_applies_it(ds, tmp_path, model):
    from geoapp.analysis.ablation import what_if_ablation
    from geoapp.training.calibration import fit_calibration
    from geoapp.training.checkpoint import read_card
    from geoapp.training.model_kinds import load_yield_checkpoint
    from geoapp.training.yield_trainer import YieldTrainConfig, calibrate_checkpoint, evaluate_yield, train_yield

    base = dict(model=model, test_year=2016, n_train_years=3, epochs=1, batch_size=16, max_train_examples=64, device="cpu")
    best = train_yield(YieldTrainConfig(**base, calibration="county-trend"), ds, tmp_path / "cal", progress=False)
    card = read_card(best)
    assert "calibration" in card["applies"] and card["train_config"]["calibration"] == "county-trend"
    cal = from_card(card)
    predictor = load_yield_checkpoint(best, ds)
    assert isinstance(predictor, CalibratedPredictor)
    # Fitted on the training years only: the same fit from the uncalibrated model.
    again = fit_calibration("county-trend", predictor.inner, ds, [2012, 2013, 2014], 2015)
    assert cal.fitted_years == (2012, 2013, 2014)
    assert cal.slope == pytest.approx(again.slope) and cal.intercept == pytest.approx(again.intercept)
    inner = predictor.inner.predict(ds, 2016)
    result = evaluate_yield(best, ds)
    np.testing.assert_allclose(result["table"]["predicted"], inner.predicted + shift(cal, ds, inner.county, 2016))
    assert card["metrics"]["test_rmse"] == pytest.approx(result["rmse"], rel=1e-6)  # the card scores what it predicts
    assert card["calibration"]["validation"]["year"] == 2015
    summary, per_county = what_if_ablation(best, ds, 2016)
    np.testing.assert_allclose(per_county["predicted"], result["table"]["predicted"], rtol=1e-5)
    own = card["calibration"]["uncalibrated_metrics"]
    assert calibrate_checkpoint(best, ds, "none") is None  # removed: the model's own scores come back
    plain = read_card(best)
    assert "calibration" not in plain and plain["metrics"]["test_rmse"] == own["test_rmse"]
    assert not isinstance(load_yield_checkpoint(best, ds), CalibratedPredictor)


def test_the_test_year_does_not_change_the_fit(ds, tmp_path):
    from geoapp.training.checkpoint import read_card
    from geoapp.training.yield_trainer import YieldTrainConfig, calibrate_checkpoint, train_yield

    cfg = YieldTrainConfig(model="ridge", test_year=2016, n_train_years=3, device="cpu")
    best = train_yield(cfg, ds, tmp_path / "r", progress=False)
    a = calibrate_checkpoint(best, ds, "county-trend")
    yields = ds.yields.copy()
    yields.loc[yields["year"] == 2016, "yield"] += 40.0
    b = calibrate_checkpoint(best, dataclasses.replace(ds, yields=yields), "county-trend")
    assert a["slope_bu_per_year"] == b["slope_bu_per_year"] and a["offsets_bu"] == b["offsets_bu"]
    assert read_card(best)["calibration"]["kind"] == "county-trend"
    with pytest.raises(InputError, match="calibration"):
        calibrate_checkpoint(best, ds, "quadratic")


@pytest.mark.parametrize("year", [2017, 2018])
def test_the_shipped_calibrated_semi_ha_loc_checkpoints_score_their_cards(year):
    """The shipped location-aware SEMI-HA: calibrated on its training years, and its card scores what it predicts."""
    from geoapp.paths import REPO_ROOT
    from geoapp.training.checkpoint import read_card
    from geoapp.training.yield_trainer import evaluate_yield

    folder = REPO_ROOT / "checkpoints" / "yield" / f"semi-ha-loc-{year}" / "best"
    card = read_card(folder)
    data = REPO_ROOT / "data" / card["dataset"]["name"]
    if not data.is_dir():
        pytest.skip(f"the demo dataset {str(data)!r} is not built here (python -m geoapp data build)")
    cal = from_card(card)
    assert cal.kind == "county-trend" and cal.fitted_years == tuple(card["years"]["train"])
    assert year not in cal.fitted_years and year - 1 not in cal.fitted_years  # neither test nor validation year
    dataset = load_dataset(data)
    try:
        result = evaluate_yield(folder, dataset)
    finally:
        dataset.close()
    assert result["rmse"] == pytest.approx(card["metrics"]["test_rmse"], abs=1e-4)
    assert result["rmse"] < card["calibration"]["uncalibrated_metrics"]["test_rmse"]


def test_damaged_entries_are_refused_with_the_way_out(ds):
    good = fit_to_residuals("county-trend", _synthetic(n_counties=20)[0]).to_card()
    for damage in (
        {"fitted_years": "2012"},  # a string, not a list of years
        {"fitted_years": [2012]},  # one year
        {"kind": "trend"},  # a trend that holds county offsets
        {"county_sd_bu": -1.0},
        {"slope_bu_per_year": 1e12},
        {"offsets_bu": [1.0, 2.0]},
    ):
        with pytest.raises(DataFileError, match="train calibrate"):
            from_card({"calibration": {**good, **damage}})


def test_a_damaged_calibration_can_be_removed_or_fitted_again(ds, tmp_path):
    import json

    from geoapp.training.checkpoint import read_card
    from geoapp.training.model_kinds import load_yield_checkpoint
    from geoapp.training.yield_trainer import YieldTrainConfig, calibrate_checkpoint, evaluate_yield, train_yield

    best = train_yield(YieldTrainConfig(model="ridge", test_year=2016, n_train_years=3), ds, tmp_path / "r", progress=False)
    own = evaluate_yield(best, ds)["rmse"]
    entry = calibrate_checkpoint(best, ds, "county-trend")
    card = read_card(best)
    assert card["train_config"]["calibration"] == "county-trend" and "calibration" in card["applies"]
    assert card["metrics"]["test_rmse"] == pytest.approx(evaluate_yield(best, ds)["rmse"], abs=1e-9)  # what the card stores
    assert evaluate_yield(best, ds, calibrated=False)["rmse"] == pytest.approx(own)
    card["calibration"] = {**entry, "slope_bu_per_year": "steep"}
    (best / "card.json").write_text(json.dumps(card))
    with pytest.raises(DataFileError, match="train calibrate"):
        load_yield_checkpoint(best, ds)
    assert calibrate_checkpoint(best, ds, "county-trend")["kind"] == "county-trend"  # replaced
    card = read_card(best)
    card["calibration"]["fitted_years"] = []
    (best / "card.json").write_text(json.dumps(card))
    assert calibrate_checkpoint(best, ds, "none") is None  # removed
    assert evaluate_yield(best, ds)["rmse"] == pytest.approx(own)
    assert read_card(best)["train_config"]["calibration"] == "none"


def test_one_training_year_cannot_be_calibrated_and_its_runs_keep_their_own_scores(ds, tmp_path, monkeypatch):
    from geoapp.experiments.runner import score_run
    from geoapp.training.yield_trainer import YieldTrainConfig, train_yield

    with pytest.raises(InputError, match="at least two training years"):
        YieldTrainConfig(model="ridge", test_year=2016, n_train_years=1, calibration="trend")
    best = train_yield(YieldTrainConfig(model="ridge", test_year=2016, n_train_years=1), ds, tmp_path / "one", progress=False)
    scores = score_run(best, ds, 2016)
    assert "calibrated" not in scores and scores["rmse"] > 0
