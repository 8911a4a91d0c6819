"""The yield sweep's plans and its seed summary (mean +/- sd over seeds, paired SEMI-HA - S-HA)."""

from __future__ import annotations

import json
import statistics
from dataclasses import asdict

import pytest

from geoapp.bench import yield_sweep
from geoapp.training.yield_trainer import YieldTrainConfig


@pytest.mark.parametrize("plan", sorted(yield_sweep.PLANS))
def test_every_variant_is_a_valid_training_config(plan):
    for name, fields in yield_sweep.PLANS[plan].items():
        cfg = YieldTrainConfig.from_dict({"test_year": 2018, **fields})
        assert cfg.model in name


def test_seed_plans_differ_from_the_shipped_runs_only_in_seed_and_tn():
    for plan in ("seeds", "paper-tn"):
        for fields in yield_sweep.PLANS[plan].values():
            assert yield_sweep._is_shipped_config(asdict(YieldTrainConfig.from_dict(fields)))
    tns = {yield_sweep._tn(asdict(YieldTrainConfig.from_dict(f))) for f in yield_sweep.PLANS["paper-tn"].values()}
    assert tns == {"month", None}  # SEMI-HA with the paper's TN (and an S-HA seed)
    assert {yield_sweep._tn(asdict(YieldTrainConfig.from_dict(f))) for f in yield_sweep.PLANS["seeds"].values()} == {"year", None}


def _row(plan, model, year, seed, test, val, **fields):
    cfg = asdict(YieldTrainConfig.from_dict({"model": model, "test_year": year, "epochs": 9, "seed": seed, **fields}))
    return {"variant": f"{model}-{year}-seed{seed}", "plan": plan, "config": cfg, "test_rmse": test, "val_rmse": val}


def test_seed_summary_pools_plans_and_pairs_seeds(tmp_path, monkeypatch):
    monkeypatch.setattr(yield_sweep, "sweep_dir", lambda plan: tmp_path / plan)
    rows = {
        "full": [
            _row("full", "s-ha", 2018, 0, 5.7, 5.6),
            _row("full", "semi-ha", 2018, 0, 5.4, 5.2),
            _row("full", "semi-ha", 2018, 0, 4.0, 4.0, model_overrides={"margin_per_dim": 0.25}),
        ],  # not pooled
        "seeds": [
            _row("seeds", "s-ha", 2018, 1, 5.3, 5.1),
            _row("seeds", "semi-ha", 2018, 1, 5.5, 5.3),
            _row("seeds", "s-ha", 2018, 2, 5.6, 5.4),
        ],  # seed 2 has no SEMI-HA partner yet
    }
    for plan, plan_rows in rows.items():
        (tmp_path / plan).mkdir()
        (tmp_path / plan / "results.jsonl").write_text("".join(json.dumps(r) + "\n" for r in plan_rows))

    summary = yield_sweep.seed_summary()
    groups = {(g["test_year"], g["model"]): g for g in summary["groups"]}
    assert groups[2018, "s-ha"]["tn"] is None and groups[2018, "semi-ha"]["tn"] == "month"
    assert groups[2018, "s-ha"]["seeds"] == [0, 1, 2]
    assert groups[2018, "s-ha"]["test"]["mean"] == pytest.approx(5.533, abs=1e-3)
    assert groups[2018, "s-ha"]["test"]["sd"] == pytest.approx(statistics.stdev([5.7, 5.3, 5.6]), abs=1e-3)
    assert groups[2018, "semi-ha"]["test_rmse"] == [5.4, 5.5]  # the margin variant is left out
    (paired,) = summary["paired"]
    assert paired["seeds"] == [0, 1] and paired["tn"] == "month"
    assert paired["diff"] == pytest.approx([-0.3, 0.2])
    assert paired["mean"] == pytest.approx(-0.05)
    assert paired["se"] == pytest.approx(statistics.stdev([-0.3, 0.2]) / 2**0.5, abs=1e-3)
    assert paired["semi_ha_wins"] == 1

    text = yield_sweep.seed_summary_markdown(summary)
    assert "| 2018 | s-ha | - | 3 | 5.700, 5.300, 5.600 | 5.533 +/- 0.208 |" in text
    assert "| 2018 | previous month | 2 | -0.300, +0.200 | -0.050 +/- 0.354 (0.250) | 1 of 2 |" in text


def test_runs_from_before_the_tn_field_count_as_previous_year(tmp_path, monkeypatch):
    monkeypatch.setattr(yield_sweep, "sweep_dir", lambda plan: tmp_path / plan)
    old, new = _row("full", "semi-ha", 2018, 0, 5.4, 5.2), _row("paper-tn", "semi-ha", 2018, 0, 5.1, 5.0)
    del old["config"]["temporal_neighbour"]
    for plan, row in (("full", old), ("paper-tn", new)):
        (tmp_path / plan).mkdir()
        (tmp_path / plan / "results.jsonl").write_text(json.dumps(row) + "\n")
    groups = {g["tn"]: g["test_rmse"] for g in yield_sweep.seed_summary()["groups"]}
    assert groups == {"year": [5.4], "month": [5.1]}


def test_seed_summary_of_nothing_is_empty(tmp_path, monkeypatch):
    monkeypatch.setattr(yield_sweep, "sweep_dir", lambda plan: tmp_path / plan)
    assert yield_sweep.seed_summary() == {"groups": [], "paired": []}


def test_unknown_plan_is_refused():
    with pytest.raises(Exception, match="unknown sweep plan"):
        yield_sweep.run_sweep("nope")


def test_cli_summary_trains_nothing_and_prints_json(tmp_path, monkeypatch, capsys):
    from geoapp import cli

    monkeypatch.setattr(yield_sweep, "sweep_dir", lambda plan: tmp_path / plan)
    monkeypatch.setattr(yield_sweep, "train_yield", lambda *a, **k: pytest.fail("--summary must not train"))
    (tmp_path / "seeds").mkdir()
    (tmp_path / "seeds" / "results.jsonl").write_text(json.dumps(_row("seeds", "s-ha", 2017, 1, 5.5, 5.0)) + "\n")
    assert cli.main(["bench", "yield-sweep", "--summary", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["groups"][0]["test_rmse"] == [5.5] and out["groups"][0]["test"]["sd"] is None
    assert out["paired"] == []


def test_a_row_from_before_a_setting_existed_counts_as_trained_with_its_default():
    config = asdict(YieldTrainConfig.from_dict({"model": "semi-ha", "test_year": 2018, "epochs": 9}))
    assert yield_sweep._is_shipped_config(config)
    older = {k: v for k, v in config.items() if k not in ("augment", "trend", "calibration")}
    assert yield_sweep._is_shipped_config(older)  # those runs turned no tile, removed no trend
    assert not yield_sweep._is_shipped_config({**config, "augment": "dihedral"})
