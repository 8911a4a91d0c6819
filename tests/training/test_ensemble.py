"""Seed ensembles: the mean of checkpoints' predictions, and the bench that scores it against each seed."""

from __future__ import annotations

import json
import math
import shutil

import numpy as np
import pytest

from geoapp.app_support.checkpoints import card_problem
from geoapp.bench.ensemble import ensemble_markdown, run_checkpoints, seed_ensemble_table
from geoapp.data.dataset import load_dataset
from geoapp.errors import DataFileError, InputError
from geoapp.experiments.plan import RunSpec
from geoapp.experiments.store import OK, make_record
from geoapp.training.calibration import from_card as calibration_from_card
from geoapp.training.calibration import shift
from geoapp.training.checkpoint import ENSEMBLE_CARD_KIND, list_checkpoints, read_card
from geoapp.training.ensemble import EnsemblePredictor, load_ensemble, write_ensemble
from geoapp.training.metrics import rmse_r2
from geoapp.training.model_kinds import kind_of_card, load_yield_checkpoint, predict_yields
from geoapp.training.yield_runs import YieldPredictions
from geoapp.training.yield_trainer import train_yield

from .test_yield_trainer import _cfg

YEARS = {"train": [2012, 2013, 2014], "validation": 2015, "test": 2016}


class _Fixed:
    """A stand-in checkpoint that predicts fixed values."""

    def __init__(self, predicted, years=YEARS, county=(0, 1, 2), seed=0):
        self.card = {"model": "s-ha", "years": years, "train_config": {"seed": seed}}
        self.predicted = np.asarray(predicted, dtype=float)
        self.county = np.asarray(county)

    def predict(self, ds, year, mask_group=None):
        return YieldPredictions(self.county, year, np.array([40.0, 50.0, 60.0]), self.predicted)


def test_the_ensemble_predicts_the_mean_of_its_members():
    ens = EnsemblePredictor([_Fixed([41, 52, 60], seed=0), _Fixed([43, 48, 66], seed=1)])
    out = ens.predict(None, 2016)
    np.testing.assert_allclose(out.predicted, [42.0, 50.0, 63.0])
    np.testing.assert_array_equal(out.target, [40.0, 50.0, 60.0])
    assert ens.card["years"] == YEARS and [m["seed"] for m in ens.card["members"]] == [0, 1]


def test_an_ensemble_of_one_or_of_other_years_or_counties_is_refused():
    with pytest.raises(InputError, match="at least two"):
        EnsemblePredictor([_Fixed([1, 2, 3])])
    other = {**YEARS, "test": 2017}
    with pytest.raises(InputError, match="share their training, validation and test years"):
        EnsemblePredictor([_Fixed([1, 2, 3]), _Fixed([1, 2, 3], years=other)])
    with pytest.raises(InputError, match="different counties"):
        EnsemblePredictor([_Fixed([1, 2, 3]), _Fixed([1, 2, 3], county=(0, 1, 5))]).predict(None, 2016)
    with pytest.raises(InputError, match="list of checkpoint folders"):
        load_ensemble("one/folder", None)


@pytest.fixture(scope="module")
def runs(tiny_dataset_path, tmp_path_factory):
    ds = load_dataset(tiny_dataset_path)
    folders = {
        s: train_yield(_cfg("s-ha", epochs=1, seed=s), ds, tmp_path_factory.mktemp(f"s{s}"), progress=False) for s in (0, 1)
    }
    return ds, folders


def test_the_bench_scores_the_seed_ensemble_against_each_seed(runs):
    ds, folders = runs
    dataset = {"name": ds.name, "fingerprint": ds.fingerprint, "simulated": True}
    records = [
        make_record(RunSpec("s-ha", 2016, 3, s), dataset=dataset, status=OK, metrics={"rmse": 1.0, "r2": 0.0}, checkpoint=f)
        for s, f in folders.items()
    ]
    table = seed_ensemble_table(ds, "s-ha", seeds=[0, 1], years=[2015, 2016], n_train_years=3, records=records)
    assert list(table["year"]) == [2015, 2016, "mean"]
    assert table.loc[0, "members"] == [] and math.isnan(table.loc[0, "ensemble_rmse"])  # no run for 2015
    preds = [predict_yields(load_yield_checkpoint(folders[s], ds, calibrated=False), ds, 2016) for s in (0, 1)]
    target = preds[0].target
    singles = [np.sqrt(np.mean((p.predicted - target) ** 2)) for p in preds]
    ensemble = np.sqrt(np.mean(((preds[0].predicted + preds[1].predicted) / 2 - target) ** 2))
    row = table.loc[1]
    assert row["members"] == [0, 1]
    assert row["members_rmse"] == pytest.approx(np.mean(singles)) and row["ensemble_rmse"] == pytest.approx(ensemble)
    assert row["ensemble_rmse"] <= max(singles) + 1e-9  # the mean of two predictions is never worse than both
    assert np.isfinite(row["ensemble_cal"]) and np.isfinite(row["members_cal"])
    assert row["floor_x1_3"] > 0  # the tiny dataset is simulated: its noise floor is known
    assert table.loc[2, "ensemble_rmse"] == pytest.approx(ensemble)  # the mean over the one complete year
    text = ensemble_markdown(table, "title")
    assert "| 2015 |  | missing |" in text and f"{ensemble:.3f}" in text
    # other overrides are other runs: nothing found
    other = seed_ensemble_table(ds, "s-ha", [0, 1], [2016], {"augment": "dihedral"}, n_train_years=3, records=records)
    assert list(other["year"]) == [2016] and math.isnan(other.loc[0, "ensemble_rmse"])
    # a record whose run folder is not on this machine (a fresh clone has the store, not the runs) is missing
    gone = make_record(
        RunSpec("s-ha", 2016, 3, 1),
        dataset=dataset,
        status=OK,
        metrics={"rmse": 1.0, "r2": 0.0},
        checkpoint=folders[1].parent / "gone",
    )
    assert set(run_checkpoints([records[0], gone], "s-ha", 2016, [0, 1], {}, 3)) == {0}
    with pytest.raises(InputError, match="at least two different seeds"):
        seed_ensemble_table(ds, "s-ha", [0, 0], [2016], records=records)


# --- ensemble checkpoints: written, listed and loaded like any crop-yield checkpoint ----------------


def test_an_ensemble_checkpoint_predicts_the_mean_of_its_members_and_its_card_holds_its_calibration(runs, tmp_path):
    ds, folders = runs
    best = write_ensemble([folders[0], folders[1]], ds, tmp_path / "ens", calibration="county-trend")
    card = read_card(best)
    assert card["kind"] == ENSEMBLE_CARD_KIND and card["model"] == "s-ha" and len(card["members"]) == 2
    assert [m["seed"] for m in card["members"]] == [0, 1] and card["years"] == read_card(folders[0])["years"]
    # the members' own predictions averaged, then the ensemble's calibration fitted to its training residuals
    own = load_yield_checkpoint(best, ds, calibrated=False).predict(ds, 2016)
    members = [load_yield_checkpoint(folders[s], ds, calibrated=False).predict(ds, 2016) for s in (0, 1)]
    np.testing.assert_allclose(own.predicted, (members[0].predicted + members[1].predicted) / 2, rtol=1e-6)
    calibrated = load_yield_checkpoint(best, ds).predict(ds, 2016)
    cal = calibration_from_card(card)
    np.testing.assert_allclose(calibrated.predicted, own.predicted + shift(cal, ds, own.county, 2016), rtol=1e-6)
    rmse, _ = rmse_r2(calibrated.target, calibrated.predicted)
    assert card["metrics"]["test_rmse"] == pytest.approx(rmse)
    assert card["calibration"]["uncalibrated_metrics"]["test_rmse"] == pytest.approx(rmse_r2(own.target, own.predicted)[0])
    # the registry: listed (its members are not), no attention, a what-if ablation through every member
    found = [f for f, _ in list_checkpoints(tmp_path)]
    assert found == [best]
    kind = kind_of_card(card, best)
    assert not kind.has_attention and kind.supports_ablation and not kind.resumable
    masked = predict_yields(best, ds, 2016, mask_group="PPT")
    assert masked.predicted.shape == own.predicted.shape and not np.allclose(masked.predicted, calibrated.predicted)
    assert card_problem(card) is None
    with pytest.raises(InputError, match="not trained"):
        kind.train()


def test_a_damaged_or_swapped_member_and_bad_members_are_refused(runs, tmp_path):
    ds, folders = runs
    best = write_ensemble([folders[0], folders[1]], ds, tmp_path / "ens", calibration="none")
    assert "calibration" not in read_card(best)
    with pytest.raises(InputError, match="already holds a checkpoint"):
        write_ensemble([folders[0], folders[1]], ds, tmp_path / "ens")
    # a member's weights replaced by another's: refused by its hash, naming the member
    shutil.copy2(folders[0] / "model.safetensors", best / ".members" / "m1" / "model.safetensors")
    with pytest.raises(DataFileError, match=r"member 1 .*SHA-256 differs"):
        load_yield_checkpoint(best, ds)
    shutil.rmtree(best / ".members" / "m1")
    with pytest.raises(DataFileError, match="member 1 .*cannot be read"):
        load_yield_checkpoint(best, ds)
    # a card whose member path leaves the folder is refused when read
    card = json.loads((best / "card.json").read_text())
    card["members"][0]["path"] = "../elsewhere"
    (best / "card.json").write_text(json.dumps(card))
    with pytest.raises(DataFileError, match=r"members\[0\].path must be a folder under .members/"):
        read_card(best)
    # an ensemble of one, of an ensemble, or of another model's checkpoints
    with pytest.raises(InputError, match="at least two"):
        write_ensemble([folders[0]], ds, tmp_path / "one")
    ok = write_ensemble([folders[0], folders[1]], ds, tmp_path / "ok", calibration="none")
    with pytest.raises(InputError, match="single checkpoints, not ensembles"):
        write_ensemble([ok, folders[0]], ds, tmp_path / "nested")
    ridge = train_yield(_cfg("ridge", seed=0), ds, tmp_path / "ridge", progress=False)
    with pytest.raises(InputError, match="one model"):
        write_ensemble([folders[0], ridge], ds, tmp_path / "mixed")
    assert not (tmp_path / "one").exists() and not (tmp_path / "mixed" / "best").exists()  # nothing half-written


def test_an_ensembles_results_are_kept_and_a_changed_member_is_recomputed(runs, tmp_path):
    import os

    from geoapp.analysis.result_cache import result_key

    ds, folders = runs
    best = write_ensemble([folders[0], folders[1]], ds, tmp_path / "ens", calibration="none")
    key = result_key("predictions", best, ds, 2016)
    assert key is not None  # kept on disk like any checkpoint's results (no weights file of its own)
    member = best / ".members" / "m1" / "model.safetensors"
    os.utime(member, ns=(member.stat().st_atime_ns, member.stat().st_mtime_ns + 10**9))
    assert result_key("predictions", best, ds, 2016).inputs != key.inputs  # a member touched: another key


def test_members_with_a_yield_trend_add_it_once_and_mismatched_or_repeated_members_are_refused(runs, tiny_dataset_path, tmp_path):
    ds, folders = runs
    trended = [
        train_yield(_cfg("ridge", seed=s, trend="linear", model_overrides={}), ds, tmp_path / f"t{s}", progress=False)
        for s in (0, 1)
    ]
    # ridge is deterministic: two seeds give the same weights, which is the same checkpoint twice
    with pytest.raises(InputError, match="listed twice"):
        write_ensemble(trended, ds, tmp_path / "twice", calibration="none")
    trended[1] = train_yield(
        _cfg("ridge", seed=1, trend="linear", n_train_years=2, test_year=2016), ds, tmp_path / "t1b", progress=False
    )
    with pytest.raises(InputError, match="share their training, validation and test years"):
        write_ensemble(trended, ds, tmp_path / "years", calibration="none")
    mlps = [
        train_yield(_cfg("mlp", seed=s, epochs=1, trend="linear", model_overrides={}), ds, tmp_path / f"m{s}", progress=False)
        for s in (0, 1)
    ]
    best = write_ensemble(mlps, ds, tmp_path / "trend", calibration="none")
    assert "yield_trend" not in read_card(best)["dataset"]
    own = load_yield_checkpoint(best, ds).predict(ds, 2016)
    members = [load_yield_checkpoint(m, ds).predict(ds, 2016) for m in mlps]  # each with its trend added back
    np.testing.assert_allclose(own.predicted, (members[0].predicted + members[1].predicted) / 2, rtol=1e-6)
    plain = train_yield(_cfg("mlp", seed=2, epochs=1, model_overrides={}), ds, tmp_path / "plain", progress=False)
    with pytest.raises(InputError, match="different trend"):
        write_ensemble([mlps[0], plain], ds, tmp_path / "mixed", calibration="none")
    no_soil = train_yield(_cfg("s-ha", epochs=1, seed=3, exclude_group="SOIL"), ds, tmp_path / "nosoil", progress=False)
    with pytest.raises(InputError, match="different exclude_group"):
        write_ensemble([folders[0], no_soil], ds, tmp_path / "groups", calibration="none")


def test_a_calibration_that_fails_leaves_nothing_and_a_changed_member_card_is_refused(runs, tmp_path, monkeypatch):
    import geoapp.training.yield_trainer as yield_trainer

    ds, folders = runs

    def fail(*args, **kwargs):
        raise InputError("no calibration today")

    monkeypatch.setattr(yield_trainer, "calibrate_checkpoint", fail)
    with pytest.raises(InputError, match="no calibration today"):
        write_ensemble([folders[0], folders[1]], ds, tmp_path / "ens" / "deeper")
    assert not (tmp_path / "ens").exists()  # nor the folders made for it
    monkeypatch.undo()
    best = write_ensemble([folders[0], folders[1]], ds, tmp_path / "ens")
    card_path = best / ".members" / "m0" / "card.json"
    card = json.loads(card_path.read_text())
    card["normalisation"]["std"][0][0] *= 2
    card_path.write_text(json.dumps(card))
    with pytest.raises(DataFileError, match="the card of member 0"):
        load_yield_checkpoint(best, ds)


def test_the_command_line_writes_an_ensemble_and_says_what_it_scored(runs, tiny_dataset_path, tmp_path, capsys):
    from geoapp.cli import main

    ds, folders = runs
    code = main(
        [
            "train",
            "ensemble",
            str(folders[0]),
            str(folders[1]),
            "--out",
            str(tmp_path / "ens"),
            "--dataset",
            str(tiny_dataset_path),
        ]
    )
    assert code == 0
    out = capsys.readouterr().out
    card = read_card(tmp_path / "ens" / "best")
    assert "ensemble of 2 s-ha checkpoints" in out and f"{card['metrics']['test_rmse']:.3f}" in out
    assert "without the calibration" in out and card["calibration"]["kind"] == "county-trend"


def test_an_ensembles_what_if_ablation_runs_each_members_batched_pass_and_matches_the_registry(runs, tmp_path):
    from geoapp.analysis import ablation
    from geoapp.analysis.result_cache import cache_root

    ds, folders = runs
    best = write_ensemble([folders[0], folders[1]], ds, tmp_path / "ens")
    with cache_root(tmp_path / "cache"):
        summary, per_county = ablation.what_if_ablation(best, ds, 2016)
    slow, slow_counties = ablation._registry_ablation(best, ds, 2016)  # one full prediction per group and member
    assert list(summary["group"]) == list(slow["group"])
    np.testing.assert_allclose(summary["rmse"], slow["rmse"], rtol=1e-4)
    np.testing.assert_allclose(per_county["PPT_change"], slow_counties["PPT_change"], atol=1e-3)
    assert summary["rmse"].iloc[0] == pytest.approx(read_card(best)["metrics"]["test_rmse"], rel=1e-4)  # calibrated


def test_the_card_describes_the_copied_members_even_if_a_source_changes_after_the_check(runs, tmp_path, monkeypatch):
    """A member replaced between the check and the copy (a training still running): the card hashes and scores the copies."""
    import geoapp.training.ensemble as ensemble_module

    ds, folders = runs
    other = train_yield(_cfg("s-ha", epochs=1, seed=2), ds, tmp_path / "seed2", progress=False)
    sources = [tmp_path / "a", tmp_path / "b"]
    for src, f in zip(sources, (folders[0], folders[1]), strict=True):
        shutil.copytree(f, src)
    checked = ensemble_module._check_members

    def check_then_replace(members, cards):
        checked(members, cards)
        if members[0] == sources[0]:  # the check of the sources: now "training" replaces member a by seed 2's weights
            shutil.copy2(other / "model.safetensors", sources[0] / "model.safetensors")

    monkeypatch.setattr(ensemble_module, "_check_members", check_then_replace)
    best = write_ensemble(sources, ds, tmp_path / "ens", calibration="none")
    card = read_card(best)
    assert card["members"][0]["weights_sha256"] == ensemble_module.weights_sha256(other)
    own = load_yield_checkpoint(best, ds, calibrated=False).predict(ds, card["years"]["validation"])
    assert card["metrics"]["val_rmse"] == pytest.approx(rmse_r2(own.target, own.predicted)[0])
