"""The Training page under AppTest: the form refuses bad values, starts a real (tiny) job, shows its
progress to the end, and the finished checkpoint appears in the Yield map's model selector."""

from __future__ import annotations

import json
import re

import pytest
from streamlit.testing.v1 import AppTest

from geoapp.jobs.runner import JobRunner
from geoapp.paths import REPO_ROOT

TIMEOUT = 60


@pytest.fixture()
def train_env(app_env, tmp_path, monkeypatch):
    monkeypatch.setenv("GEOAPP_JOBS_DIR", str(tmp_path / "jobs"))
    monkeypatch.setenv("GEOAPP_CHECKPOINT_DIR", str(tmp_path / "checkpoints"))
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    return tmp_path


def _page() -> AppTest:
    return AppTest.from_file(str(REPO_ROOT / "pages" / "training.py"), default_timeout=TIMEOUT).run()


def _submit(at: AppTest) -> AppTest:
    [submit] = [b for b in at.button if b.label == "Start training"]
    return submit.click().run()


def test_page_shows_device_and_form_defaults(train_env):
    at = _page()
    assert not at.exception and not at.error
    assert any("GPU" in i.value or "CPU" in i.value for i in at.info)
    assert at.number_input(key="ty_alpha").value == pytest.approx(0.2)
    assert at.number_input(key="ty_beta").value == pytest.approx(0.001)
    assert at.selectbox(key="ty_model").value == "semi-ha"
    assert at.selectbox(key="ty_tn").value == "month"  # the paper's temporal neighbour
    assert any("No training job yet" in i.value for i in at.info)


def test_form_choices_and_help_come_from_the_config_dataclasses(train_env):
    from geoapp.config import config_fields
    from geoapp.training.yield_trainer import YieldTrainConfig

    fields = {f.name: f for f in config_fields(YieldTrainConfig)}
    at = _page()
    assert at.selectbox(key="ty_model").options == list(fields["model"].choices)
    assert sorted(at.selectbox(key="ty_size").options) == sorted(fields["size"].choices)
    assert at.selectbox(key="ty_tn").options == ["previous month (paper)", "previous year"]
    assert at.selectbox(key="ty_exclude").options == ["none", *fields["exclude_group"].choices]
    assert at.selectbox(key="ty_trend").value == "none"  # the paper's: yields as they are
    assert len(at.selectbox(key="ty_trend").options) == len(fields["trend"].choices)
    assert at.selectbox(key="ty_calibration").value == "none"
    assert at.selectbox(key="ty_precision").value == "auto"
    assert at.checkbox(key="ty_compile").value is False
    assert at.selectbox(key="ty_loader").value == "auto"
    assert len(at.selectbox(key="ty_precision").options) == len(fields["precision"].choices)
    assert len(at.selectbox(key="ty_calibration").options) == len(fields["calibration"].choices)
    assert at.selectbox(key="ty_device").options == list(fields["device"].choices)
    assert at.number_input(key="ty_rn").help == fields["r_n_km"].help


def test_bad_hyperparameters_are_refused_with_the_reason(train_env):
    at = _page()  # the tiny dataset (2012-2016): test year 2014 with 3 training years needs 2010..2014
    at.selectbox(key="ty_test_year").set_value(2014)
    at = _submit(at)
    assert any("needs years 2010..2014" in e.value for e in at.error), [e.value for e in at.error]
    at.selectbox(key="ty_test_year").set_value(2016)
    at.number_input(key="ty_n_years").set_value(3)
    at.number_input(key="ty_lr").set_value(0.0)
    at = _submit(at)
    assert any(re.search(r"lr must be (a finite )?positive", e.value) for e in at.error)
    at.number_input(key="ty_lr").set_value(0.001)
    at.text_input(key="ty_name").set_value("bad name!")
    at = _submit(at)
    assert any("run name" in e.value for e in at.error)
    assert JobRunner(train_env / "jobs").list_jobs() == []


@pytest.mark.slow
def test_start_a_tiny_job_watch_it_finish_and_find_its_checkpoint(train_env):
    at = _page()
    at.selectbox(key="ty_model").set_value("s-ha")
    at.selectbox(key="ty_test_year").set_value(2016)
    at.number_input(key="ty_n_years").set_value(3)
    at.number_input(key="ty_epochs").set_value(2)
    at.number_input(key="ty_batch").set_value(16)
    at.number_input(key="ty_max_ex").set_value(48)
    at.selectbox(key="ty_device").set_value("cpu")
    at.selectbox(key="ty_trend").set_value("linear")
    at.selectbox(key="ty_calibration").set_value("county-trend")
    at.text_input(key="ty_name").set_value("page-run")
    at = _submit(at)
    assert not at.exception and not at.error, [e.value for e in at.error]
    job = at.session_state["train_job"]
    status = JobRunner(train_env / "jobs").wait(job, timeout=120)
    assert status["state"] == "finished"
    config = json.loads((train_env / "jobs" / job / "spec.json").read_text())["config"]
    assert config["temporal_neighbour"] == "month" and config["trend"] == "linear"
    assert config["calibration"] == "county-trend" and config["precision"] == "auto" and config["compile"] is False
    assert config["loader_workers"] is None  # auto
    at = at.run()
    assert any("Finished" in s.value for s in at.success)
    assert at.selectbox(key="train_show").value == job  # the new job is the one shown
    assert at.text_input(key="ty_name").value == ""  # emptied: the next run gets a fresh default name
    [bar] = at.get("progress")
    assert bar.value == 100 and re.fullmatch(r"done · epoch \d+/2( \(stopped early\))? · step (\d+)/\2", bar.text), bar.text
    assert any("page-run" in str(row) for row in at.dataframe[0].value.to_dict("records"))
    ymap = AppTest.from_file(str(REPO_ROOT / "pages" / "yield_map.py"), default_timeout=TIMEOUT).run()
    options = [o for s in ymap.sidebar.selectbox for o in s.options]
    assert any("page-run" in o for o in options), options


def test_location_form_has_the_encoder_defaults_and_refuses_bad_values(train_env):
    at = _page()
    at.radio(key="train_kind").set_value("location").run()
    assert at.number_input(key="tl_degree").value == 20 and at.number_input(key="tl_hidden").value == 512
    at.number_input(key="tl_lr").set_value(0.0)
    at = _submit(at)
    assert any("lr must be a finite positive number" in e.value for e in at.error), [e.value for e in at.error]
    assert JobRunner(train_env / "jobs").list_jobs() == []


# ---- the run name, the settings a model ignores, a one-step job's progress, the form's dataset ---------
@pytest.fixture()
def started(train_env, monkeypatch) -> list:
    """The specs the page starts (no job runs)."""
    specs: list = []
    monkeypatch.setattr(JobRunner, "start", lambda self, spec: specs.append(spec) or f"job-{len(specs)}")
    return specs


def test_an_empty_run_name_follows_the_submitted_model_and_year(started):
    at = _page()  # drawn first with semi-ha and the last test year: a default computed then would keep them
    name = at.text_input(key="ty_name")
    assert name.value == "" and name.placeholder == "default: <model>-<test year>-<date-time>"
    at.selectbox(key="ty_model").set_value("ridge")
    at.selectbox(key="ty_test_year").set_value(2015)
    at.number_input(key="ty_n_years").set_value(2)
    at = _submit(at)
    assert not at.exception and not at.error, [e.value for e in at.error]
    [spec] = started
    assert re.fullmatch(r"ridge-2015-\d{4}-\d{6}", spec.name), spec.name
    assert spec.config["model"] == "ridge" and spec.config["test_year"] == 2015
    at.selectbox(key="ty_model").set_value("s-ha")  # the next job: a fresh name from its own model and year
    at.selectbox(key="ty_test_year").set_value(2016)
    at.number_input(key="ty_n_years").set_value(3)
    at = _submit(at)
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert re.fullmatch(r"s-ha-2016-\d{4}-\d{6}", started[1].name), started[1].name


def test_a_typed_run_name_is_kept_and_the_box_emptied_after_the_start(started):
    at = _page()
    at.selectbox(key="ty_model").set_value("ridge")
    at.number_input(key="ty_n_years").set_value(3)
    at.text_input(key="ty_name").set_value("  my-ridge.v2 ")
    at = _submit(at)
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert [s.name for s in started] == ["my-ridge.v2"]
    assert at.text_input(key="ty_name").value == ""  # not offered again: the next job would clash with it


def test_the_location_run_name_is_composed_at_submit(started):
    at = _page()
    at.radio(key="train_kind").set_value("location").run()
    assert at.text_input(key="tl_name").value == "" and "sh-siren-<date-time>" in at.text_input(key="tl_name").placeholder
    at.number_input(key="tl_epochs").set_value(1)
    at = _submit(at)
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert re.fullmatch(r"sh-siren-\d{4}-\d{6}", started[0].name), started[0].name
    at.text_input(key="tl_name").set_value("my-encoder")
    at = _submit(at)
    assert started[1].name == "my-encoder"


def test_the_settings_ridge_ignores_are_named_after_submit_and_listed_under_the_form(started):
    from geoapp.training.model_kinds import MODEL_KINDS
    from geoapp.training.ridge_trainer import RIDGE_APPLIES

    at = _page()
    assert not [i for i in at.info if "ignores these settings" in i.value]  # nothing submitted yet
    [listing] = [e for e in at.expander if e.label == "Settings each model ignores"]
    text = " ".join(m.value for m in listing.markdown)
    assert all(name in text for name in MODEL_KINDS)
    assert re.search(r"\*\*ridge\*\*: [^\n]*Epochs[^\n]*Max training examples", text), text
    assert re.search(r"\*\*semi-ha, semi-ha-loc, semi-sa\*\*: none", text), text
    at.selectbox(key="ty_model").set_value("ridge")
    at.number_input(key="ty_n_years").set_value(3)
    at = _submit(at)
    [note] = [i.value for i in at.info if "ignores these settings" in i.value]
    assert note.startswith(f"Started **{started[0].name}**. **ridge** ignores these settings: "), note
    for label in ("Epochs", "Max training examples (0 = all)", "Learning rate", "Batch size", "Seed", "Device"):
        assert label in note, note
    for label in ("Leave out feature group", "Yield trend", "Residual calibration"):  # ridge uses these
        assert label not in note, note
    assert set(RIDGE_APPLIES) >= {"model", "test_year", "n_train_years", "exclude_group"}
    at.selectbox(key="ty_model").set_value("semi-ha")  # uses every setting: no note
    at = _submit(at)
    assert not [i for i in at.info if "ignores these settings" in i.value]


def test_every_model_kind_has_its_settings_known():
    from geoapp.app_support.training import YIELD_LABELS, ignored_settings, used_settings
    from geoapp.training.model_kinds import MODEL_KINDS

    for kind in MODEL_KINDS.values():
        assert used_settings(kind) is not None, kind.name  # a new trainer must be added to the table
    assert ignored_settings("semi-ha") == []
    assert ignored_settings("s-ha") == [YIELD_LABELS[f] for f in ("model_overrides", "r_n_km", "r_d_km", "temporal_neighbour")]
    assert YIELD_LABELS["epochs"] in ignored_settings("rf") and YIELD_LABELS["epochs"] not in ignored_settings("mlp")


@pytest.mark.slow
def test_a_finished_ridge_job_reads_as_done_in_one_step(train_env):
    at = _page()
    at.selectbox(key="ty_model").set_value("ridge")
    at.selectbox(key="ty_test_year").set_value(2016)
    at.number_input(key="ty_n_years").set_value(3)
    at = _submit(at)
    assert not at.exception and not at.error, [e.value for e in at.error]
    job = at.session_state["train_job"]
    status = JobRunner(train_env / "jobs").wait(job, timeout=120)
    assert status["state"] == "finished" and (status["epochs"], status["steps"], status["step"]) == (1, 1, 0)
    assert re.fullmatch(r"ridge-2016-\d{4}-\d{6}", status["name"]), status["name"]
    at = at.run()
    [bar] = at.get("progress")
    assert bar.value == 100 and bar.text == "done: fitted in one step"
    assert any("Finished" in s.value for s in at.success)


def test_the_form_dataset_follows_the_sidebar_until_changed_in_the_form(real_env, started):
    simulated = next(str(p) for p in real_env.parent.iterdir() if p != real_env)
    at = _page()
    first = at.sidebar.selectbox(key="w_dataset").value
    assert first in (str(real_env), simulated) and at.selectbox(key="ty_dataset").value == first
    other = simulated if first == str(real_env) else str(real_env)
    at = at.sidebar.selectbox(key="w_dataset").set_value(other).run()
    assert at.selectbox(key="ty_dataset").value == other == at.session_state["sel_dataset"]
    at = at.selectbox(key="ty_dataset").set_value(first).run()  # the user's own choice in the form is kept
    assert at.selectbox(key="ty_dataset").value == first and at.sidebar.selectbox(key="w_dataset").value == other
    at = at.run()
    assert at.selectbox(key="ty_dataset").value == first
    at = at.sidebar.selectbox(key="w_dataset").set_value(first).run()  # a new sidebar choice is the default again
    at = at.sidebar.selectbox(key="w_dataset").set_value(other).run()
    assert at.selectbox(key="ty_dataset").value == other


def test_a_network_run_of_one_step_is_not_called_a_one_step_fit():
    from geoapp.app_support.training import _progress

    done = {"state": "finished", "epochs": 1, "steps": 1, "epoch": 1, "step": 1}
    assert _progress(done, one_step=True) == (1.0, "done: fitted in one step")  # ridge, RF
    assert _progress(done, one_step=False) == (1.0, "done · epoch 1/1 · step 1/1")  # an MLP on one batch
    assert _progress(done) == (1.0, "done: fitted in one step")  # the kind unknown: judged from the counts
    running = {"state": "running", "epochs": 3, "steps": 4, "epoch": 2, "step": 2, "eta_s": 30}
    assert _progress(running, one_step=False)[0] == pytest.approx(6 / 12)


def test_training_years_are_bounded_by_the_dataset(app_env, monkeypatch):
    """The tiny dataset holds 2012-2016: its last test year, 2016, keeps 2015 for validation and at most 3 training years."""
    at = AppTest.from_file(str(REPO_ROOT / "pages" / "training.py"), default_timeout=TIMEOUT).run()
    assert not at.exception
    box = at.number_input(key="ty_n_years")
    assert box.max == 3 and box.value == 3  # the default 10 brought within the data
    assert "At most 3 on this dataset (2012-2016)" in box.help
