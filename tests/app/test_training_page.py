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
    at = _submit(_page())  # the tiny dataset (2012-2016) has not the 10 training years of the default N_y
    assert any("needs years 2005..2016" in e.value for e in at.error), [e.value for e in at.error]
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
    assert at.text_input(key="ty_name").value.startswith("s-ha-2016-")  # a fresh default name for the next run
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
