"""Experiment plans: the named plans' contents, plans from JSON, and checks against the data."""

from __future__ import annotations

import json

import pytest

from geoapp.errors import DataFileError, InputError
from geoapp.experiments.plan import PAPER_MODELS, PLANS, RunSpec, check_plan, get_plan, load_plan_file, plan_from_dict

YEARS = list(range(2003, 2019))


def test_paper_plan_holds_what_the_study_must_ship():
    runs = PLANS["paper"].runs()
    keys = {(r.model, r.test_year, r.n_train_years, r.seed, r.exclude_group) for r in runs}
    for model in PAPER_MODELS:
        assert all((model, y, 10, 0, None) in keys for y in range(2014, 2019))
    for model in ("semi-ha", "s-ha"):
        assert all((model, y, 10, s, None) in keys for y in range(2014, 2019) for s in (0, 1, 2))
    for model in ("semi-ha", "s-ha", "c3d", "cnn-lstm"):
        assert all((model, y, n, 0, None) in keys for y in range(2014, 2019) for n in (7, 4))
    for group in ("VI", "LST", "PPT", "SOIL", "ELE"):
        assert all(("semi-ha", y, 10, 0, group) in keys for y in range(2014, 2019))
    assert len(runs) == len(keys) == 50 + 20 + 40 + 25  # no run twice


def test_run_names_and_keys():
    a = RunSpec("semi-ha", 2016, 10, 0, "VI")
    assert a.name == "semi-ha-2016-ny10-seed0-no-VI"
    b = RunSpec("semi-ha", 2016, 10, 0, "VI", {"epochs": 2})
    assert b.name.startswith(a.name + "-o") and a.key() != b.key()
    assert RunSpec.from_identity(json.loads(b.key())) == b


def test_unknown_plan_name():
    with pytest.raises(InputError, match=r"unknown experiment plan 'papr'.*'paper'"):
        get_plan("papr")


def test_unknown_model_is_named_with_the_known_ones():
    plan = plan_from_dict({"models": ["semi-ha", "xgboost"], "test_years": [2018]})
    with pytest.raises(InputError, match=r"names model\(s\) \['xgboost'\].*it knows \[.*'semi-ha'"):
        check_plan(plan, YEARS)


def test_known_models_are_read_at_run_time(monkeypatch):
    import geoapp.models.yield_models as ym

    plan = plan_from_dict({"models": ["c3d"], "test_years": [2018]})
    monkeypatch.setattr(ym, "MODEL_NAMES", (*ym.MODEL_NAMES, "c3d"))
    assert [r.model for r in check_plan(plan, YEARS)] == ["c3d"]


def test_year_outside_the_data():
    plan = plan_from_dict({"models": ["s-ha"], "test_years": [2018, 2019]})
    with pytest.raises(InputError, match=r"year\(s\) \[2019\] outside the data, which holds 2003..2018"):
        check_plan(plan, YEARS)


def test_n_y_too_large_for_the_data():
    plan = plan_from_dict({"models": ["s-ha"], "test_years": [2014], "n_train_years": [11]})
    with pytest.raises(InputError, match=r"N_y = 11 is too large for test year 2014.*lacks \[2002\]"):
        check_plan(plan, YEARS)


@pytest.mark.parametrize(
    ("values", "match"),
    [
        ({"models": []}, "models must be a non-empty list"),
        ({"models": ["s-ha"], "seed": [1]}, r"unknown key\(s\) \['seed'\]"),
        ({"models": ["s-ha"], "test_years": ["2018x"]}, "test_years"),
        ({"models": ["s-ha"], "exclude_groups": ["NDVI"]}, "exclude_groups must be"),
        ({"models": ["s-ha"], "overrides": {"epochs": 0}}, "epochs must be a positive integer"),
        ({"models": ["s-ha"], "overrides": {"seed": 3}}, r"overrides may not set \['seed'\]"),
        ({"models": ["s-ha"], "overrides": {"epoch": 3}}, "epoch"),
        ({"name": "paper", "models": ["s-ha"]}, "other than the named plans"),
        ({"blocks": [], "name": "x"}, "blocks must be a non-empty list"),
    ],
)
def test_bad_plan_dicts(values, match):
    with pytest.raises(InputError, match=match):
        plan_from_dict(values)


def test_plan_file(tmp_path):
    path = tmp_path / "mine.json"
    path.write_text(json.dumps({"blocks": [{"models": ["s-ha"], "test_years": [2017, 2018], "seeds": [0, 1]}]}))
    plan = load_plan_file(path)
    assert plan.name == "mine" and len(plan.runs()) == 4
    path.write_text("{not json")
    with pytest.raises(DataFileError, match="not valid JSON"):
        load_plan_file(path)
    with pytest.raises(DataFileError, match="cannot read the plan file"):
        load_plan_file(tmp_path / "absent.json")


def test_only_restricts_models():
    # SEMI-HA: three seeds, N_y 7 and 4, five groups left out
    plan = PLANS["paper"].only(["semi-ha"])
    assert {r.model for r in plan.runs()} == {"semi-ha"} and len(plan.runs()) == 15 + 10 + 25
    with pytest.raises(InputError, match=r"has no model\(s\) \['xgb'\]"):
        PLANS["paper"].only(["xgb"])


def test_the_location_plan_is_semi_ha_loc_with_three_seeds_beside_semi_has():
    runs = PLANS["location"].runs()
    keys = {(r.model, r.test_year, r.n_train_years, r.seed, r.exclude_group) for r in runs}
    assert keys == {("semi-ha-loc", y, 10, s, None) for y in range(2014, 2019) for s in (0, 1, 2)}
    assert len(runs) == 15 and all(r.overrides == {} for r in runs)
    assert [r.model for r in check_plan(PLANS["location"], YEARS)] == ["semi-ha-loc"] * 15  # a model geoapp trains
    semi_ha = {(r.test_year, r.seed) for r in PLANS["paper"].runs() if r.model == "semi-ha" and r.exclude_group is None}
    assert {(r.test_year, r.seed) for r in runs} <= semi_ha  # SEMI-HA's same years and seeds are in the paper plan
    assert "semi-ha-loc" not in PLANS["paper"].models()


def test_the_ablation_plan_holds_the_all_inputs_runs_it_is_compared_with():
    runs = PLANS["ablation"].runs()
    keys = {(r.model, r.test_year, r.n_train_years, r.seed, r.exclude_group) for r in runs}
    groups = (None, "VI", "LST", "PPT", "SOIL", "ELE")
    assert keys == {("semi-ha", y, 10, 0, g) for y in range(2014, 2019) for g in groups} and len(runs) == 30
    baselines = {r.key() for r in PLANS["baselines"].runs()}
    assert {r.key() for r in runs if r.exclude_group is None} <= baselines  # shared: never trained twice
