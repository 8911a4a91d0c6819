"""Public functions given an argument of the wrong type or out of range raise a geoapp error naming it.

Never a bare TypeError, AttributeError, KeyError or MemoryError from deep inside: the dataset summary,
the attention analysis, the galleries, the job runner and status files, checkpoints and resuming,
the dataset's years, and the command line's flags (an empty path, flags that do not apply).
"""

from __future__ import annotations

import json
import math
import os
import shutil

import numpy as np
import pytest
import torch

from geoapp.analysis.attention import attention_for_year
from geoapp.analysis.warm import all_fresh, inputs_stamp, warm, warm_tasks
from geoapp.cli import main
from geoapp.data import galleries
from geoapp.data.dataset import (
    build_default_dataset,
    check_output_folder,
    dataset_year,
    default_dataset_path,
    is_dataset_folder,
    list_datasets,
    save_simulated,
)
from geoapp.data.nass_api import fetch_county_yields
from geoapp.data.summary import dataset_summary, format_summary
from geoapp.errors import DataFileError, InputError
from geoapp.jobs.runner import JobRunner
from geoapp.jobs.status import BROKEN, load_status, read_status, write_status
from geoapp.training import checkpoint
from geoapp.training.resume import resume_from_last, train_state

JOB = "20260101-000000-000001"


@pytest.fixture()
def job_root(tmp_path):
    """A jobs folder with one finished job whose log holds five lines."""
    root = tmp_path / "jobs"
    folder = root / JOB
    folder.mkdir(parents=True)
    (folder / "spec.json").write_text(json.dumps({"kind": "yield", "name": "run", "config": {}}))
    (folder / "status.json").write_text(json.dumps({"job_id": JOB, "state": "finished", "kind": "yield", "name": "run"}))
    (folder / "log.txt").write_text("".join(f"line {i}\n" for i in range(5)))
    return root


def _one_error_line(capsys) -> str:
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and err.startswith("error: "), err
    return err


# ---- the dataset summary -------------------------------------------------------------------------
@pytest.mark.parametrize("value", [None, "data/corn_belt_sim_demo", 5, {}])
def test_dataset_summary_names_a_dataset_argument_of_the_wrong_type(value):
    with pytest.raises(InputError, match=r"ds must be a dataset from geoapp.data.dataset.load_dataset, got "):
        dataset_summary(value)


def test_dataset_summary_refuses_a_check_files_that_is_not_a_bool(ds):
    with pytest.raises(InputError, match="check_files must be True or False"):
        dataset_summary(ds, check_files="yes")


@pytest.mark.parametrize("value", [{}, None, [1, 2], "text", {1: "a"}])
def test_format_summary_names_a_summary_of_the_wrong_type(value):
    with pytest.raises(InputError, match="summary must be a non-empty dict of text keys"):
        format_summary(value)


# ---- attention -----------------------------------------------------------------------------------
@pytest.mark.parametrize("folder", [None, 5, ["a"]])
def test_attention_for_year_names_a_checkpoint_of_the_wrong_type(folder, ds):
    with pytest.raises(InputError, match="checkpoint must be a checkpoint folder path"):
        attention_for_year(folder, ds, 2015)


@pytest.mark.parametrize("dataset", [None, "data/corn_belt_sim_demo", 5])
def test_attention_for_year_names_a_dataset_of_the_wrong_type(dataset, ridge):
    with pytest.raises(InputError, match="ds must be a dataset from geoapp.data.dataset.load_dataset"):
        attention_for_year(ridge, dataset, 2015)


@pytest.mark.parametrize("year", ["2015", True, 2015.0, None, [2015]])
def test_attention_for_year_refuses_a_year_that_is_not_a_whole_number(year, ridge, ds):
    with pytest.raises(InputError, match="year must be a whole number"):
        attention_for_year(ridge, ds, year)


def test_attention_of_a_ridge_checkpoint_says_ridge_has_none_and_names_the_models_that_do(ridge, ds):
    with pytest.raises(InputError) as info:
        attention_for_year(ridge, ds, 2015)
    message = str(info.value)
    assert "ridge model, which has no attention" in message
    assert "'semi-ha', 'semi-ha-loc', 's-ha', 'semi-sa'" in message and "crop-yield models: [" not in message


# ---- a dataset's years ---------------------------------------------------------------------------
@pytest.mark.parametrize("year", ["2015", True, np.bool_(True), 2015.0, 2015.7, None])
def test_dataset_year_accepts_only_whole_numbers(year, ds):
    with pytest.raises(InputError, match="year must be a whole number"):
        dataset_year(ds, year)


def test_dataset_year_keeps_whole_numbers_and_names_the_years_held(ds):
    assert dataset_year(ds, 2015) == 2015 and dataset_year(ds, np.int64(2015)) == 2015
    with pytest.raises(InputError, match=r"year 1990 is not in dataset .* it holds 2012..2016"):
        dataset_year(ds, 1990)
    with pytest.raises(InputError, match="ds must be a dataset from load_dataset"):
        dataset_year(None, 2015)


@pytest.mark.parametrize("year", [True, 2015.5, 2015.0, "2015.5", "abc", [2015]])
def test_a_datasets_labelled_rows_of_a_year_need_a_whole_number(year, ds):
    with pytest.raises(InputError, match="year must be a whole number"):
        ds.labelled(year)
    with pytest.raises(InputError, match="year must be a whole number"):
        ds.year_yields(year)
    assert len(ds.labelled(2015)) == len(ds.year_yields(2015)) > 0
    assert ds.year_yields("2015").equals(ds.year_yields(2015))  # the digits of a year, as a table gives them


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda: is_dataset_folder(None), "path must be a path"),
        (lambda: check_output_folder(None, False), "out must be a path"),
        (lambda: check_output_folder("x", "yes"), "force must be True or False"),
        (lambda: default_dataset_path(["demo"]), "unknown dataset configuration"),
        (lambda: default_dataset_path(None), "unknown dataset configuration"),
        (lambda: build_default_dataset(out_dir=5), "out_dir must be a path"),
        (lambda: list_datasets(3.5), "root must be a path"),
        (lambda: save_simulated(None, "x"), "sim must be a SimulatedDataset"),
    ],
)
def test_dataset_functions_name_an_argument_of_the_wrong_type(call, match):
    with pytest.raises(InputError, match=match):
        call()


# ---- galleries -----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"n": 10**12}, r"n must be at most 1,000,000 land points \(MAX_LAND_GALLERY_SIZE\), got 1,000,000,000,000"),
        ({"n": galleries.MAX_LAND_GALLERY_SIZE + 1}, "n must be at most 1,000,000"),
        ({"n": 0}, "n must be a whole number of at least 1, got 0"),
        ({"n": -5}, "n must be a whole number of at least 1"),
        ({"n": "100"}, "n must be a whole number, got str '100'"),
        ({"n": 100.0}, "n must be a whole number, got float"),
        ({"n": True}, "n must be a whole number, got bool"),
        ({"n": None}, "n must be a whole number, got NoneType"),
        ({"seed": "x"}, "seed must be a whole number, got str 'x'"),
        ({"seed": -1}, "seed must be a whole number of at least 0, got -1"),
        ({"seed": 1.5}, "seed must be a whole number, got float"),
        ({"seed": [1]}, "seed must be a whole number, got list"),
    ],
)
def test_a_land_gallery_of_an_impossible_size_or_seed_is_refused_before_any_work(kwargs, match):
    with pytest.raises(InputError, match=match):
        galleries.load_gallery("land", **kwargs)
    with pytest.raises(InputError, match=match):
        galleries.land_gallery(**kwargs)


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda: galleries.load_gallery(None), "name must be a gallery name"),
        (lambda: galleries.load_gallery(["land"]), "name must be a gallery name"),
        (lambda: galleries.Gallery("g", "abc"), "coords must be an \\(N, 2\\) array"),
        (lambda: galleries.Gallery("g", [[0.0, "x"]]), "coords must be an \\(N, 2\\) array"),
        (lambda: galleries.GalleryEmbeddingCache(5), "cache_dir must be a path"),
        (lambda: galleries.cached_gallery_embeddings(5, None, "fp"), "gallery must be a Gallery"),
    ],
)
def test_gallery_functions_name_an_argument_of_the_wrong_type(call, match):
    with pytest.raises(InputError, match=match):
        call()


def test_a_gallery_cache_refuses_an_encoder_that_is_not_a_function(tmp_path):
    gallery = galleries.Gallery("two", np.array([[0.0, 0.0], [10.0, 20.0]]))
    cache = galleries.GalleryEmbeddingCache(tmp_path)
    with pytest.raises(InputError, match="encoder_fn must be a function"):
        cache.get(gallery, "not a function", "fp", progress=False)
    with pytest.raises(InputError, match="progress must be True or False"):
        cache.get(gallery, lambda lat, lon: torch.ones(len(lat), 3), "fp", progress="no")


# ---- the job runner ------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"root": 5}, "root must be a path"),
        ({"root": ""}, "root is an empty path"),
        ({"grace_s": "x"}, "grace_s must be a number of seconds, got str 'x'"),
        ({"grace_s": None}, "grace_s must be a number of seconds"),
        ({"grace_s": True}, "grace_s must be a number of seconds, got bool"),
        ({"grace_s": math.nan}, "grace_s must be a non-negative number of seconds"),
        ({"grace_s": math.inf}, "grace_s must be a non-negative number of seconds"),
        ({"grace_s": -1}, "grace_s must be a non-negative number of seconds"),
    ],
)
def test_a_job_runner_of_a_wrong_root_or_grace_is_refused(kwargs, match, tmp_path):
    kwargs = {"root": tmp_path / "jobs", **kwargs}
    with pytest.raises(InputError, match=match):
        JobRunner(**kwargs)


@pytest.mark.parametrize(
    "lines, match",
    [
        ("x", "lines must be a whole number, got str 'x'"),
        (None, "lines must be a whole number, got NoneType"),
        (2.5, "lines must be a whole number, got float 2.5"),
        (True, "lines must be a whole number, got bool"),
        (-3, "lines must be a whole number of at least 0, got -3"),
    ],
)
def test_a_job_log_of_an_impossible_number_of_lines_is_refused(lines, match, job_root):
    with pytest.raises(InputError, match=match):
        JobRunner(job_root).log(JOB, lines)


def test_a_job_log_of_zero_lines_is_empty_and_of_n_lines_the_last_n(job_root):
    runner = JobRunner(job_root)
    assert runner.log(JOB, 0) == []
    assert runner.log(JOB, 2) == ["line 3", "line 4"] and len(runner.log(JOB)) == 5
    with pytest.raises(InputError, match="no training job '20260101-000000-000009'"):
        runner.log("20260101-000000-000009", 2)


@pytest.mark.parametrize("spec", [None, {"kind": "yield", "name": "run"}, "yield"])
def test_a_job_start_or_run_folder_of_something_but_a_spec_is_refused(spec, tmp_path):
    runner = JobRunner(tmp_path / "jobs")
    for call in (runner.start, runner.run_folder):
        with pytest.raises(InputError, match="spec must be a geoapp.jobs.spec.JobSpec"):
            call(spec)
    assert not (tmp_path / "jobs").exists()  # refused before the jobs folder was made


def test_a_jobs_folder_that_is_a_file_is_named_by_every_reader(tmp_path):
    root = tmp_path / "jobs"
    root.write_text("not a folder")
    runner = JobRunner(root)
    for call in (runner.active_job, runner.lock_holder, runner.list_jobs):
        with pytest.raises(DataFileError, match="the jobs folder .* is a file; set GEOAPP_JOBS_DIR to a folder"):
            call()
    assert root.read_text() == "not a folder"


@pytest.mark.parametrize("timeout", ["x", -1, math.nan, None])
def test_a_job_kill_of_an_impossible_timeout_is_refused(timeout, job_root):
    with pytest.raises(InputError, match="timeout must be a"):
        JobRunner(job_root).kill(JOB, timeout=timeout)


# ---- job status files ----------------------------------------------------------------------------
@pytest.mark.parametrize(
    "fields, reason",
    [
        ({"kind": "location"}, r"its kind 'location' contradicts the job's spec.json \(kind 'yield'\)"),
        ({"name": "someone-else"}, r"its name 'someone-else' contradicts the job's spec.json \(name 'run'\)"),
        ({"job_id": "20250101-000000-000002"}, r"it names job '20250101-000000-000002', but it is in the folder of job"),
        ({"updated": math.nan}, r"field 'updated' is nan, expected a finite number of seconds"),
        ({"created": math.inf}, r"field 'created' is inf, expected a finite number of seconds"),
        ({"finished": 10**400}, r"field 'finished' is 10+, expected a finite number of seconds"),  # beyond float's range
    ],
)
def test_a_status_that_contradicts_its_job_or_holds_a_nan_time_is_listed_as_broken(fields, reason, job_root):
    folder = job_root / JOB
    status = {"job_id": JOB, "state": "finished", "kind": "yield", "name": "run", "updated": 1.0e9, **fields}
    (folder / "status.json").write_text(json.dumps(status))  # json writes NaN and Infinity as Python reads them
    with pytest.raises(DataFileError, match=reason):
        load_status(folder)
    broken = read_status(folder)
    assert broken["state"] == BROKEN and broken["kind"] == "yield" and broken["name"] == "run"
    listed = JobRunner(job_root).list_jobs()
    assert [s["state"] for s in listed] == [BROKEN] and "status.json" in listed[0]["error"]
    assert write_status(folder, state="failed")["state"] == "failed"  # a write drops what cannot be used
    after = load_status(folder)  # readable again: the field at fault is gone (a write stamps a new 'updated')
    assert after["state"] == "failed" and not any(after.get(key) == value for key, value in fields.items())


def test_an_active_status_with_a_nan_update_time_is_broken_not_trusted(job_root):
    folder = job_root / JOB
    (folder / "status.json").write_text(json.dumps({"job_id": JOB, "state": "starting", "updated": math.nan}))
    assert JobRunner(job_root).status(JOB)["state"] == BROKEN


# ---- checkpoints ---------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "name",
    ["ensure_writable", "has_last_checkpoint", "clear_previous_run", "settle_previous_run", "remove_if_unused", "read_card"],
)
@pytest.mark.parametrize("folder", [None, 5, b"bytes", ""])
def test_checkpoint_functions_name_a_folder_of_the_wrong_type(name, folder):
    with pytest.raises(InputError, match="folder (must be a path|is an empty path)"):
        getattr(checkpoint, name)(folder)


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda: checkpoint.check_card(None), "card must be a checkpoint card"),
        (lambda: checkpoint.check_card("card", fingerprint="abc"), "card must be a checkpoint card"),
        (lambda: checkpoint.optimizer_to_flat(None), r"state must be an optimizer's state_dict\(\)"),
        (lambda: checkpoint.optimizer_to_flat({}), r"state must be an optimizer's state_dict\(\)"),
        (lambda: checkpoint.optimizer_to_flat({"state": {0: 1}, "param_groups": []}), "state must be an optimizer's"),
        (lambda: checkpoint.optimizer_from_flat({}, {}), "meta must be a dict with the 'param_groups' list"),
        (lambda: checkpoint.optimizer_from_flat(None, {"param_groups": []}), "tensors must be a dict of tensors"),
        (lambda: checkpoint.optimizer_from_flat({}, {"param_groups": [], "scalars": 5}), r"meta\['scalars'\] must be a dict"),
        (
            lambda: checkpoint.optimizer_from_flat({"exp_avg": torch.zeros(1)}, {"param_groups": []}),
            "optimizer state key 'exp_avg' is not '<parameter index>.<name>'",
        ),
        (lambda: checkpoint.list_checkpoints(5), "root must be a path"),
        (lambda: checkpoint.list_checkpoints("x", broken="y"), "broken must be a list"),
        (lambda: checkpoint.ensure_writable("x", force="yes"), "force must be True or False"),
        (lambda: checkpoint.load_checkpoint(None), "folder must be a path"),
        (lambda: checkpoint.load_checkpoint("x", with_train_state=1), "with_train_state must be True or False"),
        (lambda: checkpoint.save_checkpoint(None, torch.nn.Linear(1, 1), {}), "folder must be a path"),
        (lambda: checkpoint.save_checkpoint("x", None, {}), "model must be a torch.nn.Module"),
        (lambda: checkpoint.save_checkpoint("x", torch.nn.Linear(1, 1), None), "card must be a dict"),
        (lambda: checkpoint.save_checkpoint("x", torch.nn.Linear(1, 1), {}, optimizer=5), "optimizer must be a"),
        (lambda: checkpoint.check_weights_fit(None, {}, "x"), "model must be a torch.nn.Module"),
        (lambda: checkpoint.check_weights_fit(torch.nn.Linear(1, 1), None, "x"), "weights must be a dict of tensors"),
        (lambda: checkpoint.validate_card({}, None), "path must be a path"),
    ],
)
def test_checkpoint_functions_name_other_arguments_of_the_wrong_type(call, match):
    with pytest.raises(InputError, match=match):
        call()


def test_optimizer_state_survives_the_flat_round_trip():
    model = torch.nn.Linear(2, 1)
    opt = torch.optim.AdamW(model.parameters())
    model(torch.ones(3, 2)).sum().backward()
    opt.step()
    tensors, meta = checkpoint.optimizer_to_flat(opt.state_dict())
    back = checkpoint.optimizer_from_flat(tensors, json.loads(json.dumps(meta)))
    torch.optim.AdamW(model.parameters()).load_state_dict(back)
    assert torch.equal(back["state"][0]["exp_avg"], opt.state_dict()["state"][0]["exp_avg"])


def test_list_checkpoints_of_none_is_the_checkpoint_folder(ridge, monkeypatch):
    monkeypatch.setenv("GEOAPP_CHECKPOINT_DIR", str(ridge.parent.parent))
    assert [folder for folder, _ in checkpoint.list_checkpoints(None)] == [ridge]
    assert checkpoint.list_checkpoints() == checkpoint.list_checkpoints(ridge.parent.parent)


def test_clear_previous_run_refuses_a_folder_that_is_not_a_run_folder_on_its_own(tmp_path, ridge):
    user = tmp_path / "documents"
    (user / "best").mkdir(parents=True)
    (user / "best" / "thesis.tex").write_text("mine")
    with pytest.raises(InputError, match=r"does not look like a geoapp run folder: .*'best/thesis.tex'"):
        checkpoint.clear_previous_run(user)
    assert (user / "best" / "thesis.tex").read_text() == "mine" and not (user / ".previous-run").exists()
    (tmp_path / "a-file").write_text("mine")
    with pytest.raises(InputError, match="is a file; expected the folder of a training run"):
        checkpoint.clear_previous_run(tmp_path / "a-file")
    metrics = tmp_path / "odd"
    (metrics / "metrics.jsonl").mkdir(parents=True)
    with pytest.raises(InputError, match="'metrics.jsonl'"):
        checkpoint.clear_previous_run(metrics)


def test_clear_previous_run_sets_a_run_aside_and_leaves_other_files(tmp_path, ridge):
    run = tmp_path / "run"
    run.mkdir()
    shutil.copytree(ridge, run / "best")
    (run / "metrics.jsonl").write_text("{}\n")
    (run / "notes.txt").write_text("mine")
    checkpoint.clear_previous_run(run)
    assert (run / ".previous-run" / "best" / "card.json").is_file() and (run / ".previous-run" / "metrics.jsonl").is_file()
    assert not (run / "best").exists() and (run / "notes.txt").read_text() == "mine"
    checkpoint.settle_previous_run(run)  # the new run wrote no best/: the previous one is put back
    assert (run / "best" / "card.json").is_file() and not (run / ".previous-run").exists()
    checkpoint.clear_previous_run(tmp_path / "new")  # a folder that does not exist yet holds nothing to set aside


# ---- resuming ------------------------------------------------------------------------------------
def _training_objects():
    model = torch.nn.Linear(2, 1)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    sched = torch.optim.lr_scheduler.StepLR(opt, 1)
    return model, opt, sched, torch.amp.GradScaler("cuda", enabled=False)


@pytest.mark.parametrize(
    "change, match",
    [
        ({"folder": None}, "folder must be a path"),
        ({"model": None}, "model must be a torch.nn.modules.module.Module"),
        ({"optimizer": "sgd"}, "optimizer must be a torch.optim"),
        ({"scheduler": 5}, "scheduler must be a torch.optim"),
        ({"scaler": None}, "scaler must be a torch.amp.GradScaler"),
        ({"steps_per_epoch": "10"}, "steps_per_epoch must be a whole number"),
        ({"steps_per_epoch": 0}, "steps_per_epoch must be a whole number of at least 1"),
        ({"epochs": 2.0}, "epochs must be a whole number"),
        ({"expected": [1]}, "expected must be a dict"),
    ],
)
def test_resume_from_last_names_an_argument_of_the_wrong_type(change, match, tmp_path):
    model, opt, sched, scaler = _training_objects()
    args = {"folder": tmp_path / "last", "model": model, "optimizer": opt, "scheduler": sched, "scaler": scaler}
    args.update(steps_per_epoch=10, epochs=2, expected=None)
    args.update(change)
    with pytest.raises(InputError, match=match):
        resume_from_last(**args)


def test_train_state_names_a_scaler_of_the_wrong_type():
    with pytest.raises(InputError, match="scaler must be a torch.amp.GradScaler"):
        train_state(None, epoch=0)


# ---- warm-up -------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "call, match",
    [
        (lambda: warm_tasks(""), "dataset is an empty path"),
        (lambda: warm(" ", progress=False), "dataset is an empty path"),
        (lambda: all_fresh(""), "dataset is an empty path"),
        (lambda: inputs_stamp(5, False, True), "dataset must be a path"),
        (lambda: warm_tasks(None, all_years="yes"), "all_years must be True or False"),
        (lambda: all_fresh(None, galleries=1), "galleries must be True or False"),
        (lambda: warm(None, progress=None), "progress must be True or False"),
    ],
)
def test_warm_up_refuses_an_empty_dataset_path_rather_than_warming_the_default(call, match):
    with pytest.raises(InputError, match=match):
        call()


# ---- the command line ----------------------------------------------------------------------------
@pytest.mark.parametrize(
    "argv, flag",
    [
        (["warm", "--dataset", ""], "--dataset"),
        (["warm", "--dataset", "  "], "--dataset"),
        (["train", "yield", "--dataset", ""], "--dataset"),
        (["evaluate", "yield", "--checkpoint", ""], "--checkpoint"),
        (["data", "info", "--path", ""], "--path"),
        (["data", "build", "--out", ""], "--out"),
        (["train", "location", "--config", ""], "--config"),
    ],
)
def test_an_empty_path_flag_is_refused_not_read_as_the_default(argv, flag, capsys, tmp_path, monkeypatch):
    monkeypatch.setenv("GEOAPP_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("GEOAPP_CHECKPOINT_DIR", str(tmp_path / "checkpoints"))
    assert main(argv) == 2
    assert f"{flag} is empty; expected a path" in _one_error_line(capsys)
    assert not (tmp_path / "data").exists() and not (tmp_path / "checkpoints").exists()


@pytest.mark.parametrize(
    "flags",
    [
        ["--tile-px", "8"],
        ["--resolution-km", "2"],
        ["--crop-codes", "5"],
        ["--name", "mine"],
        ["--commodity", "CORN"],
        ["--plausible-yield", "0,300"],
        ["--yields", "y.csv"],
    ],
)
def test_build_flags_of_a_build_from_files_are_refused_without_a_manifest(flags, capsys, tmp_path):
    out = tmp_path / "ds"
    assert main(["data", "build", "--out", str(out), "--quiet", *flags]) == 2
    err = _one_error_line(capsys)
    assert f"{flags[0]} applies to a build from your files (with --manifest)" in err and "--config" in err
    assert not out.exists()  # refused before the simulation


def test_fetch_nass_checks_out_before_any_request(tmp_path, capsys, monkeypatch):
    import geoapp.data.nass_api as nass_api

    def no_request(*args, **kwargs):  # pragma: no cover - reached only if --out were checked too late
        raise AssertionError("a request was made before --out was checked")

    monkeypatch.setattr(nass_api, "QuickStatsClient", no_request)
    folder = tmp_path / "downloads"
    folder.mkdir()
    (folder / "keep.csv").write_text("mine")
    argv = ["data", "fetch-nass", "--states", "IA", "--years", "2018", "--key", "k", "--out", str(folder)]
    assert main(argv) == 2
    assert "is a folder; give the CSV file to write" in _one_error_line(capsys)
    assert (folder / "keep.csv").read_text() == "mine"
    blocker = tmp_path / "a-file"
    blocker.write_text("mine")
    with pytest.raises(DataFileError, match="is a file, not a folder"):
        fetch_county_yields("SOYBEANS", ["IA"], (2018, 2018), blocker / "y.csv", key="k")


# ---- found by a wider probe: the job machinery, Quick Stats years, gallery caches, attention inputs ----
def _jobs_calls(tmp_path):
    from geoapp.jobs import lock, processes, ranks, spec, status, worker

    return [
        (lambda: spec.JobSpec(["yield"], "x"), "unknown job kind \\['yield'\\]"),
        (lambda: spec.JobSpec("yield", "x", dataset=5), "dataset must be a dataset folder as text"),
        (lambda: spec.JobSpec.from_dict(None), "a job spec must be a JSON object"),
        (lambda: spec.JobSpec.from_dict([1]), "a job spec must be a JSON object"),
        (lambda: spec.JobSpec("yield", "x").check_run_folder(None, tmp_path), "out must be a path"),
        (lambda: spec.JobSpec("yield", "x").check_run_folder(tmp_path, None), "checkpoints must be a path"),
        (lambda: status.read_status(None), "job_dir must be a path"),
        (lambda: status.load_status(5), "job_dir must be a path"),
        (lambda: status.write_status(None, state="failed"), "job_dir must be a path"),
        (lambda: status.broken_status(None, "why"), "job_dir must be a path"),
        (lambda: status.spec_kind_and_name(None), "job_dir must be a path"),
        (lambda: status.log_tail(None), "job_dir must be a path"),
        (lambda: status.log_tail(tmp_path, "x"), "lines must be a whole number"),
        (lambda: status.log_tail(tmp_path, -1), "lines must be a whole number of at least 0"),
        (lambda: lock.release_lock(None, "x"), "root must be a path"),
        (lambda: lock.WorkspaceLock(None, lambda job_id: False), "root must be a path"),
        (lambda: lock.WorkspaceLock(tmp_path, None), "job_active must be a function"),
        (lambda: processes.start_ticks("x"), "pid must be a whole number"),
        (lambda: processes.find_process(1.5), "pid must be a whole number, got float 1.5"),
        (lambda: processes.process_alive(True), "pid must be a whole number, got bool"),
        (lambda: processes.find_process(os.getpid(), "x"), "start_ticks must be a whole number"),
        (lambda: processes.descendants("x"), "pid must be a whole number"),
        (lambda: processes.kill_process_trees(None), "roots must be an iterable of psutil.Process"),
        (lambda: processes.kill_process_trees([os.getpid()]), "roots must be an iterable of psutil.Process"),
        (lambda: processes.kill_process_trees([], timeout=math.nan), "timeout must be a non-negative number"),
        (lambda: ranks.rank_pid_file(None, 0), "job_dir must be a path"),
        (lambda: ranks.rank_pid_file(tmp_path, "x"), "rank must be a whole number"),
        (lambda: ranks.rank_error_file(tmp_path, -1), "rank must be a whole number of at least 0"),
        (lambda: ranks.rank_processes(None), "job_dir must be a path"),
        (lambda: ranks.first_rank_error(None), "job_dir must be a path"),
        (lambda: ranks.clear_rank_files(None), "job_dir must be a path"),
        (lambda: worker.run_job(None), "job_dir must be a path"),
        (lambda: worker.run_job(tmp_path, resume="yes"), "resume must be True or False"),
        (lambda: worker.StatusMonitor(None), "job_dir must be a path"),
        (lambda: worker.StatusMonitor(tmp_path, interval_s="x"), "interval_s must be a number of seconds"),
    ]


def test_the_job_machinery_names_an_argument_of_the_wrong_type(tmp_path):
    for call, match in _jobs_calls(tmp_path):
        with pytest.raises(InputError, match=match):
            call()
    assert not os.listdir(tmp_path)  # nothing was written on the way


def test_process_lookups_keep_none_and_impossible_pids_as_no_process():
    from geoapp.jobs.processes import find_process, process_alive, start_ticks

    assert find_process(None) is None and not process_alive(0) and not process_alive(-5) and start_ticks(None) is None
    assert not process_alive(2**70)  # no such pid: not an error, no process
    assert find_process(os.getpid()).pid == os.getpid()


def test_a_worker_refuses_a_job_whose_status_contradicts_its_spec(job_root, monkeypatch, capsys):
    from geoapp.jobs.worker import run_job

    monkeypatch.setenv("GEOAPP_CHECKPOINT_DIR", str(job_root.parent / "checkpoints"))
    folder = job_root / JOB
    status = {"job_id": JOB, "state": "starting", "kind": "location", "name": "run", "pid": os.getpid()}
    (folder / "status.json").write_text(json.dumps(status))
    assert run_job(folder) == 1
    assert "contradicts the job's spec.json (kind 'yield')" in capsys.readouterr().out
    after = load_status(folder)
    assert after["state"] == "failed" and "contradicts" in after["error"] and "kind" not in after
    assert not (job_root.parent / "checkpoints").exists()  # nothing trained


@pytest.mark.parametrize(
    "years, match",
    [
        ((2018.7, 2019), r"years \(2018.7, 2019\): expected \(first, last\), two whole years"),
        (("2018", "2019"), "two whole years"),
        ((True, 2019), "two whole years"),
        ((2018,), r"expected \(first, last\)"),
        (2018, r"expected \(first, last\)"),
        ("2003-2018", r"expected \(first, last\)"),
    ],
)
def test_a_quick_stats_year_range_takes_two_whole_years(years, match, tmp_path):
    with pytest.raises(InputError, match=match):
        fetch_county_yields("SOYBEANS", ["IA"], years, tmp_path / "y.csv", key="k")


@pytest.mark.parametrize("text", [None, 2018, ["2018"]])
def test_parse_years_names_a_value_that_is_not_text(text):
    from geoapp.data.nass_api import parse_years

    with pytest.raises(InputError, match="years must be text such as '2003-2018'"):
        parse_years(text)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"retries": 10**12}, r"retries=1000000000000.*at most 20"),
        ({"backoff_s": 1e300}, r"backoff_s >= 0 \(at most 60 s\)"),
    ],
)
def test_a_quick_stats_client_that_would_retry_for_days_is_refused(kwargs, match):
    from geoapp.data.nass_api import QuickStatsClient

    with pytest.raises(InputError, match=match):
        QuickStatsClient("key", **kwargs)


def test_quick_stats_retries_wait_at_most_a_minute_each():
    from geoapp.data.nass_api import MAX_WAIT_S, QuickStatsClient

    client = QuickStatsClient("key", retries=20, backoff_s=1.0, sleep=lambda s: None)
    delays = [client._delay(attempt, None) for attempt in range(1, 21)]
    assert delays[:3] == [1.0, 2.0, 4.0] and max(delays) == MAX_WAIT_S


@pytest.mark.parametrize("method", ["path_for", "fresh", "load"])
def test_a_gallery_cache_names_a_gallery_of_the_wrong_type(method, tmp_path):
    with pytest.raises(InputError, match="gallery must be a Gallery"):
        getattr(galleries.GalleryEmbeddingCache(tmp_path), method)(None, "fp")


def test_attention_internals_name_inputs_of_the_wrong_type():
    from geoapp.analysis.attention import attention_matrices, global_query_effect

    with pytest.raises(InputError, match="model must be a YieldModel, got NoneType"):
        attention_matrices(None, None, None)
    with pytest.raises(InputError, match="model must be a YieldModel, got str"):
        global_query_effect("semi-ha", None, None)


def test_write_error_names_an_exc_that_is_not_an_exception():
    with pytest.raises(InputError, match="exc must be the exception the write raised"):
        checkpoint.write_error("x", None)


def test_a_build_from_files_still_takes_the_documented_defaults(monkeypatch, tmp_path, capsys):
    import geoapp.data.real_dataset as real_dataset
    from geoapp.data.nass import DEFAULT_COMMODITY, DEFAULT_DATA_ITEM

    seen = {}

    class _Report:
        def summary(self) -> str:
            return "built"

    def fake_build(manifest, yields, out, **kwargs):
        seen.update(kwargs)
        return out, _Report()

    monkeypatch.setattr(real_dataset, "build_real_dataset", fake_build)
    argv = ["data", "build", "--manifest", "m.csv", "--yields", "y.csv", "--out", str(tmp_path / "ds"), "--quiet"]
    assert main(argv) == 0 and capsys.readouterr().out.strip() == "built"
    assert (seen["resolution_km"], seen["tile_px"], seen["crop_codes"]) == (4.0, 16, "12,14")
    assert (seen["commodity"], seen["data_item"], seen["name"], seen["plausible_range"]) == (
        DEFAULT_COMMODITY,
        DEFAULT_DATA_ITEM,
        None,
        None,
    )
    assert main([*argv, "--tile-px", "8", "--commodity", "corn"]) == 0
    assert seen["tile_px"] == 8 and seen["commodity"] == "corn" and seen["data_item"] is None
