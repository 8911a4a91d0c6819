"""Bad inputs found by a probe of training and checkpoints: each is refused with one line naming it.

Cards whose normalisation does not fit the model, weights that do not fit the card, ``--force`` on a
folder of a user's own files, a forced run that fails (the previous run is put back), wrong argument
types, seeds out of range and config messages that name only the field at fault.
"""

from __future__ import annotations

import json
import shutil

import pytest
from safetensors.torch import load_file, save_file

from geoapp.cli import main
from geoapp.data.dataset import load_dataset
from geoapp.errors import DataFileError, InputError
from geoapp.training.checkpoint import read_card
from geoapp.training.location_trainer import LocationTrainConfig
from geoapp.training.results import TrainingDiverged
from geoapp.training.ridge_trainer import train_ridge
from geoapp.training.yield_trainer import YieldTrainConfig, evaluate_yield, load_yield_model, train_yield

SMALL = {"embed_dim": 16, "cnn_width": 4, "heads": 2, "layers": 1, "ff_dim": 32}
TINY = dict(
    model="s-ha", test_year=2016, n_train_years=3, epochs=1, batch_size=16, max_train_examples=48,
    r_n_km=24.0, r_d_km=64.0, model_overrides=SMALL, device="cpu",
)  # fmt: skip


def _cfg(**kw) -> YieldTrainConfig:
    return YieldTrainConfig(**{**TINY, **kw})


@pytest.fixture(scope="module")
def ds(tiny_dataset_path):
    return load_dataset(tiny_dataset_path)


@pytest.fixture(scope="module")
def trained(ds, tmp_path_factory):
    """A finished one-epoch s-ha run on the tiny dataset (test year 2016): its best/ folder."""
    return train_yield(_cfg(), ds, tmp_path_factory.mktemp("trained") / "s-ha", progress=False)


def _copy_card(src, dst, edit):
    shutil.copytree(src, dst)
    card = json.loads((dst / "card.json").read_text())
    edit(card)
    (dst / "card.json").write_text(json.dumps(card))
    return dst


def _one_error_line(capsys) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    return err[0]


# ---- 1. normalisation of the card ----------------------------------------------------------------

BAD_NORMALISATION = {
    "fewer bands than in_channels": (
        lambda n: n.update(bands=["ndvi"]),
        r"normalisation.bands lists 1 band\(s\) \['ndvi'\] but the model takes in_channels=9",
    ),
    "an unknown band": (
        lambda n: n.update(bands=["ndvi", "evi", "lst_day", "lst_night", "ppt", "elevation", "sand", "silt", "mud"]),
        r"normalisation.bands .* holds unknown band\(s\) \['mud'\]; known bands: \['ndvi'",
    ),
    "a mean of the wrong width": (
        lambda n: n.update(mean=[row[:4] for row in n["mean"]]),
        r"normalisation.mean must have one row of 9 value\(s\) \(one per band\) per time step, got row widths \[4\]",
    ),
    "bands out of geoapp's order": (
        lambda n: n.update(bands=[n["bands"][1], n["bands"][0], *n["bands"][2:]]),
        r"normalisation.bands .* are not in geoapp's band order",
    ),
    "a mean beyond float32": (
        lambda n: n["mean"][0].__setitem__(0, 1e308),
        r"normalisation.mean must hold finite numbers \(within float32's range",
    ),
    "a std that is not positive": (
        lambda n: n.update(std=[[0.0] * len(row) for row in n["std"]]),
        r"normalisation.std must hold positive numbers",
    ),
}


@pytest.mark.parametrize("case", list(BAD_NORMALISATION))
def test_a_card_whose_normalisation_does_not_fit_the_model_is_refused(trained, ds, tmp_path, case):
    edit, match = BAD_NORMALISATION[case]
    bad = _copy_card(trained, tmp_path / "bad", lambda card: edit(card["normalisation"]))
    with pytest.raises(DataFileError, match=rf"checkpoint card .*card.json': {match}.*train the checkpoint again"):
        read_card(bad)
    with pytest.raises(DataFileError, match=match):
        evaluate_yield(bad, ds)


def test_cli_evaluate_of_a_card_with_wrong_bands_exits_2_with_one_line(trained, tiny_dataset_path, tmp_path, capsys):
    bad = _copy_card(trained, tmp_path / "bad", lambda card: card["normalisation"].update(bands=["ndvi"]))
    assert main(["evaluate", "yield", "--checkpoint", str(bad), "--dataset", str(tiny_dataset_path)]) == 2
    line = _one_error_line(capsys)
    assert line.startswith("error: checkpoint card") and "in_channels=9" in line
    assert "RMSE" not in capsys.readouterr().out


# ---- 2 and 4. --force never deletes a user's files; a failed forced run puts the old one back ---------


def test_force_refuses_a_best_folder_of_the_users_own_files(trained, ds, tmp_path, tiny_dataset_path, capsys):
    user = tmp_path / "U"
    (user / "best").mkdir(parents=True)
    (user / "best" / "mywork.txt").write_text("mine")
    with pytest.raises(InputError, match=r"geoapp will not replace a folder of other files: .*'best/mywork.txt'.*--out\)$"):
        train_yield(_cfg(), ds, user, force=True, progress=False)
    with pytest.raises(InputError, match=r"geoapp will not replace") as refused:
        train_ridge(ds, [2012, 2013, 2014], 2015, 2016, user, force=True)
    assert "--force" not in str(refused.value)
    argv = ["train", "yield", "--dataset", str(tiny_dataset_path), "--test-year", "2016", "--n-train-years", "3"]
    argv += ["--out", str(user), "--force", "--quiet"]
    assert main(argv) == 2
    line = _one_error_line(capsys)
    assert "geoapp will not replace" in line and "--force" not in line
    mixed = shutil.copytree(trained.parent, tmp_path / "mixed")  # a real run with the user's file added to best/
    (mixed / "best" / "notes.txt").write_text("mine")
    with pytest.raises(InputError, match=r"'best/notes.txt'"):
        train_ridge(ds, [2012, 2013, 2014], 2015, 2016, mixed, force=True)
    assert (user / "best" / "mywork.txt").read_text() == "mine" and (mixed / "best" / "notes.txt").exists()


def test_a_forced_run_that_diverges_puts_the_previous_run_back(trained, ds, tmp_path):
    shipped = shutil.copytree(trained.parent, tmp_path / "shipped")
    before = {p.relative_to(shipped): p.read_bytes() for p in shipped.rglob("*") if p.is_file()}
    with pytest.raises(TrainingDiverged):
        train_yield(_cfg(model="semi-ha", lr=1e10), ds, shipped, force=True, progress=False)
    after = {p.relative_to(shipped): p.read_bytes() for p in shipped.rglob("*") if p.is_file()}
    assert after == before  # best/, last/ and metrics as they were; nothing set aside is left
    best = train_ridge(ds, [2012, 2013, 2014], 2015, 2016, shipped, force=True)  # a forced run that succeeds
    assert read_card(best)["kind"] == "ridge" and not (shipped / ".previous-run").exists()


# ---- 3. argument types ---------------------------------------------------------------------------


def test_evaluate_yield_names_an_argument_of_the_wrong_type(trained, ds):
    with pytest.raises(InputError, match=r"ds must be a dataset from geoapp.data.dataset.load_dataset, got NoneType None"):
        evaluate_yield(trained, None)
    with pytest.raises(InputError, match=r"checkpoint must be a checkpoint folder path \(str or Path\), got NoneType None"):
        evaluate_yield(None, ds)
    with pytest.raises(InputError, match=r"ds must be a dataset .*got str"):
        load_yield_model(trained, str(ds.root))


# ---- 5 and 6. config values ----------------------------------------------------------------------


@pytest.mark.parametrize("seed", [-1, 2**63, 1e30, True, "1"])
def test_seeds_outside_0_to_2_63_are_refused(seed):
    with pytest.raises(InputError, match=r"seed must be (an integer in 0..2\*\*63-1|a whole number)"):
        YieldTrainConfig.from_dict({"seed": seed})
    with pytest.raises(InputError, match=r"seed must be"):
        LocationTrainConfig(seed=seed)


def test_bools_are_not_whole_numbers(tmp_path, capsys):
    with pytest.raises(InputError, match=r"n_train_years must be a whole number, got True \(bool\)"):
        YieldTrainConfig(n_train_years=True)
    with pytest.raises(InputError, match=r"n_train_years must be a whole number, got True \(bool\)"):
        YieldTrainConfig.from_dict({"n_train_years": True})
    assert YieldTrainConfig(epochs=3.0).epochs == 3.0 and YieldTrainConfig.from_dict({"epochs": 3.0}).epochs == 3


def test_cli_seed_minus_one_is_a_usage_error_not_an_internal_one(tiny_dataset_path, tmp_path, capsys):
    argv = ["train", "yield", "--dataset", str(tiny_dataset_path), "--out", str(tmp_path / "run"), "--quiet"]
    assert main([*argv, "--seed", "-1"]) == 2
    assert _one_error_line(capsys).startswith("error: seed must be an integer in 0..2**63-1, got -1")
    config = tmp_path / "cfg.json"
    config.write_text('{"seed": 1e30}')
    assert main([*argv, "--config", str(config)]) == 2
    assert "seed must be an integer in 0..2**63-1" in _one_error_line(capsys)
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize(
    ("flags", "match"),
    [
        (["--patch-px", "100000"], r"patch_px must be a whole number of pixels in 1..1024, got 100000$"),
        (["--footprint-km", "nan"], r"footprint_km must be a number of km in \(0, 10000\], got nan$"),
        (["--lr", "inf"], r"lr must be a finite positive number, got inf$"),
    ],
)
def test_location_config_messages_name_only_the_field_at_fault(flags, match, tmp_path, capsys):
    assert main(["train", "location", "--out", str(tmp_path / "loc"), "--quiet", *flags]) == 2
    line = _one_error_line(capsys)
    assert __import__("re").search(match, line), line
    assert "size_px" not in line and ("lr" not in line.split(":", 2)[-1] or flags[0] == "--lr")


# ---- 7 and 8. wording of the refusals ------------------------------------------------------------


def test_a_test_year_without_yields_is_named_once(ds, tmp_path):
    other = load_dataset(ds.root)
    other.yields = other.yields.assign(labelled=other.yields["labelled"] & (other.yields["year"] != 2016))
    with pytest.raises(InputError, match=r"^the test year 2016 has no labelled counties in dataset") as refused:
        train_yield(_cfg(), other, tmp_path / "run", progress=False)
    assert str(refused.value).count("2016") == 1
    other.yields = ds.yields.assign(labelled=ds.yields["labelled"] & (ds.yields["year"] != 2015))
    with pytest.raises(InputError, match=r"^the validation year 2015 \(the year before test year 2016\) has no labelled"):
        train_yield(_cfg(), other, tmp_path / "run", progress=False)


@pytest.mark.parametrize("field", ["normalisation", "years"])
def test_a_crop_yield_card_missing_a_field_names_the_field(trained, ds, tmp_path, field):
    bad = _copy_card(trained, tmp_path / "bad", lambda card: card.pop(field))
    with pytest.raises(DataFileError, match=rf"'{field}' must (be|hold)") as refused:
        evaluate_yield(bad, ds)
    assert "not a crop-yield model" not in str(refused.value)


def _edit_weights(folder, edit):
    weights = load_file(str(folder / "model.safetensors"))
    edit(weights)
    save_file(weights, str(folder / "model.safetensors"))


def test_weights_that_do_not_fit_the_card_are_named_in_one_line(trained, ds, tmp_path):
    wrong = shutil.copytree(trained, tmp_path / "wrong")
    name = next(k for k, v in load_file(str(wrong / "model.safetensors")).items() if v.ndim == 4 and v.shape[1] == 9)
    _edit_weights(wrong, lambda w: w.update({name: w[name][:, :4].contiguous()}))
    with pytest.raises(
        DataFileError,
        match=rf"the weights do not fit the card's model: 1 tensor differs, e\.g\. {name} \(\d+, 4, 3, 3\) vs \(\d+, 9, 3, 3\) "
        r"\(weights vs model\); the checkpoint is damaged or from another geoapp version$",
    ) as refused:
        load_yield_model(wrong)
    assert "\n" not in str(refused.value)
    missing = shutil.copytree(trained, tmp_path / "missing")
    _edit_weights(missing, lambda w: w.pop(name))
    with pytest.raises(DataFileError, match=rf"1 tensor differs, e\.g\. {name} is missing from the weights"):
        evaluate_yield(missing, ds)
    channels = _copy_card(trained, tmp_path / "channels", lambda card: card["model_config"].update(in_channels=4))
    with pytest.raises(DataFileError, match=r"lists 9 band\(s\) .* but the model takes in_channels=4"):
        evaluate_yield(channels, ds)


def test_weights_replaced_by_a_folder_are_named_as_a_folder(trained, ds, tmp_path):
    bad = shutil.copytree(trained, tmp_path / "bad")
    (bad / "model.safetensors").unlink()
    (bad / "model.safetensors").mkdir()
    with pytest.raises(DataFileError, match=r"model.safetensors' is a folder where a file was expected"):
        evaluate_yield(bad, ds)


def test_a_checkpoint_of_another_dataset_says_what_to_do(trained, ds, tmp_path):
    other = _copy_card(trained, tmp_path / "other", lambda card: card["dataset"].update(fingerprint="0000", name="corn"))
    with pytest.raises(
        InputError,
        match=r"checkpoint does not match: fingerprint: .*; evaluate it on the dataset it was trained on \('corn'\), "
        r"or retrain on this one$",
    ):
        evaluate_yield(other, ds)


def test_json_nested_too_deeply_is_a_garbled_file_not_an_internal_error(trained, tiny_dataset_path, tmp_path, capsys):
    deep = "[" * 100_000 + "]" * 100_000
    card = shutil.copytree(trained, tmp_path / "deep_card")
    (card / "card.json").write_text(deep)
    with pytest.raises(DataFileError, match="is garbled"):
        read_card(card)
    data = shutil.copytree(tiny_dataset_path, tmp_path / "deep_dataset")
    (data / "dataset.json").write_text(deep)
    assert main(["data", "info", "--path", str(data)]) == 2
    assert "garbled" in _one_error_line(capsys)


@pytest.mark.parametrize("field", ["embed_dim", "cnn_width", "ff_dim", "layers"])
def test_model_sizes_beyond_memory_are_refused_before_allocating(field):
    from geoapp.models.yield_models import INT_FIELD_MAX, YieldModelConfig

    huge = 10**12 if field != "embed_dim" else 10**12 * 8  # even and divisible by the heads
    with pytest.raises(InputError, match=rf"config field '{field}' must be at most {INT_FIELD_MAX[field]}"):
        YieldModelConfig(**{field: huge})


def test_analysis_functions_name_arguments_of_the_wrong_type(trained, ds):
    import pandas as pd

    from geoapp.analysis.ablation import retrain_ablation, what_if_ablation
    from geoapp.analysis.yield_predictions import compare_on_year, predictions_for_year, yield_checkpoints

    with pytest.raises(InputError, match="ds must be a dataset from geoapp.data.dataset.load_dataset, got DataFrame"):
        predictions_for_year(trained, pd.DataFrame(), 2016)
    with pytest.raises(InputError, match="root must be"):
        compare_on_year(ds, 2016, root=5)
    with pytest.raises(InputError, match="ds must be a dataset"):
        yield_checkpoints(None)
    with pytest.raises(InputError, match="ds must be a dataset"):
        what_if_ablation(trained, None, 2016)
    with pytest.raises(InputError, match="checkpoint must be a checkpoint folder path"):
        retrain_ablation(b"/tmp", ds)
    with pytest.raises(InputError, match="ds must be a dataset"):
        retrain_ablation(trained, 3)


def test_ridge_weights_that_do_not_fit_the_card_are_one_line():
    import torch

    from geoapp.training.ridge_trainer import load_ridge

    weights = {k: torch.zeros(63 if k != "intercept" else 1, dtype=torch.float64) for k in ("mean", "scale", "coef")}
    weights["intercept"] = torch.zeros(1, dtype=torch.float64)
    with pytest.raises(DataFileError, match=r"does not fit its own card: n_features=10 but the weights hold") as info:
        load_ridge("ridge-run/best", weights, {"n_features": 10})
    assert "\n" not in str(info.value)
