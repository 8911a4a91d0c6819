"""The experiment runner: resume and skip, failing runs recorded, one progress line per run, a real tiny run."""

from __future__ import annotations

import pytest

from geoapp.errors import InputError
from geoapp.experiments.plan import plan_from_dict
from geoapp.experiments.runner import format_seconds, run_plan, train_and_score
from geoapp.experiments.store import FAILED, OK, ResultStore
from tests.experiments.conftest import FakeTrainer

PLAN = plan_from_dict({"name": "t", "models": ["s-ha", "semi-ha"], "test_years": [2017, 2018], "seeds": [0, 1]})


def test_runs_every_run_then_skips_them_all(fake_ds, store_env, tmp_path):
    trainer, lines = FakeTrainer(), []
    summary = run_plan(PLAN, fake_ds, train_fn=trainer, echo=lines.append)
    assert summary.planned == 8 and len(summary.finished) == 8 and not summary.skipped
    assert len(trainer.calls) == 8
    progress = [line for line in lines if line.startswith("[")]
    assert len(progress) == 8
    assert progress[0].startswith("[1/8] s-ha-2017-ny10-seed0: RMSE 5.300 R^2 0.647 (took ")
    assert "ETA" in progress[0] and progress[-1].endswith("ETA 0 s)")
    store = ResultStore.for_dataset(fake_ds)
    assert store.path == store_env / fake_ds.name / "results.jsonl"
    assert len(store.read()) == 8 and all(r["plan"] == "t" for r in store.read())
    assert (tmp_path / "data" / "experiments" / fake_ds.name / "runs" / "s-ha-2017-ny10-seed0" / "best").is_dir()

    again = FakeTrainer()
    summary = run_plan(PLAN, fake_ds, train_fn=again, echo=lines.append)
    assert again.calls == [] and len(summary.skipped) == 8 and lines[-1].endswith("0 finished, 0 failed, 8 skipped")


def test_resume_runs_only_the_missing(fake_ds, store_env):
    first = FakeTrainer()
    run_plan(
        plan_from_dict({"name": "t", "models": ["s-ha"], "test_years": [2017]}), fake_ds, train_fn=first, echo=lambda _: None
    )
    second, lines = FakeTrainer(), []
    run_plan(PLAN, fake_ds, train_fn=second, echo=lines.append)
    assert "s-ha-2017-ny10-seed0" not in second.calls and len(second.calls) == 7
    assert lines[0].startswith("plan t: 8 runs on corn_belt_sim_fake, 1 done, 7 to run (about ")


def test_failing_run_is_recorded_and_the_plan_goes_on(fake_ds, store_env):
    trainer, lines = FakeTrainer(fail={"semi-ha-2017-ny10-seed1"}), []
    summary = run_plan(PLAN, fake_ds, train_fn=trainer, echo=lines.append)
    assert summary.failed == ["semi-ha-2017-ny10-seed1"] and len(summary.finished) == 7
    assert any("semi-ha-2017-ny10-seed1: FAILED (RuntimeError: boom in semi-ha-2017-ny10-seed1)" in line for line in lines)
    records = ResultStore.for_dataset(fake_ds).read()
    (failed,) = [r for r in records if r["status"] == FAILED]
    assert failed["error"] == "RuntimeError: boom in semi-ha-2017-ny10-seed1" and failed["metrics"] == {}
    retry = FakeTrainer()  # the next run tries the failed one again, and only it
    run_plan(PLAN, fake_ds, train_fn=retry, echo=lambda _: None)
    assert retry.calls == ["semi-ha-2017-ny10-seed1"]
    assert ResultStore.for_dataset(fake_ds).done_keys().__len__() == 8


def test_dry_run_trains_nothing(fake_ds, store_env):
    trainer, lines = FakeTrainer(), []
    run_plan(PLAN, fake_ds, train_fn=trainer, dry_run=True, echo=lines.append)
    assert trainer.calls == [] and len(lines) == 9 and "would run into" in lines[1]
    assert not ResultStore.for_dataset(fake_ds).path.exists()


def test_bad_plan_is_refused_before_anything_runs(fake_ds, store_env):
    trainer = FakeTrainer()
    plan = plan_from_dict({"models": ["s-ha"], "test_years": [2021]})
    with pytest.raises(InputError, match=r"\[2021\] outside the data"):
        run_plan(plan, fake_ds, train_fn=trainer)
    assert trainer.calls == []


def test_format_seconds():
    assert [format_seconds(s) for s in (None, 12.4, 185, 3720)] == ["?", "12 s", "3 min 05 s", "1 h 02 min"]


def test_model_the_trainer_does_not_take_fails_clearly(tiny_dataset_path, tmp_path, monkeypatch):
    import geoapp.experiments.runner as runner
    from geoapp.data.dataset import load_dataset
    from geoapp.experiments.plan import RunSpec

    monkeypatch.setattr(runner, "trainer_models", lambda: ("s-ha",))  # a trainer that takes s-ha alone
    ds = load_dataset(tiny_dataset_path)
    try:
        with pytest.raises(InputError, match=r"cannot train 'c3d' yet; it trains \['s-ha'\] and ridge"):
            train_and_score(RunSpec("c3d", 2016, 3, 0), ds, tmp_path / "run")
        assert not (tmp_path / "run").exists()
    finally:
        ds.close()


def test_real_s_ha_and_ridge_runs_on_the_tiny_dataset(tiny_dataset_path, store_env, tmp_path):
    """End to end (about 3 s): train_yield (one epoch) and ridge, scored by evaluate_yield, in the store; a rerun skips both."""
    from geoapp.data.dataset import load_dataset

    ds = load_dataset(tiny_dataset_path)
    plan = plan_from_dict(
        {
            "name": "tiny",
            "models": ["s-ha", "ridge"],
            "test_years": [2016],
            "n_train_years": [3],
            "overrides": {"epochs": 1, "batch_size": 16},
        }
    )
    try:
        lines: list[str] = []
        summary = run_plan(plan, ds, runs_dir=tmp_path / "runs", echo=lines.append)
        assert summary.failed == [] and len(summary.finished) == 2, lines
        records = ResultStore.for_dataset(ds).read()
        assert {r["key"]["model"] for r in records} == {"s-ha", "ridge"}
        for r in records:
            assert r["status"] == OK and r["metrics"]["year"] == 2016 and r["metrics"]["n"] > 0
            assert r["dataset"]["fingerprint"] == ds.fingerprint
            cal = r["metrics"]["calibrated"]  # each residual calibration's scores beside the model's own
            assert set(cal) == {"trend", "county-trend"} and all(0 < cal[k]["rmse"] < 50 for k in cal)
            budget = r["metrics"]["budget"]  # simulated data: what the run's own predictions miss
            assert set(budget["missed"]) == {"potential", "water", "heat", "excess", "effect"}
            assert budget["rmse_vs_expected"] ** 2 <= r["metrics"]["rmse"] ** 2 + 1.0  # the noise is not the model's
            val = r["metrics"]["validation"]  # the year that chose the epoch: what a choice between runs may use
            assert val["year"] == 2015 and val["n"] > 0 and 0 < val["rmse"] < 50 and val["rmse"] != r["metrics"]["rmse"]
        s_ha = next(r for r in records if r["key"]["model"] == "s-ha")
        assert s_ha["config"]["epochs"] == 1 and (tmp_path / "runs" / s_ha["name"] / "best" / "card.json").is_file()
        assert run_plan(plan, ds, runs_dir=tmp_path / "runs", echo=lines.append).skipped == [r["name"] for r in records]
    finally:
        ds.close()


def test_calibrate_results_adds_the_calibrated_scores_once_and_skips_a_missing_checkpoint(tiny_dataset_path, store_env, tmp_path):
    """Records written without calibrated scores get a new line with them; the store stays append-only."""
    import json

    from geoapp.data.dataset import load_dataset
    from geoapp.experiments.runner import calibrate_results, score_run
    from geoapp.experiments.store import latest_results

    ds = load_dataset(tiny_dataset_path)
    plan = plan_from_dict({"name": "tiny", "models": ["ridge"], "test_years": [2015, 2016], "n_train_years": [2]})

    def plain(run, ds, folder):  # as the runner scored runs before calibrated scores existed
        out = train_and_score(run, ds, folder)
        out.pop("calibrated")
        return out

    try:
        run_plan(plan, ds, runs_dir=tmp_path / "runs", train_fn=plain, echo=lambda _: None)
        store = ResultStore.for_dataset(ds)
        before = store.path.read_text()
        gone = next(r for r in store.read() if r["key"]["test_year"] == 2015)
        import shutil

        shutil.rmtree(gone["checkpoint"])
        lines: list[str] = []
        assert calibrate_results(store, ds, echo=lines.append) == ["ridge-2016-ny2-seed0"]
        assert any("is gone" in line for line in lines)
        assert store.path.read_text().startswith(before)  # appended, nothing rewritten
        latest = latest_results(store.read())
        rec = next(r for r in latest.values() if r["key"]["test_year"] == 2016)
        expected = score_run(rec["checkpoint"], ds, 2016)["calibrated"]
        assert rec["metrics"]["calibrated"] == json.loads(json.dumps(expected))
        assert rec["metrics"]["rmse"] == pytest.approx(score_run(rec["checkpoint"], ds, 2016)["rmse"])
        assert calibrate_results(store, ds, echo=lines.append) == []  # done once
    finally:
        ds.close()


def test_budget_results_adds_the_error_budget_once(tiny_dataset_path, store_env, tmp_path):
    """Records without an error budget get a new line with the one run_budget computes; real data gets none."""
    import json

    from geoapp.analysis.error_budget import error_budget
    from geoapp.data.dataset import load_dataset
    from geoapp.experiments.runner import budget_results
    from geoapp.experiments.store import latest_results

    ds = load_dataset(tiny_dataset_path)
    plan = plan_from_dict({"name": "tiny", "models": ["ridge"], "test_years": [2016], "n_train_years": [2]})

    def plain(run, ds, folder):  # as the runner scored runs before budgets existed
        out = train_and_score(run, ds, folder)
        out.pop("budget")
        return out

    try:
        run_plan(plan, ds, runs_dir=tmp_path / "runs", train_fn=plain, echo=lambda _: None)
        store = ResultStore.for_dataset(ds)
        before = store.path.read_text()
        lines: list[str] = []
        assert budget_results(store, ds, echo=lines.append) == ["ridge-2016-ny2-seed0"]
        assert store.path.read_text().startswith(before) and "water stress missed" in lines[-1]
        rec = next(iter(latest_results(store.read()).values()))
        full = error_budget(rec["checkpoint"], ds, 2016, calibrated=False)
        assert rec["metrics"]["budget"]["rmse_vs_expected"] == pytest.approx(full["rmse_vs_expected"])
        assert rec["metrics"]["budget"]["missed"] == json.loads(json.dumps({r["term"]: r["missed"] for r in full["terms"]}))
        assert budget_results(store, ds, echo=lines.append) == []  # done once
    finally:
        ds.close()


def test_validation_results_adds_the_validation_year_scores_once(tiny_dataset_path, store_env, tmp_path):
    """Records written without validation scores get a new line with the checkpoint scored on its validation year."""
    from geoapp.data.dataset import load_dataset
    from geoapp.experiments.runner import validation_results, validation_scores
    from geoapp.experiments.store import latest_results
    from geoapp.training.yield_trainer import evaluate_yield

    ds = load_dataset(tiny_dataset_path)
    plan = plan_from_dict({"name": "tiny", "models": ["ridge"], "test_years": [2016], "n_train_years": [2]})

    def plain(run, ds, folder):  # as the runner scored runs before validation scores existed
        out = train_and_score(run, ds, folder)
        out.pop("validation")
        return out

    try:
        run_plan(plan, ds, runs_dir=tmp_path / "runs", train_fn=plain, echo=lambda _: None)
        store = ResultStore.for_dataset(ds)
        before = store.path.read_text()
        assert "validation" not in store.read()[0]["metrics"]
        lines: list[str] = []
        assert validation_results(store, ds, echo=lines.append) == ["ridge-2016-ny2-seed0"]
        assert store.path.read_text().startswith(before) and "validation 2015: RMSE" in lines[-1]
        rec = next(iter(latest_results(store.read()).values()))
        expected = evaluate_yield(rec["checkpoint"], ds, 2015, calibrated=False)
        assert rec["metrics"]["validation"]["year"] == 2015
        assert rec["metrics"]["validation"]["rmse"] == pytest.approx(expected["rmse"])
        assert validation_results(store, ds, echo=lines.append) == []  # done once
        with pytest.raises(InputError, match="tested on 2016, not 2017"):
            validation_scores(rec["checkpoint"], ds, 2017)
    finally:
        ds.close()


def test_a_half_trained_run_of_other_settings_starts_anew(tiny_dataset_path, tmp_path):
    """A last/ written with other training settings (an earlier version's defaults), or whose best/ is lost, is not
    resumed: the run starts over."""
    import json
    import shutil

    from geoapp.data.dataset import load_dataset
    from geoapp.experiments.runner import train_and_score
    from geoapp.training.metrics_log import read_metrics

    ds = load_dataset(tiny_dataset_path)
    run = plan_from_dict(
        {"name": "t", "models": ["mlp"], "test_years": [2016], "n_train_years": [3], "overrides": {"epochs": 2, "batch_size": 16}}
    ).runs()[0]
    folder = tmp_path / run.name
    try:
        train_and_score(run, ds, folder)
        card = json.loads((folder / "last" / "card.json").read_text())
        card["train_config"]["lr"] = 0.5  # as if trained with another default learning rate
        (folder / "last" / "card.json").write_text(json.dumps(card))
        (folder / "last" / "train_state.json").write_text(json.dumps({"epoch": 0, "best_rmse": 1.0, "stale": 0}))
        out = train_and_score(run, ds, folder)
        assert [r["epoch"] for r in read_metrics(folder / "metrics.jsonl")] == [1, 2]  # trained from scratch
        shutil.rmtree(folder / "best")  # best/ lost after the last epoch: nothing to resume, the run starts anew
        out = train_and_score(run, ds, folder)
        assert [r["epoch"] for r in read_metrics(folder / "metrics.jsonl")] == [1, 2] and (folder / "best").is_dir()
        assert json.loads((folder / "best" / "card.json").read_text())["train_config"]["lr"] != 0.5
        assert out["rmse"] > 0
    finally:
        ds.close()


def test_a_plan_runs_and_reports_on_a_dataset_built_from_real_files(real_dataset_path, store_env, tmp_path):
    """The study on a user's own data (the fixture download built into a dataset, with a month of EVI and one
    of night LST missing): runs of a baseline and a deep model, no error budget, a report labelled as real data."""
    from geoapp.data.dataset import load_dataset
    from geoapp.experiments.report import write_report

    ds = load_dataset(real_dataset_path)
    plan = plan_from_dict(
        {
            "name": "own",
            "models": ["ridge", "s-ha"],
            "test_years": [2018],
            "n_train_years": [1],
            "overrides": {"epochs": 1, "batch_size": 8},
        }
    )
    try:
        assert not ds.simulated
        lines: list[str] = []
        summary = run_plan(plan, ds, runs_dir=tmp_path / "runs", echo=lines.append)
        assert summary.failed == [] and len(summary.finished) == 2, lines
        records = ResultStore.for_dataset(ds).read()
        assert {r["key"]["model"] for r in records} == {"ridge", "s-ha"}
        for r in records:
            assert r["dataset"]["simulated"] is False and r["metrics"]["year"] == 2018 and r["metrics"]["n"] > 0
            assert "budget" not in r["metrics"]  # only a simulation knows its yield terms
            assert "calibrated" not in r["metrics"]  # one training year: no residual trend can be fitted
        out = write_report(plan, records, ResultStore.for_dataset(ds).dataset, tmp_path / "docs" / "own.md")
        text = out.read_text()
        assert "real data" in text and "simulated" not in text.lower().split("paper")[0]
        assert "| LR (`ridge`) |" in text and "What the models miss" not in text
    finally:
        ds.close()


def test_the_eta_of_a_run_with_new_loss_weights_is_its_models_time_not_unknown():
    from geoapp.experiments.runner import _Eta
    from geoapp.experiments.store import make_record

    plan = plan_from_dict(
        {
            "name": "weights",
            "blocks": [
                {"models": ["semi-ha", "s-ha"], "test_years": [2018]},
                {"models": ["semi-ha"], "test_years": [2018], "overrides": {"model_overrides": {"alpha": 0.05}}},
                {"models": ["semi-ha"], "test_years": [2018], "overrides": {"epochs": 1}},
            ],
        }
    )
    default, s_ha, alpha, short = plan.runs()
    info = {"name": "d", "fingerprint": "f", "simulated": True}
    metrics = {"rmse": 5.0, "r2": 0.6, "n": 10, "year": 2018}
    done = [make_record(r, dataset=info, status=OK, metrics=metrics, seconds=s) for r, s in ((default, 600.0), (s_ha, 60.0))]
    eta = _Eta(done)
    assert eta.left([alpha]) == 600.0  # SEMI-HA's own time: a loss weight does not change how long a run takes
    assert eta.left([short]) is None  # one epoch: no full run is a guide to it
    eta.add(short, 5.0)
    assert eta.left([short, alpha]) == 605.0
