"""Training, checkpoints and evaluation never show a wrong result as valid (tiny runs, seconds on CPU).

Diverged training stops with an error and no phantom best/; NaN scores, empty years and broken cards
are refused naming the year, the checkpoint and what to do; a run folder holding another run is not
overwritten unless forced; resume needs last/; a full disk keeps the previous checkpoints.
"""

from __future__ import annotations

import dataclasses
import errno
import json
import math
import shutil

import numpy as np
import pytest
from safetensors import SafetensorError

from geoapp.cli import main
from geoapp.data.dataset import load_dataset
from geoapp.errors import DataFileError, GeoappError, InputError
from geoapp.training import checkpoint as checkpoint_module
from geoapp.training.checkpoint import list_checkpoints, load_checkpoint, read_card
from geoapp.training.location_trainer import LocationTrainConfig, train_location
from geoapp.training.metrics_log import read_metrics
from geoapp.training.results import InvalidResultError, TrainingDiverged
from geoapp.training.ridge_trainer import train_ridge
from geoapp.training.yield_trainer import YieldTrainConfig, evaluate_yield, train_yield

SMALL = {"embed_dim": 16, "cnn_width": 4, "heads": 2, "layers": 1, "ff_dim": 32}
TINY = dict(
    model="s-ha",
    test_year=2016,
    n_train_years=3,
    epochs=1,
    batch_size=16,
    max_train_examples=48,
    r_n_km=24.0,
    r_d_km=64.0,
    model_overrides=SMALL,
    device="cpu",
)
TINY_LOCATION = LocationTrainConfig(
    n_train=128, n_val=32, n_test=32, epochs=1, batch_size=64, sh_degree=3, hidden_dim=16, embed_dim=8, image_width=4,
    val_gallery=200, device="cpu",
)  # fmt: skip


def _cfg(**kw) -> YieldTrainConfig:
    return YieldTrainConfig(**{**TINY, **kw})


@pytest.fixture(scope="module")
def ds(tiny_dataset_path):
    return load_dataset(tiny_dataset_path)


@pytest.fixture(scope="module")
def trained(ds, tmp_path_factory):
    """A finished one-epoch s-ha run and a ridge run on the tiny dataset (test year 2016)."""
    root = tmp_path_factory.mktemp("trained")
    best = train_yield(_cfg(), ds, root / "s-ha", progress=False)
    ridge = train_ridge(ds, [2012, 2013, 2014], 2015, 2016, root / "ridge")
    return best, ridge


def _copy_card(src, dst, edit):
    """A copy of checkpoint ``src`` at ``dst`` whose card is ``edit(card)``."""
    shutil.copytree(src, dst)
    card = json.loads((dst / "card.json").read_text())
    (dst / "card.json").write_text(json.dumps(edit(card)))
    return dst


def _without_labels(ds, year):
    """The dataset with every yield of ``year`` withheld (in memory: the files and fingerprint stay)."""
    other = load_dataset(ds.root)
    other.yields = other.yields.assign(labelled=other.yields["labelled"] & (other.yields["year"] != year))
    return other


# ---- 1. diverged training -------------------------------------------------------------------------


def test_a_diverging_yield_run_stops_at_the_first_nan_loss_and_leaves_no_folder(ds, tmp_path):
    out = tmp_path / "run"
    with pytest.raises(
        TrainingDiverged,
        match=r"diverged in epoch 1, step \d+: the loss is nan .*no checkpoint was written.*lower the learning rate",
    ):
        train_yield(_cfg(model="semi-ha", lr=1e10), ds, out, progress=False)
    assert issubclass(TrainingDiverged, GeoappError)
    assert not out.exists()  # the folder it created is gone: no best/ to report


def test_divergence_after_a_good_epoch_keeps_that_best_and_says_where(ds, tmp_path, monkeypatch):
    from geoapp.models.yield_models import YieldModel

    real_loss, calls = YieldModel.loss, []

    def loss_going_nan(self, *args, **kwargs):
        terms = real_loss(self, *args, **kwargs)
        calls.append(1)
        if len(calls) > 3:  # epoch 2 (3 steps per epoch)
            terms["total"] = terms["total"] * float("nan")
        return terms

    monkeypatch.setattr(YieldModel, "loss", loss_going_nan)
    with pytest.raises(
        TrainingDiverged,
        match=r"epoch 2, step 1: the loss is nan .*; the best checkpoint so far stays in .*best'; lower the learning rate",
    ):
        train_yield(_cfg(epochs=2), ds, tmp_path, progress=False)
    assert load_checkpoint(tmp_path / "best")[1]["epoch"] == 1


def test_infinite_learning_rates_are_refused_by_the_config():
    with pytest.raises(InputError, match="lr must be a finite positive number, got inf"):
        _cfg(lr=math.inf)
    with pytest.raises(InputError, match=r"^lr must be a finite positive number, got inf$"):
        dataclasses.replace(TINY_LOCATION, lr=math.inf)


def test_a_run_whose_validation_rmse_is_never_finite_has_no_best(ds, tmp_path, monkeypatch):
    import geoapp.training.attention_trainer as trainer

    monkeypatch.setattr(trainer, "predict_examples", lambda model, source, ex, *a, **k: np.full(len(ex), np.nan, np.float32))
    with pytest.raises(TrainingDiverged, match=r"without a finite validation RMSE in any epoch, so it wrote no best/"):
        train_yield(_cfg(epochs=2), ds, tmp_path / "run", progress=False)
    assert not (tmp_path / "run" / "best").exists()


def test_a_diverging_location_run_stops(tmp_path, monkeypatch):
    from geoapp.models.contrastive import ContrastiveModel

    monkeypatch.setattr(ContrastiveModel, "forward", lambda self, *a: self.logit_scale * float("nan"))
    with pytest.raises(TrainingDiverged, match=r"the location encoder diverged in epoch 1, step 1: the loss is nan"):
        train_location(TINY_LOCATION, tmp_path / "loc", progress=False)
    assert not (tmp_path / "loc").exists()


def test_cli_train_with_a_huge_learning_rate_exits_non_zero_with_one_line(tiny_dataset_path, tmp_path, capsys):
    config = tmp_path / "cfg.json"
    config.write_text(json.dumps({**TINY, "model": "semi-ha"}))
    argv = ["train", "yield", "--config", str(config), "--dataset", str(tiny_dataset_path), "--out", str(tmp_path / "run")]
    assert main([*argv, "--lr", "1e10", "--quiet"]) != 0
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: training of semi-ha 2016 diverged in epoch 1")
    assert "best checkpoint" not in capsys.readouterr().out


# ---- 2. evaluation checked ------------------------------------------------------------------------


def test_nan_weights_are_refused_when_loaded(trained, tmp_path, ds):
    from safetensors.torch import load_file, save_file

    best = shutil.copytree(trained[0], tmp_path / "nan")
    weights = load_file(str(best / "model.safetensors"))
    name = next(k for k, v in weights.items() if v.is_floating_point())
    weights[name] = weights[name] * float("nan")
    save_file(weights, str(best / "model.safetensors"))
    with pytest.raises(DataFileError, match=r"hold NaN or infinite values .*diverged; train again with a lower learning rate"):
        evaluate_yield(best, ds)


def test_nan_predictions_are_not_a_score(trained, ds, monkeypatch):
    import geoapp.training.attention_trainer as trainer

    monkeypatch.setattr(trainer, "predict_examples", lambda model, source, ex, *a, **k: np.full(len(ex), np.nan, np.float32))
    with pytest.raises(InvalidResultError, match=r"on 2016 \(\d+ counties\) gives RMSE nan.*train it again"):
        evaluate_yield(trained[0], ds)


@pytest.mark.parametrize("which", [0, 1], ids=["deep model", "ridge"])
def test_a_year_without_labels_is_refused_not_scored_over_zero_counties(trained, ds, which):
    with pytest.raises(InputError, match=r"no labelled counties in 2016 in dataset .*choose a year with yields"):
        evaluate_yield(trained[which], _without_labels(ds, 2016))


@pytest.mark.parametrize("which", [0, 1], ids=["deep model", "ridge"])
def test_a_year_the_dataset_lacks_names_the_years_it_holds(trained, ds, which):
    with pytest.raises(InputError, match=r"year 1990 is not in dataset .*: it holds 2012..2016 \(with yields: 2012..2016\)"):
        evaluate_yield(trained[which], ds, 1990)
    with pytest.raises(InputError, match=r"year must be a whole number, got str 'abc'"):
        evaluate_yield(trained[which], ds, "abc")


BAD_CARDS = {
    "a JSON list": (lambda card: [card], r"expected a JSON object, got a JSON list"),
    "no model_config": (
        lambda card: {k: v for k, v in card.items() if k != "model_config"},
        r"'model_config' must be a JSON object",
    ),
    "unknown model": (
        lambda card: {**card, "model": "super-net"},
        r"unknown model 'super-net' for a crop-yield checkpoint; known models: \['semi-ha', 'semi-ha-loc', 's-ha', 'semi-sa'\]",
    ),
    "test year not a number": (lambda card: {**card, "years": {**card["years"], "test": "abc"}}, r"years.test must be a year"),
    "no years": (lambda card: {k: v for k, v in card.items() if k != "years"}, r"'years' must be an object"),
}


@pytest.mark.parametrize("case", list(BAD_CARDS))
def test_bad_cards_are_refused_naming_the_card_file(trained, ds, tmp_path, case):
    edit, match = BAD_CARDS[case]
    bad = _copy_card(trained[0], tmp_path / "bad", edit)
    with pytest.raises(DataFileError, match=rf"checkpoint card '{bad / 'card.json'}': {match}.*train the checkpoint again"):
        evaluate_yield(bad, ds)
    broken: list = []
    assert list_checkpoints(tmp_path, broken) == [] and broken[0][0] == bad  # listed apart, with its reason


def test_unknown_models_are_refused_wherever_a_card_names_one(trained, ds, tmp_path):
    from geoapp.analysis.location import load_location_model

    ridge = _copy_card(trained[1], tmp_path / "ridge", lambda card: {**card, "model": "super-net"})
    with pytest.raises(DataFileError, match=r"unknown model 'super-net' for a ridge checkpoint; known models: \['ridge'\]"):
        evaluate_yield(ridge, ds)
    no_kind = _copy_card(
        trained[0], tmp_path / "nokind", lambda card: {k: v for k, v in card.items() if k != "kind"} | {"model": "super-net"}
    )
    with pytest.raises(
        InputError, match=r"not a crop-yield model \(kind None, model 'super-net'\); crop-yield models: \['semi-ha'"
    ):
        evaluate_yield(no_kind, ds)
    with pytest.raises(
        InputError, match=r"holds model 'super-net', not a location encoder \(one of \['contrastive-sh-siren'\]\)"
    ):
        load_location_model(str(no_kind))
    location = _copy_card(trained[0], tmp_path / "loc", lambda card: {**card, "kind": "location-encoder", "model": "super-net"})
    with pytest.raises(DataFileError, match=r"unknown model 'super-net' for a location-encoder checkpoint"):
        read_card(location)


def test_cli_evaluate_refuses_bad_years_with_one_line(trained, tiny_dataset_path, capsys):
    argv = ["evaluate", "yield", "--checkpoint", str(trained[0]), "--dataset", str(tiny_dataset_path)]
    assert main([*argv, "--year", "1990"]) != 0
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [err[0]] and err[0].startswith("error: year 1990 is not in dataset") and "2012..2016" in err[0]


# ---- 3. resume and run folders --------------------------------------------------------------------


def test_resume_without_last_is_refused(ds, tmp_path):
    with pytest.raises(InputError, match=r"no last/ checkpoint in .* to resume from; run without --resume to start a new run"):
        train_yield(_cfg(), ds, tmp_path / "new", resume=True, progress=False)
    assert not (tmp_path / "new").exists()
    with pytest.raises(InputError, match=r"no last/ checkpoint"):
        train_location(TINY_LOCATION, tmp_path / "loc", resume=True, progress=False)


def test_a_folder_holding_another_run_is_not_overwritten_unless_forced(trained, ds, tmp_path):
    shipped = shutil.copytree(trained[0].parent, tmp_path / "shipped")
    before = (shipped / "best" / "model.safetensors").read_bytes()
    with pytest.raises(InputError, match=r"already holds best/, last/, metrics.jsonl; .*--out.*--resume.*--force"):
        train_yield(_cfg(), ds, shipped, progress=False)
    with pytest.raises(InputError, match=r"already holds"):
        train_ridge(ds, [2012, 2013, 2014], 2015, 2016, shipped)
    with pytest.raises(InputError, match=r"already holds"):
        train_location(TINY_LOCATION, shipped, progress=False)
    assert (shipped / "best" / "model.safetensors").read_bytes() == before
    user = tmp_path / "documents"
    user.mkdir()
    (user / "notes.txt").write_text("mine")
    with pytest.raises(InputError, match=r"already holds notes.txt"):
        train_ridge(ds, [2012, 2013, 2014], 2015, 2016, user)
    best = train_ridge(ds, [2012, 2013, 2014], 2015, 2016, shipped, force=True)  # asked: the old run is replaced
    assert read_card(best)["kind"] == "ridge" and not (shipped / "last").exists()
    assert [r["epoch"] for r in read_metrics(shipped / "metrics.jsonl")] == [1]


def test_a_refused_start_leaves_no_empty_run_folder(ds, tmp_path):
    with pytest.raises(InputError, match="lacks"):
        train_yield(_cfg(test_year=2013), ds, tmp_path / "early", progress=False)
    with pytest.raises(InputError, match="make no batch"):
        train_yield(_cfg(max_train_examples=1), ds, tmp_path / "one", progress=False)
    with pytest.raises(InputError, match="no labelled counties in the test year"):
        train_ridge(_without_labels(ds, 2016), [2012, 2013, 2014], 2015, 2016, tmp_path / "ridge")
    assert list(tmp_path.iterdir()) == []


def test_leftovers_of_a_killed_save_are_removed_by_the_next_run(ds, tmp_path):
    out = tmp_path / "run"
    (out / ".best.tmp-abc123").mkdir(parents=True)  # a save cut by a kill
    (out / ".best.tmp-abc123" / "model.safetensors").write_bytes(b"half")
    train_yield(_cfg(), ds, out, progress=False)  # hidden leftovers alone do not make the folder someone's run
    assert sorted(p.name for p in out.iterdir()) == ["best", "last", "metrics.jsonl"]


# ---- 4. disk full -----------------------------------------------------------------------------------
FULL = r"no space left on device while (saving|writing) '.*(best|last)'.*\(the previous (checkpoints|output).* intact\)"


@pytest.mark.parametrize(
    "error",
    [
        OSError(errno.ENOSPC, "No space left on device"),
        SafetensorError(
            'Error while serializing: IoError(Os { code: 28, kind: StorageFull, message: "No space left on device" })'
        ),
    ],
    ids=["OSError", "SafetensorError"],
)
def test_disk_full_while_saving_keeps_the_previous_checkpoints(ds, tmp_path, monkeypatch, error):
    out = tmp_path / "run"
    train_yield(_cfg(epochs=1), ds, out, progress=False)
    best_before = (out / "best" / "model.safetensors").read_bytes()
    last_before = (out / "last" / "model.safetensors").read_bytes()

    def full_disk(tensors, path, *args, **kwargs):
        with open(path, "wb") as f:
            f.write(b"partial")
        raise error

    monkeypatch.setattr(checkpoint_module, "save_file", full_disk)
    with pytest.raises(
        DataFileError,
        match=FULL,
    ):
        train_yield(_cfg(epochs=2), ds, out, resume=True, progress=False)
    assert (out / "best" / "model.safetensors").read_bytes() == best_before
    assert (out / "last" / "model.safetensors").read_bytes() == last_before
    assert load_checkpoint(out / "last", with_train_state=True)[2]["epoch"] == 0
    assert not [p.name for p in out.iterdir() if p.name.startswith(".")]  # no temporary folder left


# ---- 5. fingerprints --------------------------------------------------------------------------------


def test_a_dataset_that_fails_its_fingerprint_check_is_refused(trained, ds, tmp_path):
    class Replaced(DataFileError):
        pass

    other = load_dataset(ds.root)

    def verify_fingerprint():
        raise Replaced("cube.nc was replaced since the dataset was built")

    other.verify_fingerprint = verify_fingerprint
    with pytest.raises(Replaced, match="replaced"):
        train_yield(_cfg(), other, tmp_path / "run", progress=False)
    with pytest.raises(Replaced, match="replaced"):
        evaluate_yield(trained[0], other)
    with pytest.raises(Replaced, match="replaced"):
        evaluate_yield(trained[1], other)
    assert not (tmp_path / "run").exists()


# ---- diverged training under torchrun ---------------------------------------------------------------


@pytest.mark.slow
def test_every_torchrun_worker_stops_at_the_first_nan_loss(tiny_dataset_path, tmp_path):
    import os
    import subprocess
    import sys

    (tmp_path / "cfg.json").write_text(json.dumps({**TINY, "model": "semi-ha", "lr": 1e10}))
    out = tmp_path / "run"
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2", "-m", "geoapp", "train", "yield"]
    cmd += ["--config", "cfg.json", "--dataset", str(tiny_dataset_path), "--out", str(out), "--quiet"]
    proc = subprocess.run(
        cmd, cwd=tmp_path, env={**os.environ, "OMP_NUM_THREADS": "1"}, capture_output=True, text=True, timeout=240
    )
    assert proc.returncode != 0
    errors = [line for line in proc.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 2 and all("diverged in epoch 1, step" in line for line in errors)  # each worker, same step
    assert len({line.split(": the loss")[0] for line in errors}) == 1
    assert "best checkpoint" not in proc.stdout and not (out / "best").exists()


def test_cli_evaluate_without_a_dataset_uses_the_one_the_checkpoint_was_trained_on(
    trained, tiny_dataset_path, tmp_path, monkeypatch, capsys
):
    monkeypatch.setenv("GEOAPP_DATA_DIR", str(tiny_dataset_path.parent))  # holds the tiny dataset the card names
    assert main(["evaluate", "yield", "--checkpoint", str(trained[0]), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["year"] == 2016
    monkeypatch.setenv("GEOAPP_DATA_DIR", str(tmp_path / "elsewhere"))
    assert main(["evaluate", "yield", "--checkpoint", str(trained[0])]) == 2
    err = capsys.readouterr().err
    assert f"was trained on dataset '{tiny_dataset_path.name}', which is not in the data folder" in err
    assert "pass its folder with --dataset" in err
