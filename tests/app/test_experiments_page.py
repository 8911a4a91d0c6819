"""The Experiments page under AppTest: tables and figures from a fake results store, filters, the missing
runs, and the button that queues them as training jobs (the job runner patched to record what it starts)."""

from __future__ import annotations

import json
import os

import pytest
from streamlit.testing.v1 import AppTest

from geoapp.data.dataset import load_dataset
from geoapp.experiments.claim import claim_run
from geoapp.experiments.plan import PLANS, plan_from_dict
from geoapp.experiments.store import OK, ResultStore, make_record, runs_root
from geoapp.paths import REPO_ROOT

TIMEOUT = 60
TINY_PLAN = plan_from_dict(
    {
        "name": "tinystudy",
        "description": "a study that fits the tiny dataset",
        "blocks": [
            {"models": ["ridge", "s-ha", "semi-ha"], "test_years": [2015, 2016], "n_train_years": [2], "seeds": [0, 1]},
            {"models": ["s-ha", "semi-ha"], "test_years": [2015, 2016], "n_train_years": [1]},
            {"models": ["semi-ha"], "test_years": [2015, 2016], "n_train_years": [2], "exclude_groups": ["VI"]},
        ],
    }
)
DONE = {"ridge-2015-ny2-seed0", "s-ha-2015-ny2-seed0", "s-ha-2016-ny2-seed0", "s-ha-2015-ny2-seed1", "s-ha-2016-ny2-seed1"}


@pytest.fixture()
def exp_env(app_env, tmp_path, monkeypatch):
    """The tiny dataset, a results store holding five of the tiny plan's runs, and a job runner that records starts."""
    monkeypatch.setenv("GEOAPP_EXPERIMENTS_DIR", str(tmp_path / "experiments"))
    monkeypatch.setenv("GEOAPP_JOBS_DIR", str(tmp_path / "jobs"))
    monkeypatch.setenv("GEOAPP_CHECKPOINT_DIR", str(tmp_path / "checkpoints"))
    monkeypatch.setitem(PLANS, TINY_PLAN.name, TINY_PLAN)
    ds = load_dataset(app_env / "corn_belt_sim_tiny")
    store = ResultStore.for_dataset(ds)
    info = dict(store.dataset)
    for run in TINY_PLAN.runs():
        if run.name in DONE:
            rmse = 6.0 + run.seed * 0.5 + (run.test_year - 2015)
            metrics = {"rmse": rmse, "r2": 0.5, "n": 90, "year": run.test_year}
            if run.model == "s-ha":  # scored with each residual calibration too, and with an error budget
                metrics["calibrated"] = {"trend": {"rmse": rmse - 0.5, "r2": 0.6}, "county-trend": {"rmse": rmse - 1, "r2": 0.7}}
                missed = {"water": 0.2 + 0.1 * run.seed, "excess": 0.1, "heat": 0.0, "potential": -0.1, "effect": 0.7}
                metrics["budget"] = {"rmse_vs_expected": rmse - 2, "bias": 0.0, "joint_r2": 0.5, "missed": missed}
            store.append(make_record(run, dataset=info, status=OK, metrics=metrics, seconds=60.0))
    ds.close()
    started = []
    import geoapp.jobs.runner as runner

    def fake_start(self, spec):
        started.append(spec)
        return f"20260101-000000-00000{len(started)}"

    monkeypatch.setattr(runner.JobRunner, "start", fake_start)
    monkeypatch.setattr(runner.JobRunner, "active_job", lambda self: None)
    monkeypatch.setattr(runner.JobRunner, "status", lambda self, job_id: {"state": "running"})
    keepers = []  # the queue's background keeper is recorded, not started (it would train real jobs)
    import geoapp.app_support.experiments as page_support

    monkeypatch.setattr(page_support, "ensure_keeper", lambda ds: keepers.append(ds.name) or 4242)
    return {"started": started, "store": store, "keepers": keepers}


def _page(**state) -> AppTest:
    at = AppTest.from_file(str(REPO_ROOT / "pages" / "experiments.py"), default_timeout=TIMEOUT)
    for k, v in state.items():
        at.session_state[k] = v
    return at.run()


def _cells(at: AppTest, index: int) -> list[list[str]]:
    return at.dataframe[index].value.astype(str).values.tolist()


def test_tables_figures_and_missing_runs(exp_env):
    at = _page(exp_plan="tinystudy")
    assert not at.exception and not at.error
    assert any("simulated" in c.value.lower() for c in at.caption)  # the page says the data are simulated
    assert any("the checkpoints on the Yield map and Home are separate runs" in c.value for c in at.caption)
    assert any("5 of 18 runs of plan 'tinystudy' have a result" in c.value for c in at.caption)
    rmse = _cells(at, 0)
    assert rmse[1][:4] == ["S-HA", "6.250 ± 0.354 (2)", "7.250 ± 0.354 (2)", "6.750 ± 0.354 (2)"]
    assert rmse[0][1:3] == ["6.000", "missing"]  # ridge: 2015 only
    assert at.selectbox(key="exp_ny").options == ["2", "1"]
    missing = at.dataframe[-1].value
    assert len(missing) == 13 and "ridge-2016-ny2-seed0" in set(missing["name"])
    assert any("Missing runs (13 of 18)" in s.value for s in at.subheader)
    # 5 missing runs of timed models (ridge, S-HA: a minute each), 8 of SEMI-HA (no timed run yet)
    assert any(c.value.startswith("About 0.1 h of one runner") and "(8 runs of models not timed" in c.value for c in at.caption)


def test_the_results_download_as_csv_labelled_simulated(exp_env, monkeypatch):
    import io

    import pandas as pd
    import streamlit

    offered = []
    original = streamlit.download_button

    def recording(label, data=None, file_name=None, **kw):
        offered.append((label, data, file_name))
        return original(label, data=data, file_name=file_name, **kw)

    monkeypatch.setattr(streamlit, "download_button", recording)
    at = _page(exp_plan="tinystudy")
    assert not at.exception and not at.error
    [button] = [b for b in at.get("download_button") if b.proto.label.startswith("Results of plan")]
    assert button.proto.label == "Results of plan 'tinystudy' (CSV, 5 runs)" and button.proto.disabled is False
    [(_, data, file_name)] = [o for o in offered if o[0].startswith("Results of plan")]
    table = pd.read_csv(io.StringIO(data))
    assert file_name == "corn_belt_sim_tiny-tinystudy-results.csv" and len(table) == 5
    assert set(table["data"]) == {"SIMULATED"} and set(table["name"]) == DONE


def test_the_error_budget_heatmap_of_the_models_with_one(exp_env):
    at = _page(exp_plan="tinystudy")
    assert not at.exception and not at.error
    heat = next(
        json.loads(c.proto.spec)
        for c in at.get("plotly_chart")
        if "missed" in json.loads(c.proto.spec)["layout"]["title"]["text"]
    )
    assert heat["layout"]["title"]["text"].endswith("(simulated)")
    trace = heat["data"][0]
    assert trace["y"] == ["S-HA"] and trace["x"] == ["potential", "water", "heat", "excess", "effect"]  # only s-ha has budgets
    assert trace["text"][0] == ["-0.10", "+0.25", "+0.00", "+0.10", "+0.70"]  # water: seeds 0 and 1, 0.2 and 0.3
    at.radio(key="exp_scores").set_value("county_trend").run()  # the budget is of the models' own predictions
    assert not at.exception and any(
        "missed" in json.loads(c.proto.spec)["layout"]["title"]["text"] for c in at.get("plotly_chart")
    )
    assert any("What the models miss" in m.value for m in at.markdown)


def test_the_scores_switch_to_a_residual_calibration(exp_env):
    at = _page(exp_plan="tinystudy")
    assert at.radio(key="exp_scores").value == "own"
    at.radio(key="exp_scores").set_value("county_trend").run()
    assert not at.exception and not at.error
    rmse = _cells(at, 0)
    assert rmse[1][:4] == ["S-HA", "5.250 ± 0.354 (2)", "6.250 ± 0.354 (2)", "5.750 ± 0.354 (2)"]  # 1.0 lower
    assert rmse[0][1:3] == ["missing", "missing"]  # ridge's run has no calibrated score


def test_filters_narrow_the_tables(exp_env):
    at = _page(exp_plan="tinystudy")
    at.multiselect(key="exp_models").set_value(["s-ha"]).run()
    at.multiselect(key="exp_years").set_value([2016]).run()
    assert not at.exception and not at.error
    assert _cells(at, 0) == [["S-HA", "7.250 ± 0.354 (2)", "7.250 ± 0.354 (2)"]]
    assert set(at.dataframe[-1].value["name"]) == {"s-ha-2016-ny1-seed0"}
    at.selectbox(key="exp_ny").set_value(1).run()
    assert _cells(at, 0) == [["S-HA", "missing", "missing"]]


def test_queue_button_submits_the_missing_runs_as_jobs(exp_env):
    at = _page(exp_plan="tinystudy")
    [button] = [b for b in at.button if b.key == "exp_queue"]
    at = button.click().run()
    assert not at.exception and not at.error
    started = exp_env["started"]
    assert len(started) == 1 and started[0].kind == "yield" and started[0].name == "exp-ridge-2016-ny2-seed0"
    assert started[0].config["test_year"] == 2016 and started[0].config["n_train_years"] == 2
    assert started[0].trainer_config().device == "auto"  # the GPU when there is one
    assert any("Queued 13 runs" in s.value for s in at.success)
    queue = json.loads(
        (exp_env["store"].path.parents[2] / "data" / "experiments" / "corn_belt_sim_tiny" / "queue.json").read_text()
    )
    assert len(queue["entries"]) == 13 and queue["entries"][0]["job_id"] == "20260101-000000-000001"
    assert any(s.value == "Queue" for s in at.subheader)
    assert exp_env["keepers"] and set(exp_env["keepers"]) == {"corn_belt_sim_tiny"}  # the queue moves on unwatched
    assert any("process 4242" in c.value for c in at.caption)


def test_a_run_a_background_runner_trains_is_shown_and_not_queued(exp_env):
    with claim_run(runs_root("corn_belt_sim_tiny"), "ridge-2016-ny2-seed0"):
        at = _page(exp_plan="tinystudy")
        assert not at.exception and not at.error
        missing = at.dataframe[-1].value.set_index("name")
        assert missing.loc["ridge-2016-ny2-seed0", "status"].startswith(f"training (pid {os.getpid()} on ")
        assert any("Missing runs (13 of 18; 1 training now)" in s.value for s in at.subheader)
        [button] = [b for b in at.button if b.key == "exp_queue"]
        assert button.label == "Queue 12 missing runs as training jobs"
        at = button.click().run()
    assert not at.exception and not at.error
    assert exp_env["started"][0].name == "exp-ridge-2015-ny2-seed1"  # the first run no runner holds
    assert any("Queued 12 runs" in s.value for s in at.success)
    queue = (exp_env["store"].path.parents[2] / "data" / "experiments" / "corn_belt_sim_tiny" / "queue.json").read_text()
    assert len(json.loads(queue)["entries"]) == 12 and "ridge-2016-ny2-seed0" not in queue


def test_store_of_another_dataset_shows_an_error_box(exp_env):
    path = exp_env["store"].path
    line = json.loads(path.read_text().splitlines()[0])
    line["dataset"]["fingerprint"] = "another-build"
    path.write_text(json.dumps(line) + "\n")
    at = _page(exp_plan="tinystudy")
    assert not at.exception
    assert any("holds results of another dataset" in e.value for e in at.error)


def test_damaged_line_is_a_warning_and_the_rest_shows(exp_env):
    with open(exp_env["store"].path, "a") as f:
        f.write('{"key": {"model"')
    at = _page(exp_plan="tinystudy")
    assert not at.exception and not at.error
    assert any("line 6 skipped" in w.value for w in at.warning)
    assert any("5 of 18 runs" in c.value for c in at.caption)


def test_the_context_plan_shows_one_row_per_alpha_and_the_alpha_the_validation_year_chooses(exp_env, monkeypatch):
    from geoapp.experiments.plan import Plan

    blocks = plan_from_dict(
        {
            "name": "x",
            "blocks": [
                {"models": ["s-ha", "semi-ha"], "test_years": [2015, 2016], "n_train_years": [2]},
                *(
                    {
                        "models": ["semi-ha"],
                        "test_years": [2015, 2016],
                        "n_train_years": [2],
                        "overrides": {"model_overrides": {"alpha": a}},
                    }
                    for a in (0.05, 0.1)
                ),
            ],
        }
    ).blocks
    context = Plan("context", "SEMI-HA's context-loss weight on the tiny data", blocks)
    monkeypatch.setitem(PLANS, "context", context)
    info = dict(exp_env["store"].dataset)
    for run in context.runs():
        if run.name in DONE:
            continue  # S-HA's seed 0 is in the store already, without validation scores
        alpha = run.overrides.get("model_overrides", {}).get("alpha", 0.2)
        metrics = {"rmse": 5.0 + 10 * alpha, "r2": 0.5, "n": 90, "year": run.test_year}
        metrics["validation"] = {"rmse": 6.0 - 10 * alpha, "r2": 0.4, "n": 90, "year": run.test_year - 1}
        exp_env["store"].append(make_record(run, dataset=info, status=OK, metrics=metrics, seconds=60.0))
    at = _page(exp_plan="context")
    assert not at.exception and not at.error
    assert any("context-loss weight alpha (Eq. 2), N_y = 2, seed 0** (SIMULATED data)" in m.value for m in at.markdown)
    rows = _cells(at, 0)
    assert [r[0] for r in rows] == [
        "S-HA (alpha = 0, no context tiles)",
        "SEMI-HA, alpha = 0.05",
        "SEMI-HA, alpha = 0.1",
        "SEMI-HA, alpha = 0.2",
        "SEMI-HA, alpha chosen on the validation year",
    ]
    assert rows[1][1:5] == ["5.500", "5.500", "5.500", "5.500"] and rows[0][4] == "—"  # S-HA: no validation score
    assert rows[-1][1:4] == ["7.000 (alpha 0.2)", "7.000 (alpha 0.2)", "7.000"]  # the best on validation
    assert not any("No choice yet" in c.value for c in at.caption)
    specs = [json.loads(c.proto.spec) for c in at.get("plotly_chart")]
    alpha = next(s for s in specs if "against alpha" in s["layout"]["title"]["text"])
    assert [t["name"] for t in alpha["data"]] == ["test years", "validation years"]
    assert alpha["data"][0]["x"] == [0.0, 0.05, 0.1, 0.2] and alpha["data"][1]["y"][1:] == [5.5, 5.0, 4.0]
    run = next(r for r in context.runs() if r.overrides and r.test_year == 2015)  # alpha 0.05: a newer line, unscored
    exp_env["store"].append(make_record(run, dataset=info, status=OK, metrics={"rmse": 5.5, "r2": 0.5, "n": 90}))
    at.run()
    assert _cells(at, 0)[-1][1] == "—"
    assert any("No choice yet where an alpha lacks a run or a validation score (2015: alpha 0.05)" in c.value for c in at.caption)


def test_a_model_with_several_settings_gets_a_row_each_and_its_missing_runs_follow_the_filter(exp_env, monkeypatch):
    plan = plan_from_dict(
        {
            "name": "twosettings",
            "blocks": [
                {"models": ["s-ha"], "test_years": [2015, 2016], "n_train_years": [2]},
                {"models": ["s-ha"], "test_years": [2015, 2016], "n_train_years": [2], "overrides": {"epochs": 3}},
            ],
        }
    )
    monkeypatch.setitem(PLANS, plan.name, plan)
    info = dict(exp_env["store"].dataset)
    for run in plan.runs():
        if run.overrides and run.test_year == 2015:
            metrics = {"rmse": 9.0, "r2": 0.1, "n": 90, "year": run.test_year}
            exp_env["store"].append(make_record(run, dataset=info, status=OK, metrics=metrics, seconds=60.0))
    at = _page(exp_plan="tinystudy")
    at.multiselect(key="exp_models").set_value(["s-ha"]).run()  # narrowed on another plan first
    at.selectbox(key="exp_plan").set_value("twosettings").run()
    assert not at.exception and not at.error
    assert at.multiselect(key="exp_models").options == ["s-ha (defaults)", "s-ha (epochs=3)"]
    assert at.multiselect(key="exp_models").value == ["s-ha (defaults)", "s-ha (epochs=3)"]  # a new plan: all chosen

    assert [s.value for s in at.subheader if "Missing" in s.value] == ["Missing runs (1 of 4)"]
    rmse = _cells(at, 0)  # the store's seed-0 S-HA runs (6.0, 7.0) are the defaults' row; epochs=3 is its own
    assert rmse[0][:4] == ["s-ha (defaults)", "6.000", "7.000", "6.500"]
    assert rmse[1][:3] == ["s-ha (epochs=3)", "9.000", "missing"]
    at.multiselect(key="exp_models").set_value(["s-ha (epochs=3)"]).run()
    assert not at.exception and not at.error
    assert list(at.dataframe[-1].value["name"]) == ["s-ha-2016-ny2-seed0-o66f49d"]  # that setting's one missing run
    assert any("Missing runs (1 of 4)" in s.value for s in at.subheader)


def test_the_model_a_user_would_ship_is_the_one_chosen_on_the_validation_year(exp_env):
    info = dict(exp_env["store"].dataset)
    for run in TINY_PLAN.runs():  # a second line for two runs: the same scores with validation scores
        if run.name in ("s-ha-2016-ny2-seed0", "s-ha-2016-ny2-seed1"):
            rmse = 6.0 + run.seed * 0.5 + 1
            val = {"rmse": 5.0 - run.seed, "r2": 0.5, "n": 90, "year": 2015}  # seed 1 wins on validation
            metrics = {"rmse": rmse, "r2": 0.5, "n": 90, "year": run.test_year, "validation": val}
            exp_env["store"].append(make_record(run, dataset=info, status=OK, metrics=metrics, seconds=60.0))
    at = _page(exp_plan="tinystudy")
    assert not at.exception and not at.error
    assert any("The model a user would ship, chosen on the validation year** (N_y = 2" in m.value for m in at.markdown)
    choice = next(d.value for d in at.dataframe if "chosen on validation" in d.value.columns)
    assert choice["chosen on validation"].tolist() == [  # ridge, S-HA and SEMI-HA, seeds 0 and 1: not all scored
        "— (6 of 6 runs lack a result or a validation score)",
        "— (4 of 6 runs lack a result or a validation score)",
    ]
    at.multiselect(key="exp_models").set_value(["s-ha"]).run()
    choice = next(d.value for d in at.dataframe if "chosen on validation" in d.value.columns)
    assert choice.values.tolist() == [
        ["2015", "— (2 of 2 runs lack a result or a validation score)", "", "", ""],
        ["2016", "s-ha-2016-ny2-seed1", "4.000", "7.500", "7.000 (S-HA)"],
    ]


def _store_results(store, runs, rmse_of) -> None:
    """A finished result of each run in ``store``, its test RMSE ``rmse_of(run)``."""
    info = dict(store.dataset)
    for run in runs:
        metrics = {"rmse": rmse_of(run), "r2": 0.5, "n": 90, "year": run.test_year}
        store.append(make_record(run, dataset=info, status=OK, metrics=metrics, seconds=60.0))


def test_the_location_plan_is_shown_beside_semi_ha_and_the_trend_plan_beside_the_runs_without(exp_env):
    for plan, model, rmse in (("seeds", "semi-ha", 6.0), ("location", "semi-ha-loc", 5.0), ("trend", "ridge", 7.0)):
        runs = [r for r in PLANS[plan].runs() if r.model == model]
        _store_results(exp_env["store"], runs, lambda run, rmse=rmse: rmse + 0.5 * run.seed)
    at = _page(exp_plan="location")
    assert not at.exception and not at.error
    text = "\n".join(m.value for m in at.markdown)
    assert "SEMI-HA with the county's location embedding (plan `location`)" in text
    assert "| SEMI-HA (`semi-ha`) | 6.000 | 6.500 | 7.000 | 6.500 ± 0.500 (3) |" in text
    assert "| semi-ha-loc (`semi-ha-loc`) | 5.000 | 5.500 | 6.000 | 5.500 ± 0.500 (3) |" in text
    at.selectbox(key="exp_plan").set_value("trend").run()
    assert not at.exception and not at.error
    text = "\n".join(m.value for m in at.markdown)
    assert "With a yield trend fitted on the training years (plan `trend`)" in text
    assert "| LR (`ridge`) | missing | 7.000 |" in text  # the baselines plan's ridge runs are not in this store


def _filters_script():
    import streamlit as st

    from geoapp.app_support.experiments import filters
    from geoapp.experiments.plan import PLANS

    if st.session_state.get("show", True):  # False: as if another page were shown, the filters not drawn
        st.session_state["chosen"] = filters(PLANS["scarcity"])


def test_the_filters_choose_everything_again_after_another_page_was_shown():
    """Streamlit forgets the values of widgets a run does not draw; the plan's marker alone would leave them empty."""
    at = AppTest.from_function(_filters_script, default_timeout=TIMEOUT).run()
    everything = at.session_state["chosen"]
    assert everything[0] == PLANS["scarcity"].models() and everything[2] == 7
    at.multiselect(key="exp_models").set_value(["c3d"]).run()
    assert at.session_state["chosen"][0] == ["c3d"]  # the user's choice holds while the filters are drawn
    at.session_state["show"] = False
    at.run()  # another page
    at.session_state["show"] = True
    at.run()  # back
    assert not at.exception and at.session_state["chosen"] == everything


def test_a_plan_the_dataset_cannot_hold_says_why_and_offers_nothing_to_queue(exp_env):
    """The tiny dataset holds 2012-2016: plan paper tests on 2017 and 2018 too."""
    at = _page(exp_plan="paper")
    assert not at.exception and not at.error
    [note] = [i.value for i in at.info if "cannot run on this dataset" in i.value]
    assert "Plan 'paper' cannot run on this dataset (2012-2016)" in note and "2017" in note and "--plan-file" in note
    assert not [b for b in at.button if b.key == "exp_queue"]
    assert not any(s.value.startswith("Missing runs") for s in at.subheader)
    at = _page(exp_plan="tinystudy")  # a plan that fits: its missing runs and the queue button as before
    assert not [i for i in at.info if "cannot run on this dataset" in i.value]
    assert [b for b in at.button if b.key == "exp_queue"]


def test_the_augment_plan_is_shown_beside_the_runs_with_the_defaults(exp_env):
    for plan, shift in (("seeds", 0.0), ("augment", -0.5)):
        runs = [r for r in PLANS[plan].runs() if r.model == "s-ha" and (plan == "seeds" or "augment" in r.overrides)]
        _store_results(exp_env["store"], runs, lambda run, shift=shift: 5.0 + shift + 0.2 * run.seed)
    at = _page(exp_plan="augment")
    assert not at.exception and not at.error
    text = "\n".join(m.value for m in at.markdown)
    assert "tiles turned by the symmetries of the square (plan `augment`)" in text
    assert "| S-HA (`s-ha`) | dihedral, patience 10 | 0, 1, 2 | 5.200 ± 0.200 (3) | 4.700 ± 0.200 (3) |" in text
