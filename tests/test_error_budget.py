"""The simulation's per-county yield terms and the error budget of a checkpoint against them."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pandas as pd
import pytest

from geoapp.analysis.error_budget import BUDGET_TERMS, _missed, budget_markdown, error_budget
from geoapp.data.dataset import load_dataset
from geoapp.data.simulate import TERM_COLUMNS, county_terms
from geoapp.errors import InputError
from tests.conftest import TINY

TEST_YEAR = 2016


@pytest.fixture(scope="module")
def ds(tiny_dataset_path):
    dataset = load_dataset(tiny_dataset_path)
    yield dataset
    dataset.close()


@pytest.fixture(scope="module")
def terms():
    return county_terms(TINY, [TEST_YEAR - 1, TEST_YEAR])


@pytest.fixture(scope="module")
def ridge(ds, tmp_path_factory):
    from geoapp.training.yield_trainer import YieldTrainConfig, train_yield

    cfg = YieldTrainConfig(model="ridge", test_year=TEST_YEAR, n_train_years=3, device="cpu")
    return train_yield(cfg, ds, tmp_path_factory.mktemp("ridge"), progress=False)


def test_county_terms_add_up_to_the_datasets_yields(ds, terms):
    assert set(terms["year"]) == {TEST_YEAR - 1, TEST_YEAR} and len(terms) == 2 * len(ds.counties)
    np.testing.assert_allclose(terms[list(TERM_COLUMNS[:-1])].sum(axis=1), terms["expected"], atol=1e-9)
    np.testing.assert_allclose(terms["expected"] + terms["noise"], terms["yield"], atol=1e-9)
    saved = ds.yields.assign(geoid=lambda d: d["geoid"].astype(str)).merge(terms, on=["geoid", "year"], suffixes=("", "_sim"))
    assert len(saved) == len(terms)
    assert (saved["labelled"] == saved["labelled_sim"]).all()
    np.testing.assert_allclose(saved["expected"], saved["expected_sim"], atol=1e-3)  # the tables keep 3 decimals
    lab = saved[saved["labelled"]]
    np.testing.assert_allclose(lab["yield"], lab["yield_sim"], atol=1e-3)
    assert (terms.groupby("year")["trend"].nunique() == 1).all()  # one number per year
    assert terms["water"].le(0).all() and terms["heat"].le(0).all() and terms["potential"].gt(0).all()


def test_county_terms_refuse_years_outside_the_simulation():
    with pytest.raises(InputError, match=r"expected years in 2012-2016"):
        county_terms(TINY, [2011, 2016])
    with pytest.raises(InputError, match="years"):
        county_terms(TINY, [])


def test_missed_share_is_the_slope_of_the_error_on_the_term():
    term = np.array([1.0, 2.0, 4.0, 7.0])
    error = -0.4 * (term - term.mean()) + 3.0  # ignores 40% of the term's variation, plus a bias
    assert _missed(error, term) == pytest.approx(0.4)
    assert _missed(-error, term) == pytest.approx(-0.4)  # overreacting
    assert _missed(error, np.full(4, 5.0)) is None  # no variation to miss


def test_budget_of_a_prediction_that_ignores_part_of_the_water_term(ds, ridge, terms, monkeypatch):
    """A prediction built from the truth with half the water term left out: its budget says so."""
    import geoapp.training.yield_trainer as trainer

    year = terms[(terms["year"] == TEST_YEAR) & terms["labelled"]]
    water = year["water"].to_numpy()
    predicted = year["expected"].to_numpy() - 0.5 * (water - water.mean()) + 1.0
    table = pd.DataFrame({"geoid": year["geoid"], "year": TEST_YEAR, "true": year["yield"].round(3), "predicted": predicted})
    rmse = float(np.sqrt(np.mean((table["predicted"] - table["true"]) ** 2)))
    fake = {"model": "ridge", "year": TEST_YEAR, "n": len(table), "rmse": rmse, "r2": 0.0, "table": table}
    monkeypatch.setattr(trainer, "evaluate_yield", lambda *a, **k: fake)
    b = error_budget(ridge, ds, calibrated=False)
    shares = {r["term"]: r["missed"] for r in b["terms"]}
    assert shares["water"] == pytest.approx(0.5) and [r["term"] for r in b["terms"]] == list(BUDGET_TERMS)
    assert b["bias"] == pytest.approx(1.0)
    error = predicted - year["expected"].to_numpy()
    assert b["rmse_vs_expected"] == pytest.approx(float(np.sqrt(np.mean(error**2))))
    assert b["floor"] == pytest.approx(float(np.sqrt(np.mean(year["noise"] ** 2))))
    assert b["target"] == pytest.approx(1.3 * b["floor"]) and b["allowed_vs_expected"] == pytest.approx(
        np.sqrt(0.69) * b["floor"]
    )
    assert b["joint_r2"] == pytest.approx(1.0)  # the error is a linear function of one term
    assert b["calibrated"] is False and b["n"] == len(table)


def test_budget_of_a_trained_checkpoint_and_the_command(ds, ridge, tiny_dataset_path, capsys):
    from geoapp.cli import main
    from geoapp.training.yield_trainer import evaluate_yield

    b = error_budget(ridge, ds)
    scored = evaluate_yield(ridge, ds)
    assert b["rmse"] == pytest.approx(scored["rmse"]) and b["year"] == TEST_YEAR and b["model"] == "ridge"
    assert b["rmse_vs_expected"] ** 2 == pytest.approx(b["rmse"] ** 2 - b["floor"] ** 2, abs=0.5 * b["rmse"] ** 2)
    assert all(r["missed"] is None or np.isfinite(r["missed"]) for r in b["terms"])
    text = budget_markdown([b])
    assert b["calibrated"] is False  # asked for, but the checkpoint has no calibration
    assert f"| {TEST_YEAR} | no | {b['n']} | {b['rmse']:.3f} |" in text and "water (sd)" in text
    assert main(["bench", "error-budget", "--checkpoint", str(ridge), "--dataset", str(tiny_dataset_path), "--json"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed[0]["rmse"] == pytest.approx(b["rmse"])


def test_budget_refuses_real_data_and_a_changed_dataset(ds, ridge, real_dataset_path, capsys):
    from geoapp.cli import main

    assert main(["bench", "error-budget", "--checkpoint", str(ridge), "--dataset", str(real_dataset_path)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and "not a simulated dataset" in err and len(err.splitlines()) == 1
    real = load_dataset(real_dataset_path)
    try:
        with pytest.raises(InputError, match="not a simulated dataset"):
            error_budget(ridge, real)
    finally:
        real.close()
    yields = ds.yields.copy()
    yields.loc[yields["year"] == TEST_YEAR, "yield"] += 2.0
    with pytest.raises(InputError, match="differ from a re-run of its simulation"):
        error_budget(ridge, dataclasses.replace(ds, yields=yields))
