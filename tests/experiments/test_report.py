"""The report from a small fake store: tables (mean +/- sd over seeds), scarcity, ablation, missing runs, the docs file."""

from __future__ import annotations

import io
import json
import math
import os
import socket
import subprocess
import sys

import pandas as pd
import pytest

from geoapp.experiments.claim import claim_run, lock_path
from geoapp.experiments.paper import NOT_COMPARABLE, TABLE_I_RMSE, TABLE_II_R2
from geoapp.experiments.plan import PLANS, RunSpec, plan_from_dict
from geoapp.experiments.report import (
    MARKER,
    ablation_table,
    cell_text,
    improvement_table,
    missing_hours,
    missing_runs,
    results_csv,
    results_frame,
    scarcity_table,
    time_section,
    time_table,
    write_report,
    year_table,
)
from geoapp.experiments.store import FAILED, OK, make_record
from geoapp.training.metrics_log import MetricsLog

DS = {"name": "fake", "fingerprint": "fp", "simulated": True}
YEARS = [2015, 2016]
PLAN = plan_from_dict(
    {
        "name": "small",
        "description": "a small study",
        "blocks": [
            {"models": ["ridge", "s-ha", "semi-ha"], "test_years": YEARS},
            {"models": ["s-ha", "semi-ha"], "test_years": YEARS, "seeds": [0, 1]},
            {"models": ["s-ha", "semi-ha"], "test_years": YEARS, "n_train_years": [4]},
            {"models": ["semi-ha"], "test_years": YEARS, "exclude_groups": ["VI", "PPT"]},
        ],
    }
)


def _rmse(run: RunSpec) -> float:
    base = {"ridge": 8.0, "s-ha": 6.0, "semi-ha": 5.0}[run.model]
    return (
        base
        + (run.test_year - 2015)
        + run.seed * 0.5
        + (10 - run.n_train_years) * 0.1
        + (1.0 if run.exclude_group == "VI" else 0.0)
    )


def _records(skip: set[str] = frozenset()) -> list[dict]:
    out = []
    for run in PLAN.runs():
        if run.name in skip:
            continue
        rmse = _rmse(run)
        out.append(
            make_record(run, dataset=DS, status=OK, metrics={"rmse": rmse, "r2": 1 - rmse / 10, "n": 50, "year": run.test_year})
        )
    return out


def test_year_table_mean_and_sd_over_seeds():
    df = results_frame(_records(), PLAN)
    table = year_table(df, "rmse", ["ridge", "s-ha", "semi-ha"], YEARS)
    cell = table.loc["semi-ha", "2015"]
    assert cell["mean"] == pytest.approx(5.25) and cell["n"] == 2 and cell["sd"] == pytest.approx(math.sqrt(0.125))
    mean = table.loc["semi-ha", "Mean"]  # per seed the mean over years: 5.5 and 6.0
    assert mean["mean"] == pytest.approx(5.75) and mean["n"] == 2
    assert table.loc["ridge", "Mean"]["mean"] == pytest.approx(8.5) and table.loc["ridge", "Mean"]["n"] == 1
    assert cell_text(mean) == "5.750 ± 0.354 (2)" and cell_text(table.loc["ridge", "2016"]) == "9.000"


def test_incomplete_years_are_not_averaged():
    df = results_frame(_records(skip={"ridge-2016-ny10-seed0"}), PLAN)
    cell = year_table(df, "rmse", ["ridge"], YEARS).loc["ridge", "Mean"]
    assert math.isnan(cell["mean"]) and cell["years_done"] == 1 and cell_text(cell) == "1 of the years"


def test_scarcity_improvement_and_ablation():
    df = results_frame(_records(), PLAN)
    sc = scarcity_table(df, "rmse", ["s-ha", "semi-ha"], YEARS)
    assert sc.loc["s-ha", "N_y=4"]["mean"] == pytest.approx(6.5 + 0.6)
    assert sc.loc["semi-ha", "N_y=7"]["n"] == 0 and cell_text(sc.loc["semi-ha", "N_y=7"]) == "missing"
    imp = improvement_table(df, YEARS).set_index("N_y")
    assert imp.loc[4, "rmse_%"] == pytest.approx((7.1 - 6.1) / 7.1 * 100) and imp.loc[4, "paper_rmse_%"] == 4.5
    ab = ablation_table(df, YEARS).set_index("group")
    assert ab.loc["ALL", "rmse"] == pytest.approx(5.5) and ab.loc["ALL", "n"] == 1  # seed 0 only, as the ablation runs
    assert ab.loc["VI", "change"] == pytest.approx(1.0) and ab.loc["PPT", "change"] == pytest.approx(0.0)
    assert math.isnan(ab.loc["SOIL", "rmse"])


def test_missing_and_failed_runs_are_listed():
    records = _records(skip={"semi-ha-2016-ny4-seed0", "s-ha-2015-ny10-seed1"})
    records.append(make_record(RunSpec("s-ha", 2015, 10, 1), dataset=DS, status=FAILED, error="RuntimeError: diverged"))
    missing = missing_runs(PLAN, records).set_index("name")
    assert missing.loc["semi-ha-2016-ny4-seed0", "status"] == "missing"
    assert missing.loc["s-ha-2015-ny10-seed1", "status"] == "failed: RuntimeError: diverged"
    assert len(missing) == 2


def test_results_csv_labels_every_row_with_its_dataset_and_kind_of_data():
    df = results_frame(_records(), PLAN)
    table = pd.read_csv(io.StringIO(results_csv(df, DS)))
    assert len(table) == len(df) and list(table.columns[:3]) == ["dataset", "fingerprint", "data"]
    assert set(table["data"]) == {"SIMULATED"} and set(table["dataset"]) == {"fake"}
    assert table["rmse"].to_numpy() == pytest.approx(df["rmse"].to_numpy(), rel=1e-5)
    real = pd.read_csv(io.StringIO(results_csv(df, {**DS, "simulated": False})))
    assert set(real["data"]) == {"real"}
    odd = pd.read_csv(io.StringIO(results_csv(df, {**DS, "name": "=HYPERLINK(1)"})))
    assert set(odd["dataset"]) == {"'=HYPERLINK(1)"}  # a folder name never runs as a spreadsheet formula


def test_time_per_run_and_what_the_missing_runs_would_take():
    records = []
    for run in PLAN.runs():
        if run.name in {"semi-ha-2016-ny4-seed0", "s-ha-2015-ny10-seed1"}:
            continue
        seconds = {"ridge": 6.0, "s-ha": 120.0, "semi-ha": 600.0}[run.model] * (2 if run.test_year == 2016 else 1)
        metrics = {"rmse": 5.0, "r2": 0.5, "n": 50, "year": run.test_year}
        records.append(make_record(run, dataset=DS, status=OK, metrics=metrics, seconds=seconds))
    df = results_frame(records, PLAN)
    table = time_table(df, ["ridge", "s-ha", "semi-ha", "c3d"]).set_index("model")
    assert list(table.index) == ["ridge", "s-ha", "semi-ha"]  # c3d: no timed run
    assert table.loc["ridge", "min"] == pytest.approx(0.1) and table.loc["ridge", "max"] == pytest.approx(0.2)
    semi = df[df["model"] == "semi-ha"]["seconds"] / 60
    assert table.loc["semi-ha", "median"] == pytest.approx(semi.median()) and table.loc["semi-ha", "runs"] == len(semi)
    text = time_section(df, ["ridge", "s-ha", "semi-ha"], missing_runs(PLAN, records))
    assert "| S-HA (`s-ha`) |" in text
    hours = (table.loc["semi-ha", "median"] + table.loc["s-ha", "median"]) / 60
    assert f"The 2 missing runs would take about {hours:.1f} h of one runner at these medians" in text
    assert time_section(results_frame(_records(), PLAN), ["ridge"], missing_runs(PLAN, [])) == ""  # nothing timed
    # a run in training costs what is left of its median, never less than nothing
    missing = missing_runs(PLAN, records)
    assert missing["training_min"].isna().all()  # no runs folder given: nothing is looked up
    semi_median = table.loc["semi-ha", "median"]
    for so_far, left in ((4.0, semi_median - 4.0), (999.0, 0.0)):
        missing.loc[missing["model"] == "semi-ha", "training_min"] = so_far
        assert missing_hours(df, missing) == (pytest.approx((left + table.loc["s-ha", "median"]) / 60), 0)


def test_a_run_a_runner_holds_is_listed_as_training(tmp_path):
    records = _records(skip={"semi-ha-2016-ny4-seed0", "s-ha-2015-ny10-seed1"})
    with claim_run(tmp_path, "semi-ha-2016-ny4-seed0"):
        missing = missing_runs(PLAN, records, tmp_path).set_index("name")
        assert missing.loc["semi-ha-2016-ny4-seed0", "status"].startswith(f"training (pid {os.getpid()} on ")
        assert missing.loc["s-ha-2015-ny10-seed1", "status"] == "missing"
        assert missing_runs(PLAN, records).loc[0, "status"] == "missing"  # without a runs folder: not looked for
        log = MetricsLog(tmp_path / "semi-ha-2016-ny4-seed0" / "metrics.jsonl")
        log.write(epoch=1, val_rmse=6.25, seconds=60.0)
        log.write(epoch=2, val_rmse=6.5, seconds=60.0)
        row = missing_runs(PLAN, records, tmp_path).set_index("name").loc["semi-ha-2016-ny4-seed0"]
        assert row["status"].endswith("; epoch 2 of up to 30, best validation RMSE 6.250)")  # the trainer's default epochs
        assert 0.0 <= row["training_min"] < 1.0  # claimed a moment ago
    ridge = _records(skip={"ridge-2015-ny10-seed0"})
    with claim_run(tmp_path, "ridge-2015-ny10-seed0"):
        MetricsLog(tmp_path / "ridge-2015-ny10-seed0" / "metrics.jsonl").write(epoch=1, val_rmse=7.0, seconds=1.0)
        status = missing_runs(PLAN, ridge, tmp_path).set_index("name").loc["ridge-2015-ny10-seed0", "status"]
        assert status.endswith("; epoch 1 of up to 1, best validation RMSE 7.000)")  # ridge fits in one go
    assert missing_runs(PLAN, records, tmp_path).set_index("name").loc["semi-ha-2016-ny4-seed0", "status"] == "missing"
    # a runner killed before it could clear its lock file: its process is gone, so the run is not training
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True, check=True)
    info = {"pid": int(dead.stdout), "host": socket.gethostname(), "since": "2026-11-30 12:00:00"}
    lock_path(tmp_path, "semi-ha-2016-ny4-seed0").write_text(json.dumps(info))
    assert missing_runs(PLAN, records, tmp_path).set_index("name").loc["semi-ha-2016-ny4-seed0", "status"] == "missing"


def test_write_report_keeps_the_intro_and_writes_tables_and_figures(tmp_path):
    out = tmp_path / "docs" / "experiments.md"
    out.parent.mkdir()
    out.write_text("# My intro\n\nHow to run it.\n\n" + MARKER + "\n\nold generated text\n")
    write_report(PLAN, _records(skip={"ridge-2016-ny10-seed0"}), DS, out, store="experiments/fake/results.jsonl")
    text = out.read_text()
    assert text.startswith("# My intro\n\nHow to run it.\n\n" + MARKER) and "old generated text" not in text
    assert "**These results are on simulated data.**" in text and NOT_COMPARABLE in text
    assert "| S-HA (`s-ha`) | 6.250 ± 0.354 (2) | 7.250 ± 0.354 (2) | 6.750 ± 0.354 (2) | 5.013 |" in text
    assert "| LR (`ridge`) | 8.000 | missing | 1 of the years | 7.362 |" in text
    assert "| paper | 2014 | 2015 | 2016 | 2017 | 2018 | Avg |" in text
    assert f"| SEMI-HA | {' | '.join(f'{v:g}' for v in TABLE_I_RMSE['semi-ha'])} |" in text
    assert f"| SEMI-HA | {' | '.join(f'{v:g}' for v in TABLE_II_R2['semi-ha'])} |" in text
    assert "| without VI | 6.500 | 1.000 |" in text
    assert "### Missing runs (1)" in text and "| `ridge-2016-ny10-seed0` | missing |" in text
    for fig in ("scarcity", "ablation"):
        svg = (tmp_path / "docs" / "images" / f"experiments-small-{fig}.svg").read_text()
        assert svg.startswith("<svg") and "SIMULATED" in svg and f"images/experiments-small-{fig}.svg" in text
    assert not list(out.parent.glob(".*tmp*"))  # the temporary is renamed away
    assert not (tmp_path / "docs" / "images" / "experiments-small-budget.svg").exists()  # no run holds a budget


def test_report_of_the_paper_plan_with_nothing_run_lists_every_run(tmp_path):
    out = write_report(PLANS["paper"], [], DS, tmp_path / "experiments.md")
    text = out.read_text()
    assert "0 of 135 runs have a result" in text and "### Missing runs (135)" in text
    assert text.split("### Missing runs")[1].count("| missing |") == 135


def test_the_trend_section_sets_runs_with_the_trend_beside_those_without():
    from geoapp.experiments.report import trend_section, trend_table

    years = [2014, 2015, 2016, 2017, 2018]
    records = []
    for plan, shift in (("baselines", 0.0), ("trend", -1.0)):  # the trend takes 1 bu/acre off every RMSE
        for run in PLANS[plan].runs():
            if run.model not in ("ridge", "semi-ha"):
                continue
            if plan == "trend" and run.model == "semi-ha" and run.test_year == 2018:
                continue  # one year missing: no mean for semi-ha with the trend
            rmse = {"ridge": 7.0, "semi-ha": 5.0}[run.model] + shift
            metrics = {"rmse": rmse, "r2": 0.5, "n": 9, "year": run.test_year}
            records.append(make_record(run, dataset=DS, status=OK, metrics=metrics))
    table = trend_table(records, years).set_index("model")
    assert list(table.index) == ["ridge", "semi-ha"]
    assert table.loc["ridge", "rmse_without"]["mean"] == pytest.approx(7.0)
    assert table.loc["ridge", "rmse_with"]["mean"] == pytest.approx(6.0)
    assert math.isnan(table.loc["semi-ha", "rmse_with"]["mean"]) and table.loc["semi-ha", "rmse_with"]["years_done"] == 4
    text = trend_section(records, years)
    assert "RMSE with trend" in text and "6.000" in text and "4 of the years" in text
    assert trend_section([r for r in records if "trend" not in r["key"]["overrides"]], years) == ""
    # the paper plan's tables never mix in the trend runs (their keys carry the override)
    assert set(results_frame(records, PLANS["paper"])["overrides"]) == {"{}"}


def test_the_augment_section_sets_each_model_beside_its_own_seeds_without_augmentation():
    from geoapp.experiments.report import augment_section, augment_table

    years = [2014, 2015, 2016, 2017, 2018]
    plan_runs = [r for r in PLANS["augment"].runs() if r.model in ("s-ha", "c3d")]
    defaults = {(r.model, r.test_year, r.seed): RunSpec(r.model, r.test_year, 10, r.seed) for r in plan_runs}
    shifts = {"augment": -0.5, "patience": -0.1}  # augmentation takes 0.5 bu/acre off, the patience alone 0.1
    records = []
    for run in [*defaults.values(), *plan_runs]:
        if run.model == "c3d" and run.overrides and run.test_year == 2016:
            continue  # one year missing: no mean for C3D with augmentation
        if run.model == "s-ha" and run.seed == 2 and run.overrides and run.test_year == 2018:
            continue  # seed 2 not done yet: both sides over seeds 0 and 1
        key = "augment" if "augment" in run.overrides else "patience" if run.overrides else None
        rmse = {"s-ha": 5.0, "c3d": 6.0}[run.model] + 0.2 * run.seed + shifts.get(key, 0.0)
        calibrated = {"county-trend": {"rmse": rmse - 1.0, "r2": 0.6}}
        metrics = {"rmse": rmse, "r2": 0.5, "n": 9, "year": run.test_year, "calibrated": calibrated}
        records.append(make_record(run, dataset=DS, status=OK, metrics=metrics))
    table = augment_table(records, years)
    assert list(zip(table["model"], table["training"], strict=True)) == [
        ("s-ha", "dihedral, patience 10"),
        ("c3d", "dihedral, patience 10"),
        ("s-ha", "patience 10, no augmentation"),
        ("s-ha", "dihedral, patience 10, EMA 0.995"),
    ]  # semi-ha has no run of the plan yet: no row
    s_ha, c3d, control, ema = (table.iloc[i] for i in range(4))
    assert ema["seeds"] == [0, 1] and ema["rmse_with"]["mean"] == pytest.approx(4.6)  # its own row, not merged
    assert s_ha["seeds"] == [0, 1] and s_ha["rmse_without"]["n"] == 2 == s_ha["rmse_with"]["n"]
    assert s_ha["rmse_without"]["mean"] == pytest.approx(5.1) and s_ha["rmse_with"]["mean"] == pytest.approx(4.6)
    assert s_ha["cal_with"]["mean"] == pytest.approx(3.6) and s_ha["cal_without"]["mean"] == pytest.approx(4.1)
    assert control["seeds"] == [0] and control["rmse_with"]["mean"] == pytest.approx(4.9)
    assert control["rmse_without"]["mean"] == pytest.approx(5.0)
    assert c3d["seeds"] == [0] and c3d["rmse_with"]["years_done"] == 4
    text = augment_section(records, years)
    assert "plan `augment`" in text and "4 of the years" in text
    assert "| S-HA (`s-ha`) | dihedral, patience 10 | 0, 1 | 5.100 ± 0.141 (2) | 4.600 ± 0.141 (2) |" in text
    assert "| S-HA (`s-ha`) | patience 10, no augmentation | 0 | 5.000 | 4.900 |" in text
    assert "| S-HA (`s-ha`) | dihedral, patience 10, EMA 0.995 | 0, 1 | 5.100 ± 0.141 (2) | 4.600 ± 0.141 (2) |" in text
    # per year over the seeds that have it: 2018 has seeds 0 and 1 only
    assert s_ha["2018"]["n"] == 2 and s_ha["2018"]["mean"] == pytest.approx(4.6) and s_ha["2014"]["n"] == 3
    assert "| S-HA (`s-ha`) | dihedral, patience 10 | 4.700 ± 0.200 (3) |" in text
    assert "| C3D (`c3d`) | dihedral, patience 10 | 5.500 | 5.500 | missing | 5.500 | 5.500 |" in text
    assert augment_section([r for r in records if not r["key"]["overrides"]], years) == ""
    # the paper plan's tables never mix in the plan's runs
    assert set(results_frame(records, PLANS["paper"])["overrides"]) == {"{}"}


def test_the_location_section_sets_semi_ha_loc_beside_semi_ha_over_seeds():
    from geoapp.experiments.report import location_section, location_table

    years = [2014, 2015, 2016, 2017, 2018]
    records = []
    for plan, model in (("seeds", "semi-ha"), ("location", "semi-ha-loc")):
        for run in PLANS[plan].runs():
            if run.model != model:
                continue  # plan seeds also holds S-HA
            if model == "semi-ha-loc" and run.seed == 2 and run.test_year == 2018:
                continue  # seed 2 lacks a year: it has no mean over the years and stays out of mean +/- sd
            rmse = {"semi-ha": 6.0, "semi-ha-loc": 5.0}[model] + 0.5 * run.seed + 0.1 * (run.test_year - 2014)
            metrics = {"rmse": rmse, "r2": 0.5, "n": 9, "year": run.test_year}
            records.append(make_record(run, dataset=DS, status=OK, metrics=metrics))
    table = location_table(records, years)
    assert list(table.index) == ["semi-ha", "semi-ha-loc"]
    assert [table.loc["semi-ha", f"seed {s}"]["mean"] for s in (0, 1, 2)] == pytest.approx([6.2, 6.7, 7.2])
    assert table.loc["semi-ha", "Mean"]["mean"] == pytest.approx(6.7) and table.loc["semi-ha", "Mean"]["n"] == 3
    assert table.loc["semi-ha", "Mean"]["sd"] == pytest.approx(0.5)
    loc = table.loc["semi-ha-loc"]
    assert math.isnan(loc["seed 2"]["mean"]) and loc["seed 2"]["years_done"] == 4
    assert loc["Mean"]["mean"] == pytest.approx(5.45) and loc["Mean"]["n"] == 2  # seeds 0 and 1 only
    assert loc["2018"]["mean"] == pytest.approx(5.65) and loc["2018"]["n"] == 2
    assert loc["2014"]["mean"] == pytest.approx(5.5) and loc["2014"]["n"] == 3
    text = location_section(records, years)
    assert "plan `location`" in text and "4 of the years" in text and "5.450 ± 0.354 (2)" in text
    assert "6.700 ± 0.500 (3)" in text and "| SEMI-HA (`semi-ha`) |" in text
    assert location_section([r for r in records if r["key"]["model"] != "semi-ha-loc"], years) == ""
    # the paper plan's tables never mix in the location runs
    assert "semi-ha-loc" not in set(results_frame(records, PLANS["paper"])["model"])


def test_the_calibration_section_sets_each_calibration_beside_the_models_own_scores():
    from geoapp.experiments.report import calibration_section

    records = []
    for rec in _records():
        rmse = rec["metrics"]["rmse"]
        calibrated = {"trend": {"rmse": rmse - 0.5, "r2": 0.6}, "county-trend": {"rmse": rmse - 1.0, "r2": 0.7}}
        records.append({**rec, "metrics": {**rec["metrics"], "calibrated": calibrated}})
    df = results_frame(records, PLAN)
    assert (df["rmse"] - df["rmse_county_trend"]).round(9).eq(1.0).all()
    text = calibration_section(df, ["ridge", "semi-ha"], YEARS, {"2015": 3.0, "2016": 3.1})
    # semi-ha seed 0 and 1 (N_y = 10): own mean 5.5 and 6.0 over the years; county-trend 1.0 lower.
    assert "| SEMI-HA (`semi-ha`) | 5.750 ± 0.354 (2) | 5.250 ± 0.354 (2) | 4.750 ± 0.354 (2) |" in text
    assert "| 1.3 x noise floor (the target) | 3.900 | 4.030 |" in text
    assert calibration_section(results_frame(_records(), PLAN), ["ridge"], YEARS) == ""  # none calibrated: no section
    assert results_frame(_records(), PLAN)["rmse_trend"].isna().all()


def test_the_budget_section_averages_each_terms_missed_share_over_years_and_seeds():
    from geoapp.experiments.report import budget_section

    records = []
    for rec in _records():
        missed = {"water": 0.3, "excess": 0.2, "heat": 0.1, "potential": -0.1, "effect": 0.8 if rec["key"]["seed"] else 0.6}
        budget = {"rmse_vs_expected": rec["metrics"]["rmse"] - 1.0, "bias": 0.0, "joint_r2": 0.5, "missed": missed}
        records.append({**rec, "metrics": {**rec["metrics"], "budget": budget}})
    df = results_frame(records, PLAN)
    text = budget_section(df, ["ridge", "semi-ha"], YEARS)
    # semi-ha seeds 0 and 1: RMSE 5.5 and 6.0 over the years, 1.0 lower against the noise-free yield
    # columns in the order of geoapp.analysis.error_budget: potential, water, heat, excess, effect
    assert "| SEMI-HA (`semi-ha`) | 4.750 ± 0.354 (2) | -0.10 ± 0.00 (2) | 0.30 ± 0.00 (2) | 0.10 ± 0.00 (2) |" in text
    assert "| 0.20 ± 0.00 (2) | 0.70 ± 0.14 (2) |" in text
    assert budget_section(results_frame(_records(), PLAN), ["ridge"], YEARS) == ""  # no budgets: no section
    assert results_frame(_records(), PLAN)["missed_water"].isna().all()


def test_the_budget_heatmap_colours_and_prints_each_share(tmp_path):
    from geoapp.experiments.svg import heatmap

    svg = heatmap(
        {"S-HA": {"water": 0.5, "effect": -1.5}, "LR": {"water": float("nan")}},
        ["water", "effect"],
        title="t",
        subtitle="SIMULATED",
    )
    assert svg.startswith("<svg") and svg.count("<rect") == 1 + 4  # background + 2 x 2 cells
    assert ">+0.50<" in svg and ">-1.50<" in svg and svg.count(">-<") == 2  # a missing value is a dash, twice for LR
    assert 'fill="#ff8080"' in svg and 'fill="#0000ff"' in svg and 'fill="#eee"' in svg  # half red, blue clipped at -1
    records = []
    for rec in _records():
        budget = {
            "rmse_vs_expected": 4.0,
            "bias": 0.0,
            "joint_r2": 0.5,
            "missed": dict.fromkeys(("water", "excess", "heat", "potential", "effect"), 0.25),
        }
        records.append({**rec, "metrics": {**rec["metrics"], "budget": budget}})
    out = tmp_path / "experiments.md"
    write_report(PLAN, records, DS, out)
    figure = (tmp_path / "images" / "experiments-small-budget.svg").read_text()
    assert figure.count(">+0.25<") >= 5 and "SIMULATED" in figure and "images/experiments-small-budget.svg" in out.read_text()


def test_noise_floor_by_year_is_the_labels_against_the_noise_free_yields(tiny_dataset_path):
    import numpy as np

    from geoapp.data.dataset import load_dataset
    from geoapp.experiments.report import noise_floor_by_year

    ds = load_dataset(tiny_dataset_path)
    try:
        floors = noise_floor_by_year(ds)
        lab = ds.yields[ds.yields["yield"].notna() & (ds.yields["year"] == 2016)]
        assert floors["2016"] == pytest.approx(float(np.sqrt(np.mean((lab["yield"] - lab["expected"]) ** 2))))
        assert 1.0 < floors["2016"] < 6.0
    finally:
        ds.close()

    class Real:
        simulated = False

    assert noise_floor_by_year(Real()) == {}


def _context_records(skip: tuple[float, int] | None = None) -> list[dict]:
    """Plan context's runs with test RMSE 5 + alpha * 10 + (year - 2014) and validation RMSE 6 - alpha * 10 (+ year shift).

    The validation year favours the largest alpha, the test year the smallest: a choice made on the
    test year would differ from the one the report must make.
    """
    from geoapp.experiments.report import context_alpha

    records = []
    for run in PLANS["context"].runs():
        alpha = context_alpha(run.model, run.overrides)
        if skip == (alpha, run.test_year):
            continue
        test = 5.0 + 10 * alpha + (run.test_year - 2014)
        val = 6.0 - 10 * alpha + 0.1 * (run.test_year - 2014)
        metrics = {"rmse": test, "r2": 0.5, "n": 9, "year": run.test_year}
        metrics["validation"] = {"rmse": val, "r2": 0.4, "n": 9, "year": run.test_year - 1}
        records.append(make_record(run, dataset=DS, status=OK, metrics=metrics))
    return records


def test_the_context_plan_sweeps_alpha_beside_the_runs_the_paper_plan_has():
    from geoapp.experiments.plan import CONTEXT_ALPHAS
    from geoapp.experiments.report import context_alpha
    from geoapp.models.yield_losses import DEFAULT_ALPHA

    runs = PLANS["context"].runs()
    assert len(runs) == 25 and {r.n_train_years for r in runs} == {4} and {r.seed for r in runs} == {0}
    alphas = sorted({context_alpha(r.model, r.overrides) for r in runs})
    assert alphas == sorted([0.0, *CONTEXT_ALPHAS, DEFAULT_ALPHA])
    scarcity = {r.key() for r in PLANS["scarcity"].runs()}
    shared = [r for r in runs if r.key() in scarcity]  # S-HA and the default alpha: not trained again
    assert {(r.model, context_alpha(r.model, r.overrides)) for r in shared} == {("s-ha", 0.0), ("semi-ha", DEFAULT_ALPHA)}
    assert len(shared) == 10 and not any(r.overrides for r in PLANS["paper"].runs())  # the sweep is not the paper's


def test_the_context_section_chooses_alpha_on_the_validation_year_never_the_test_year(tmp_path):
    from geoapp.experiments.report import context_choice, context_section, context_svg, context_table

    years = [2014, 2015, 2016, 2017, 2018]
    records = _context_records()
    table = context_table(records, years)
    assert list(table["alpha"]) == [0.0, 0.02, 0.05, 0.1, 0.2]
    assert table.loc["SEMI-HA, alpha = 0.05", "2016"] == pytest.approx(7.5)
    assert table.loc["SEMI-HA, alpha = 0.05", "val 2016"] == pytest.approx(5.7)
    assert table.loc["S-HA (alpha = 0, no context tiles)", "Mean"] == pytest.approx(7.0)
    choice = context_choice(table, years)
    assert choice["alpha"] == {y: 0.2 for y in years}  # the best on validation, the worst on test; S-HA never chosen
    assert choice["mean"] == pytest.approx(9.0)
    text = context_section(records, years, "images/x.svg")
    assert "plan `context`" in text and "| **SEMI-HA, alpha chosen on the validation year** |" in text
    assert "7.000 (alpha 0.2)" in text and "![RMSE against the context-loss weight alpha](images/x.svg)" in text
    svg = context_svg(records, years, simulated=True)
    assert svg is not None and "SIMULATED" in svg and svg.count("<polyline") == 2
    assert choice["lacking"] == {}
    # an alpha without a run for a year: no choice that year (it could change when the run arrives), no mean
    partial = _context_records(skip=(0.2, 2016))
    choice = context_choice(context_table(partial, years), years)
    assert 2016 not in choice["alpha"] and choice["lacking"] == {2016: [0.2]} and choice["alpha"][2015] == 0.2
    assert math.isnan(choice["mean"]) and math.isnan(context_table(partial, years).loc["SEMI-HA, alpha = 0.2", "Mean"])
    # the default alpha's runs made before validation scores existed: no choice until they are scored, and the
    # section says how to score them
    unscored = _context_records()
    for r in unscored:
        if not r["key"]["overrides"]:
            r["metrics"].pop("validation")
    choice = context_choice(context_table(unscored, years), years)
    assert choice["alpha"] == {} and choice["lacking"] == {y: [0.2] for y in years}
    text = context_section(unscored, years)
    assert "No choice yet where an alpha lacks a run or a validation score (2014: alpha 0.2;" in text
    assert "python -m geoapp experiments validation" in text
    # only plan scarcity's runs (S-HA and the default alpha): no sweep, no section, no figure
    plain = [r for r in records if not r["key"]["overrides"]]
    assert context_section(plain, years) == "" and context_svg(plain, years, True) is None
    assert context_section([], years) == "" and context_svg([], years, True) is None
    assert context_section(records, []) == ""


def test_results_frame_reads_the_validation_scores_and_nan_without_them():
    records = _context_records()
    records[0]["metrics"].pop("validation")
    records[1]["metrics"]["validation"] = {"rmse": "bad"}
    df = results_frame(records, PLANS["context"])
    assert math.isnan(df.loc[0, "val_rmse"]) and math.isnan(df.loc[1, "val_rmse"]) and math.isnan(df.loc[1, "val_r2"])
    assert df.loc[2, "val_rmse"] == pytest.approx(6.0 + 0.1 * 2) and df.loc[2, "val_r2"] == pytest.approx(0.4)
    assert "val_rmse" in results_csv(df, DS).splitlines()[0]


def test_a_model_run_with_several_sets_of_overrides_gets_one_row_per_set_never_pooled_as_seeds(tmp_path):
    from geoapp.experiments.report import by_variant, run_labels, variant_label

    plan = plan_from_dict(
        {
            "name": "epochs",
            "blocks": [
                {"models": ["ridge", "semi-ha"], "test_years": YEARS},
                {"models": ["semi-ha"], "test_years": YEARS, "overrides": {"epochs": 50}},
                {"models": ["semi-ha"], "test_years": YEARS, "overrides": {"model_overrides": {"alpha": 0.05}}},
            ],
        }
    )
    labels = run_labels(plan)
    assert labels["ridge-2015-ny10-seed0"] == "ridge"  # one setting: the model's own row, as before
    assert sorted(set(labels.values()) - {"ridge"}) == ["semi-ha (alpha=0.05)", "semi-ha (defaults)", "semi-ha (epochs=50)"]
    assert variant_label("semi-ha", {"epochs": 50, "model_overrides": {"beta": 0.0, "alpha": 0.1}}) == (
        "semi-ha (epochs=50, alpha=0.1, beta=0.0)"  # keys in order, model_overrides flattened in place
    )
    records = []
    for run in plan.runs():
        rmse = {"{}": 5.0, '{"epochs": 50}': 6.0}.get(json.dumps(dict(run.overrides), sort_keys=True), 7.0)
        records.append(make_record(run, dataset=DS, status=OK, metrics={"rmse": rmse, "r2": 0.5, "n": 9, "year": run.test_year}))
    shown, df = by_variant(plan, results_frame(records, plan))
    assert shown.models() == ["ridge", "semi-ha (defaults)", "semi-ha (epochs=50)", "semi-ha (alpha=0.05)"]
    table = year_table(df, "rmse", shown.models(), YEARS)
    assert [table.loc[m, "Mean"]["mean"] for m in shown.models()[1:]] == [5.0, 6.0, 7.0]
    assert all(table.loc[m, "2015"]["n"] == 1 for m in shown.models())  # one run each, not three "seeds"
    out = write_report(plan, records, DS, tmp_path / "r.md")
    text = out.read_text()
    assert "| `semi-ha (epochs=50)` | 6.000 | 6.000 | 6.000 |" in text and "None: every run of the plan has a result." in text
    assert by_variant(PLANS["paper"], df)[0] is PLANS["paper"]  # the named plans run each model with one setting


def test_the_report_of_plan_context_gives_each_alpha_its_own_row(tmp_path):
    """``experiments report --plan context``: SEMI-HA's alphas are rows of their own, never pooled as seeds."""
    records = _context_records()
    text = write_report(PLANS["context"], records, DS, tmp_path / "c.md").read_text()
    assert "| model | N_y=4 |" in text and "N_y=10" not in text  # N_y = 4 only: no column the plan lacks
    assert "| `semi-ha (alpha=0.05)` | 7.500 |" in text
    assert "| `semi-ha (defaults)` | 9.000 |" in text
    assert not (tmp_path / "images" / "experiments-context-scarcity.svg").exists()  # one N_y: no curve to draw
    assert "of the years" not in text and "SEMI-HA's improvement over S-HA" not in text  # nothing pooled
    assert "**SEMI-HA, alpha chosen on the validation year**" in text
    assert (tmp_path / "images" / "experiments-context-context.svg").is_file()


def test_the_model_a_user_would_ship_is_chosen_on_the_validation_year():
    from geoapp.experiments.report import validation_choice, validation_choice_section

    records = _records()
    for r in records:  # validation favours ridge, the test year SEMI-HA; S-HA's seed 1 has no validation score
        k = r["key"]
        if k["model"] == "s-ha" and k["seed"] == 1:
            continue
        r["metrics"]["validation"] = {"rmse": {"ridge": 4.0, "s-ha": 5.0, "semi-ha": 6.0}[k["model"]] + k["seed"], "r2": 0.5}
    df = results_frame(records, PLAN)
    # S-HA's seed 1 lacks a validation score: with S-HA among the candidates no year can be chosen yet
    table = validation_choice(df, PLAN, ["ridge", "s-ha", "semi-ha"], YEARS)
    assert list(table["lacking"]) == [1, 1] and list(table["candidates"]) == [5, 5] and table["chosen"].isna().all()
    text = validation_choice_section(df, PLAN, ["ridge", "s-ha", "semi-ha"], YEARS)
    assert "| 2015 | — (1 of 5 lack a result or a validation score) |  |  | 5 |  |" in text
    assert "| mean |  |  | — |  | — |" in text
    # among ridge and SEMI-HA (seeds 0 and 1, N_y = 10, all inputs): every candidate scored
    table = validation_choice(df, PLAN, ["ridge", "semi-ha"], YEARS)
    assert list(table["chosen"]) == ["ridge-2015-ny10-seed0", "ridge-2016-ny10-seed0"]
    assert list(table["rmse"]) == [8.0, 9.0] and list(table["hindsight_model"]) == ["semi-ha", "semi-ha"]
    assert list(table["candidates"]) == [3, 3] and list(table["lacking"]) == [0, 0]
    text = validation_choice_section(df, PLAN, ["ridge", "semi-ha"], YEARS)
    assert "| 2015 | `ridge-2015-ny10-seed0` | 4.000 | 8.000 | 3 | 5.000 (SEMI-HA) |" in text
    assert "| mean |  |  | 8.500 |  | 5.500 |" in text
    plain = results_frame(_records(), PLAN)
    assert validation_choice_section(plain, PLAN, ["ridge"], YEARS) == ""  # no validation scores at all


def test_the_ablation_of_a_plan_split_by_overrides_is_of_the_setting_it_ran_with(tmp_path):
    from geoapp.experiments.report import ablation_model, by_variant

    plan = plan_from_dict(
        {
            "name": "split",
            "blocks": [
                {"models": ["semi-ha"], "test_years": YEARS, "exclude_groups": [None, "VI"]},
                {"models": ["semi-ha"], "test_years": YEARS, "overrides": {"epochs": 50}},
            ],
        }
    )
    records = [
        make_record(r, dataset=DS, status=OK, metrics={"rmse": 6.0 if r.exclude_group else 5.0, "r2": 0.5, "n": 9})
        for r in plan.runs()
    ]
    shown, df = by_variant(plan, results_frame(records, plan))
    assert ablation_model(shown) == "semi-ha (defaults)" and ablation_model(PLANS["paper"]) == "semi-ha"
    ab = ablation_table(df, YEARS, ablation_model(shown)).set_index("group")
    assert ab.loc["ALL", "rmse"] == 5.0 and ab.loc["VI", "change"] == 1.0
    text = write_report(plan, records, DS, tmp_path / "s.md").read_text()
    assert "| without VI | 6.000 | 1.000 |" in text
