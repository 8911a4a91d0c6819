"""Every page on a dataset built from real files (``"simulated": false``, a ``sources`` list, no truth).

The data directory holds the tiny simulation and the real dataset side by side; ``sel_dataset``
chooses one as the sidebar would. A checkpoint trained on the real dataset is offered for it alone
(trained on the stand-in: see tests/app/conftest.py).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

import geoapp.app_support.county_map as county_map
from geoapp.app_support.provenance import short_crs
from geoapp.data.dataset import load_dataset
from geoapp.jobs.runner import JobRunner
from geoapp.paths import REPO_ROOT
from tests.app.clicks import county_clicks

TIMEOUT = 60
CROP_PAGES = ["app.py", "pages/yield_map.py", "pages/attention.py", "pages/feature_ablation.py", "pages/training.py"]


def _run(path: str, **state) -> AppTest:
    at = AppTest.from_file(str(REPO_ROOT / path), default_timeout=TIMEOUT)
    for k, v in state.items():
        at.session_state[k] = v
    return at.run()


@pytest.fixture()
def no_clicks(monkeypatch):
    """st_folium (a custom component AppTest cannot run) draws nothing and reports no click."""
    monkeypatch.setattr(county_map, "st_folium", lambda m, key=None, **kw: {"last_active_drawing": None})


def _texts(at: AppTest) -> list[str]:
    """Every text element of the page and its sidebar (markdown, captions, alerts, titles)."""
    kinds = ("markdown", "caption", "info", "warning", "success", "title", "header", "subheader")
    return [e.value for kind in kinds for e in at.get(kind)]


def _source_names(ds_path: Path) -> list[str]:
    card = json.loads((ds_path / "dataset.json").read_text())
    return [str(s["file"]) for s in card["sources"]]


def _simulated(real: Path) -> Path:
    """The simulated dataset beside ``real`` in the data directory."""
    [sim] = [p for p in real.parent.iterdir() if p != real and (p / "dataset.json").exists()]
    return sim


def _assert_real(at: AppTest, ds_path: Path) -> None:
    """No SIMULATED badge or simulated label anywhere; the sources are listed in the sidebar."""
    assert not at.exception, at.exception
    assert not at.error, [e.value for e in at.error]
    texts = _texts(at)
    assert not any("simulated" in t.lower() for t in texts), [t for t in texts if "simulated" in t.lower()]
    n = len(_source_names(ds_path))
    assert [e.label for e in at.sidebar.expander if e.label.startswith("Real data")] == [f"Real data · {n} source files"]
    [listed] = [d.value for d in at.sidebar.dataframe]
    assert list(listed["file"]) == _source_names(ds_path)


@pytest.mark.parametrize("page", CROP_PAGES)
def test_every_crop_page_opens_on_the_real_dataset(real_env, no_clicks, page):
    at = _run(page, sel_dataset=str(real_env))
    assert at.sidebar.selectbox(key="w_dataset").value == str(real_env)
    _assert_real(at, real_env)


def test_the_selector_lists_every_dataset_by_title_and_the_sources_show_crs_and_units(real_env, no_clicks):
    at = _run("app.py", sel_dataset=str(real_env))
    select = at.sidebar.selectbox(key="w_dataset")
    titles = {load_dataset(p).title for p in (real_env, _simulated(real_env))}
    assert set(select.options) == titles and len(titles) == 2
    card = json.loads((real_env / "dataset.json").read_text())
    crs = {short_crs(s["crs"]) for s in card["sources"] if s.get("crs")}
    units = {s["units"] for s in card["sources"] if s.get("units")}
    [listed] = [d.value for d in at.sidebar.dataframe]
    assert crs == set(listed["CRS"]) - {"–"} and units == set(listed["units"]) - {"–"}
    caption = next(c.value for c in at.sidebar.caption if c.value.startswith("CRS: "))
    assert all(c in caption for c in crs) and all(u in caption for u in units)


def test_home_on_real_data_says_so_and_leaves_the_noise_floor_unknown(real_env, no_clicks):
    at = _run("app.py", sel_dataset=str(real_env))
    _assert_real(at, real_env)
    assert not at.warning  # the simulated-data warning
    assert any("real data" in i.value for i in at.info)
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Noise floor (bu/acre)"] == "unknown"
    assert any("No checkpoint trained on this dataset" in i.value for i in at.info)
    sim = _run("app.py")  # the simulated dataset (first in the list) by default
    assert float({m.label: m.value for m in sim.metric}["Noise floor (bu/acre)"]) > 0


def test_yield_map_without_checkpoints_says_how_to_train_one(real_env, no_clicks, tmp_path, monkeypatch):
    monkeypatch.setenv("GEOAPP_CHECKPOINT_DIR", str(tmp_path / "no-checkpoints"))
    at = _run("pages/yield_map.py", sel_dataset=str(real_env))
    _assert_real(at, real_env)
    [info] = [i.value for i in at.info if "No checkpoint trained on this dataset" in i.value]
    assert "Training page" in info and f"--dataset {real_env}" in info
    assert not any(s.key == "w_checkpoint" for s in at.sidebar.selectbox)


def test_a_clicked_county_shows_its_inputs_and_where_its_anchor_sits(real_env, monkeypatch):
    counties = pd.read_csv(real_env / "counties.csv", dtype={"geoid": str})
    geoid = counties.loc[counties["anchor_source"] == "interior", "geoid"].iloc[0]
    county_clicks(monkeypatch, geoid)
    at = _run("pages/yield_map.py", sel_dataset=str(real_env))
    _assert_real(at, real_env)
    assert at.session_state["sel_county"] == geoid
    inputs = json.loads(at.get("plotly_chart")[-1].proto.spec)
    assert inputs["layout"]["title"]["text"].startswith("Inputs over the months")
    assert any("interior point of the county" in c.value for c in at.caption)


def test_changing_dataset_drops_a_foreign_county_checkpoint_and_year(real_env, no_clicks):
    at = _run(
        "pages/yield_map.py",
        sel_dataset=str(real_env),
        sel_county="99999",
        sel_checkpoint="/no/such/checkpoint/best",
        sel_year=1990,
    )
    assert not at.exception and not at.error
    assert "sel_county" not in at.session_state and "sel_checkpoint" not in at.session_state
    assert at.session_state["sel_year"] == load_dataset(real_env).years[-1]


@pytest.fixture()
def real_checkpoint(trainable_real_env, tmp_path, monkeypatch) -> Path:
    """A tiny s-ha checkpoint trained on the real dataset, in a temporary checkpoint folder."""
    from geoapp.training.yield_trainer import train_yield

    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    root = tmp_path / "checkpoints"
    monkeypatch.setenv("GEOAPP_CHECKPOINT_DIR", str(root))
    ds = load_dataset(trainable_real_env)
    return train_yield(tiny_real_config(ds), ds, root / "user" / "yield" / "real-s-ha", progress=False)


def tiny_real_config(ds, seed: int = 0):
    """A one-epoch tiny s-ha on the last year of ``ds`` (seconds on a CPU)."""
    from geoapp.training.yield_trainer import YieldTrainConfig

    return YieldTrainConfig(
        model="s-ha",
        test_year=ds.years[-1],
        n_train_years=len(ds.years) - 2,
        epochs=1,
        batch_size=16,
        max_train_examples=32,
        model_overrides={"embed_dim": 16, "cnn_width": 4, "heads": 2, "layers": 1, "ff_dim": 32},
        device="cpu",
        seed=seed,
    )


def test_a_checkpoint_trained_on_real_data_is_offered_for_it_and_not_for_the_simulation(
    real_checkpoint, trainable_real_env, no_clicks
):
    at = _run("pages/yield_map.py", sel_dataset=str(trainable_real_env))
    _assert_real(at, trainable_real_env)
    select = at.sidebar.selectbox(key="w_checkpoint")
    assert select.options[1:] == [f"s-ha · test {load_dataset(trainable_real_env).years[-1]} (user/yield/real-s-ha)"]
    assert select.value == str(real_checkpoint)
    scatter = json.loads(at.get("plotly_chart")[0].proto.spec)
    assert "RMSE" in scatter["layout"]["title"]["text"] and "simulated" not in scatter["layout"]["title"]["text"]
    assert not any(t.key == "yield_budget" for t in at.toggle)  # real data has no simulated terms to budget

    # the simulated dataset (chosen in the sidebar) does not offer it, and the choice is dropped
    at.sidebar.selectbox(key="w_dataset").select(str(_simulated(trainable_real_env))).run()
    assert not at.exception and not at.error
    assert not any(s.key == "w_checkpoint" for s in at.sidebar.selectbox)
    assert any("No checkpoint trained on this dataset" in i.value for i in at.info)
    assert "sel_checkpoint" not in at.session_state
    home = _run("app.py", sel_dataset=str(trainable_real_env))
    [table] = [d.value for d in home.dataframe if "test year" in d.value.columns]
    assert list(table["checkpoint"]) == ["user/yield/real-s-ha/best"]


def test_attention_on_real_data_has_no_true_critical_months(real_checkpoint, trainable_real_env, no_clicks):
    at = _run("pages/attention.py", sel_dataset=str(trainable_real_env))
    _assert_real(at, trainable_real_env)
    charts = [json.loads(c.proto.spec) for c in at.get("plotly_chart")]
    assert [d["name"] for d in charts[1]["data"]] == ["learned attention received"]
    assert any("unknown for real data" in c.value for c in at.caption)


def test_feature_ablation_on_real_data(real_checkpoint, trainable_real_env, no_clicks):
    at = _run("pages/feature_ablation.py", sel_dataset=str(trainable_real_env))
    _assert_real(at, trainable_real_env)
    bars = json.loads(at.get("plotly_chart")[0].proto.spec)
    assert list(bars["data"][0]["x"]) == ["VI", "LST", "PPT", "SOIL", "ELE"]


def test_training_form_trains_on_the_sidebar_dataset(real_env, no_clicks, tmp_path, monkeypatch):
    monkeypatch.setenv("GEOAPP_JOBS_DIR", str(tmp_path / "jobs"))
    started = []
    monkeypatch.setattr(JobRunner, "start", lambda self, spec: started.append(spec) or "job-not-run")
    at = _run("pages/training.py", sel_dataset=str(real_env))
    _assert_real(at, real_env)
    assert at.selectbox(key="ty_dataset").value == str(real_env)
    assert any("real data" in c.value for c in at.caption)
    years = load_dataset(real_env).years
    assert at.selectbox(key="ty_test_year").options == [str(y) for y in years if y - 2 >= years[0]]
    at.number_input(key="ty_n_years").set_value(len(years) - 2)
    at.text_input(key="ty_name").set_value("real-run")
    [submit] = [b for b in at.button if b.label == "Start training"]
    at = submit.click().run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    [spec] = started
    assert spec.dataset == str(real_env) and spec.name == "real-run"
    # the other dataset can be chosen in the form itself
    at.selectbox(key="ty_dataset").select(str(_simulated(real_env))).run()
    assert not at.exception and at.selectbox(key="ty_dataset").value == str(_simulated(real_env))
    assert any("simulated data, not observations" in c.value for c in at.caption)


def test_the_embedded_demo_dataset_is_listed_first(app_env, real_dataset, no_clicks):
    shutil.copytree(real_dataset, app_env / "aaa_real")  # sorts before every other folder
    shutil.copytree(next(p for p in app_env.iterdir() if p.name.startswith("corn_belt_sim")), app_env / "corn_belt_sim_demo")
    at = _run("app.py")
    assert not at.exception and not at.error
    assert at.sidebar.selectbox(key="w_dataset").value == str(app_env / "corn_belt_sim_demo")
    assert any("SIMULATED" in md.value for md in at.sidebar.markdown)


@pytest.mark.slow
def test_a_job_started_on_the_real_dataset_yields_a_checkpoint_offered_for_it(
    trainable_real_env, no_clicks, tmp_path, monkeypatch
):
    monkeypatch.setenv("GEOAPP_JOBS_DIR", str(tmp_path / "jobs"))
    monkeypatch.setenv("GEOAPP_CHECKPOINT_DIR", str(tmp_path / "checkpoints"))
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    years = load_dataset(trainable_real_env).years
    at = _run("pages/training.py", sel_dataset=str(trainable_real_env))
    at.selectbox(key="ty_model").set_value("s-ha")
    at.number_input(key="ty_n_years").set_value(len(years) - 2)
    at.number_input(key="ty_epochs").set_value(1)
    at.number_input(key="ty_batch").set_value(16)
    at.number_input(key="ty_max_ex").set_value(32)
    at.selectbox(key="ty_device").set_value("cpu")
    at.text_input(key="ty_name").set_value("real-job")
    [submit] = [b for b in at.button if b.label == "Start training"]
    at = submit.click().run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    job = at.session_state["train_job"]
    assert JobRunner(tmp_path / "jobs").wait(job, timeout=180)["state"] == "finished"
    assert json.loads((tmp_path / "jobs" / job / "spec.json").read_text())["dataset"] == str(trainable_real_env)
    real = _run("pages/yield_map.py", sel_dataset=str(trainable_real_env))
    assert any("real-job" in o for o in real.sidebar.selectbox(key="w_checkpoint").options)
    sim = _run("pages/yield_map.py", sel_dataset=str(_simulated(trainable_real_env)))
    assert not any(s.key == "w_checkpoint" for s in sim.sidebar.selectbox)
