"""The experiments command line on the tiny dataset: run (dry and real, with a plan file), status, report, errors."""

from __future__ import annotations

import json
import os

import pandas as pd
import pytest

from geoapp.experiments.claim import claim_run
from geoapp.experiments.cli import main

PLAN = {"name": "tinyplan", "models": ["ridge"], "test_years": [2015, 2016], "n_train_years": [2]}


@pytest.fixture()
def plan_file(tmp_path):
    path = tmp_path / "tinyplan.json"
    path.write_text(json.dumps(PLAN))
    return path


def test_run_status_report(tiny_dataset_path, store_env, plan_file, tmp_path, capsys):
    ds = ["--dataset", str(tiny_dataset_path)]
    assert main(["run", "--plan-file", str(plan_file), "--dry-run", *ds]) == 0
    out = capsys.readouterr().out
    assert (
        "plan tinyplan: 2 runs on corn_belt_sim_tiny, 0 done, 2 to run" in out and "[2/2] ridge-2016-ny2-seed0 (would run" in out
    )

    assert main(["run", "--plan-file", str(plan_file), *ds]) == 0
    out = capsys.readouterr().out
    assert "[1/2] ridge-2015-ny2-seed0: RMSE" in out and "2 finished, 0 failed, 0 skipped" in out
    store = store_env / "corn_belt_sim_tiny" / "results.jsonl"
    assert len(store.read_text().splitlines()) == 2

    assert main(["run", "--plan-file", str(plan_file), *ds]) == 0
    assert "0 finished, 0 failed, 2 skipped" in capsys.readouterr().out

    assert main(["status", "--plan-file", str(plan_file), *ds]) == 0
    assert capsys.readouterr().out.strip() == "tinyplan: 2 done, 0 failed, 0 missing of 2"
    assert main(["status", *ds]) == 0
    out = capsys.readouterr().out
    assert "paper: 0 done, 0 failed, 135 missing of 135; about 0.0 h of one runner left" in out  # ridge is timed
    assert "(130 runs of models not timed yet not counted)" in out  # the paper's 5 ridge runs are counted
    assert "location: 0 done, 0 failed, 15 missing of 15; its models have no timed run yet" in out
    runs = tmp_path / "runs"
    with claim_run(runs, "semi-ha-2015-ny10-seed0"):  # a background runner trains it now
        assert main(["status", "--plan", "paper", "--runs-dir", str(runs), "-v", *ds]) == 0
    out = capsys.readouterr().out
    assert "paper: 0 done, 1 training now, 0 failed, 134 missing of 135" in out
    assert f"  semi-ha-2015-ny10-seed0: training (pid {os.getpid()} on " in out

    csv = tmp_path / "out" / "tinyplan.csv"
    assert main(["export", "--plan-file", str(plan_file), "--out", str(csv), *ds]) == 0
    assert "(2 of 2 runs of plan 'tinyplan', SIMULATED data)" in capsys.readouterr().out
    table = pd.read_csv(csv)
    assert list(table["name"]) == ["ridge-2015-ny2-seed0", "ridge-2016-ny2-seed0"]
    assert set(table["data"]) == {"SIMULATED"} and set(table["dataset"]) == {"corn_belt_sim_tiny"}
    assert table["val_rmse"].between(0, 50).all()  # every run is scored on its validation year as it finishes
    assert main(["validation", *ds]) == 0
    assert capsys.readouterr().out.strip() == "validation-year scores added to 0 runs"

    out_md = tmp_path / "exp.md"
    assert main(["report", "--plan-file", str(plan_file), "--out", str(out_md), *ds]) == 0
    text = out_md.read_text()
    assert "2 of 2 runs have a result in" in text and "| LR (`ridge`) |" in text


def test_bad_input_gives_one_clear_error(tiny_dataset_path, store_env, plan_file, tmp_path, capsys):
    ds = ["--dataset", str(tiny_dataset_path)]
    assert main(["run", "--plan", "smoke", *ds]) == 2  # smoke tests 2018: outside the tiny data
    assert "error: plan 'smoke' tests on year(s) [2018] outside the data, which holds 2012..2016" in capsys.readouterr().err
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({**PLAN, "models": ["ridge", "xgboost"]}))
    assert main(["run", "--plan-file", str(bad), *ds]) == 2
    assert "names model(s) ['xgboost']" in capsys.readouterr().err
    assert main(["run", "--plan", "paper", "--plan-file", str(plan_file), *ds]) == 2
    assert "not both" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["run", "--plan", "nope"])
    store = store_env / "corn_belt_sim_tiny" / "results.jsonl"
    store.parent.mkdir(parents=True)
    store.write_text(json.dumps({"key": {}, "name": "x", "status": "ok", "dataset": {"fingerprint": "other"}}) + "\n")
    store.write_text(
        json.dumps(
            {
                "key": {
                    "model": "ridge",
                    "test_year": 2015,
                    "n_train_years": 2,
                    "seed": 0,
                    "exclude_group": None,
                    "overrides": {},
                },
                "name": "ridge-2015-ny2-seed0",
                "status": "failed",
                "dataset": {"name": "corn_belt_sim_tiny", "fingerprint": "another-build"},
            }
        )
        + "\n"
    )
    assert main(["status", *ds]) == 2
    assert "holds results of another dataset" in capsys.readouterr().err


def test_workers_share_a_plan_and_train_each_run_once(tiny_dataset_path, store_env, tmp_path, capfd, monkeypatch):
    cpus = os.cpu_count() or 1
    monkeypatch.setattr(os, "cpu_count", lambda: max(2, cpus))  # two workers even on a one-CPU machine
    plan = tmp_path / "four.json"
    plan.write_text(json.dumps({"name": "four", "models": ["ridge"], "test_years": [2015, 2016], "n_train_years": [1, 2]}))
    ds = ["--dataset", str(tiny_dataset_path), "--runs-dir", str(tmp_path / "runs")]
    assert main(["run", "--plan-file", str(plan), "--workers", "2", *ds]) == 0
    out = capfd.readouterr().out
    assert "2 workers on the plan" in out
    assert "w1 plan four: 4 runs on corn_belt_sim_tiny" in out and "w2 plan four: 4 runs on corn_belt_sim_tiny" in out
    records = (store_env / "corn_belt_sim_tiny" / "results.jsonl").read_text().splitlines()
    names = [json.loads(line)["name"] for line in records]
    assert sorted(names) == sorted(set(names)) and len(names) == 4  # every run once, whichever worker took it
    for bad in ("0", str((os.cpu_count() or 1) + 1)):
        assert main(["run", "--plan-file", str(plan), "--workers", bad, *ds]) == 2
        err = capfd.readouterr().err
        assert f"--workers must be a whole number from 1 to this machine's {os.cpu_count()} CPUs, got {bad}" in err
