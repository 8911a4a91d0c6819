"""Every page under streamlit.testing.AppTest, on the tiny simulated dataset.

st_folium is a custom component that AppTest cannot run; tests replace it with a stand-in that
behaves as it does in a browser (tests/app/clicks.py).
"""

from __future__ import annotations

import base64
import dataclasses
import json
import shutil

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from geoapp.paths import REPO_ROOT
from tests.app.clicks import county_clicks, outlined

TIMEOUT = 60


def _run(path: str, **state) -> AppTest:
    at = AppTest.from_file(str(REPO_ROOT / path), default_timeout=TIMEOUT)
    for k, v in state.items():
        at.session_state[k] = v
    return at.run()


def _click(monkeypatch, geoid: str | None) -> list:
    """Make the county map report a click on ``geoid`` once drawn; returns the list of maps it was asked to draw."""
    return county_clicks(monkeypatch, *([geoid] if geoid else [])).drawn


def _array(value) -> np.ndarray:
    """A plotly JSON array: a list, or a typed array ({"dtype", "bdata", "shape"})."""
    if isinstance(value, dict):
        data = np.frombuffer(base64.b64decode(value["bdata"]), dtype=value["dtype"])
        shape = value.get("shape")
        return data.reshape([int(n) for n in str(shape).split(",")]) if shape else data
    return np.asarray(value, dtype=float)


def test_home_shows_dataset_and_simulated_label(app_env):
    at = _run("app.py")
    assert not at.exception
    assert not at.error
    assert "simulated" in at.warning[0].value.lower()
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Counties"] == "201"  # Iowa (99) + Illinois (102)
    assert metrics["Years"] == "2012–2016"
    assert any("SIMULATED" in md.value for md in at.sidebar.markdown)
    assert "Crop: soybeans (simulated), county yields in bu/acre" in [c.value for c in at.sidebar.caption]
    assert "soybeans yields" in at.warning[0].value  # the crop is named: "Corn Belt" alone reads as corn
    assert float(metrics["Labelled per year"]).is_integer()  # a count, not 850.6


def test_yield_map_renders_year_and_map(app_env, monkeypatch):
    drawn = _click(monkeypatch, None)
    at = _run("pages/yield_map.py")
    assert not at.exception and not at.error
    assert at.title[0].value == "County yields, 2016"  # latest year by default
    assert "Simulated data" in at.caption[0].value
    assert len(drawn) == 1
    html = drawn[0].get_root().render()
    assert "/app/static/leaflet/leaflet.js" in html


def test_click_on_county_shows_history_and_inputs(app_env, monkeypatch):
    _click(monkeypatch, "19153")  # Polk County, Iowa
    at = _run("pages/yield_map.py")
    assert not at.exception and not at.error
    assert at.session_state["sel_county"] == "19153"
    assert any(md.value == "**Polk, IA, 2016**" for md in at.main.markdown)
    assert at.metric[0].label == "True (bu/acre)" and float(at.metric[0].value) > 0  # units in the label: short values
    charts = at.get("plotly_chart")
    assert len(charts) == 2  # yield history + monthly inputs
    inputs = json.loads(charts[1].proto.spec)
    assert "(simulated)" in inputs["layout"]["title"]["text"]
    assert len(inputs["data"]) == 9  # one panel per band


def test_year_choice_carries_across_pages(app_env, monkeypatch):
    _click(monkeypatch, None)
    home = _run("app.py")
    home.sidebar.selectbox(key="w_year").select(2012).run()
    assert home.session_state["sel_year"] == 2012
    at = _run("pages/yield_map.py", sel_year=2012, sel_dataset=home.session_state["sel_dataset"])
    assert at.title[0].value == "County yields, 2012"


def test_broken_dataset_shows_error_box_not_traceback(app_env, monkeypatch):
    _click(monkeypatch, None)
    (next(app_env.iterdir()) / "yields.csv").unlink()
    at = _run("pages/yield_map.py")
    assert not at.exception
    assert at.error and "yields.csv" in at.error[0].value


@pytest.mark.parametrize("page", ["app.py", "pages/yield_map.py"])
def test_every_page_renders_without_error(app_env, monkeypatch, page):
    _click(monkeypatch, None)
    at = _run(page)
    assert not at.exception and not at.error


@pytest.fixture()
def tiny_checkpoint(app_env, tmp_path, monkeypatch):
    """A tiny s-ha checkpoint trained on the tiny dataset, in a temporary checkpoint folder."""
    from geoapp.data.dataset import load_dataset
    from geoapp.training.yield_trainer import YieldTrainConfig, train_yield

    root = tmp_path / "checkpoints"
    monkeypatch.setenv("GEOAPP_CHECKPOINT_DIR", str(root))
    ds = load_dataset(next(app_env.iterdir()))
    cfg = YieldTrainConfig(
        model="s-ha",
        test_year=2016,
        n_train_years=3,
        epochs=1,
        batch_size=16,
        max_train_examples=32,
        model_overrides={"embed_dim": 16, "cnn_width": 4, "heads": 2, "layers": 1, "ff_dim": 32},
        device="cpu",
    )
    return train_yield(cfg, ds, root / "yield" / "s-ha-2016", progress=False)


def test_yield_map_with_a_model_shows_predictions_scatter_and_error_map(tiny_checkpoint, monkeypatch):
    drawn = _click(monkeypatch, "19153")
    at = _run("pages/yield_map.py")
    assert not at.exception and not at.error
    assert at.sidebar.selectbox(key="w_checkpoint").value == str(tiny_checkpoint)
    assert [o for o in at.radio(key="yield_view").options] == [
        "True",
        "Predicted",
        "Error (predicted − true)",
        "Error vs noise-free yield (simulated)",
    ]
    scatter = json.loads(at.get("plotly_chart")[0].proto.spec)
    assert "RMSE" in scatter["layout"]["title"]["text"] and "(simulated)" in scatter["layout"]["title"]["text"]
    assert [m.label for m in at.metric][:2] == ["True (bu/acre)", "Predicted (bu/acre)"]
    assert "Checkpoint drawn: s-ha · test 2016 (yield/s-ha-2016)" in [c.value for c in at.caption]
    at.radio(key="yield_view").set_value("Error (predicted − true)").run()
    assert not at.exception and not at.error
    html = drawn[-1].get_root().render()
    assert "true (bu/acre)" in html  # the error layer's tooltip label ("Predicted − true (bu/acre)")
    at.radio(key="yield_view").set_value("Error vs noise-free yield (simulated)").run()
    assert not at.exception and not at.error
    assert "noise-free yield (bu/acre, simulated)" in drawn[-1].get_root().render()
    at.sidebar.selectbox(key="w_checkpoint").select("").run()
    assert "Checkpoint drawn: none (true yields only)" in [c.value for c in at.caption]


def test_yield_map_compares_the_models_tested_on_the_year(tiny_checkpoint, monkeypatch):
    _click(monkeypatch, None)
    at = _run("pages/yield_map.py")
    assert not at.dataframe  # off until asked
    at.toggle(key="yield_compare").set_value(True).run()
    assert not at.exception and not at.error
    shown = at.dataframe[0].value
    assert list(shown["model"]) == ["s-ha"] and list(shown["run"]) == ["yield/s-ha-2016"]
    assert shown["RMSE (bu/acre)"].iloc[0] > 0 and shown["counties"].iloc[0] > 0
    assert any("simulated data" in c.value and "seed" in c.value for c in at.caption)
    at = _run("pages/yield_map.py", sel_year=2013)
    at.toggle(key="yield_compare").set_value(True).run()
    assert not at.exception and "No checkpoint has 2013 as its test year" in at.info[-1].value


def test_yield_map_error_budget_of_the_drawn_checkpoint(tiny_checkpoint, monkeypatch):
    """The error budget toggle (simulated data): RMSE against 1.3 x the floor and the missed share per term."""
    _click(monkeypatch, None)
    at = _run("pages/yield_map.py")
    charts = len(at.get("plotly_chart"))
    at.toggle(key="yield_budget").set_value(True).run()
    assert not at.exception and not at.error
    labels = {m.label: m.value for m in at.metric}
    assert float(labels["1.3 x floor"]) > 0 and float(labels["vs noise-free"]) > 0
    figures = [json.loads(c.proto.spec) for c in at.get("plotly_chart")]
    assert len(figures) == charts + 1
    bars = next(f for f in figures if "misses" in f["layout"]["title"]["text"])
    assert "water stress" in bars["data"][0]["y"] and len(bars["data"][0]["y"]) == 5
    assert any("SIMULATED data" in c.value and "labelled counties" in c.value for c in at.caption)
    assert bars["layout"]["title"]["text"] == "What s-ha misses (simulated)<br>2016, its own predictions"


def test_yield_map_flags_a_training_year(tiny_checkpoint, monkeypatch):
    _click(monkeypatch, None)
    at = _run("pages/yield_map.py", sel_year=2013)
    assert not at.exception and not at.error
    assert "one of its training years" in at.info[0].value


def test_attention_page_heatmap_and_truth(tiny_checkpoint, monkeypatch):
    _click(monkeypatch, None)
    at = _run("pages/attention.py")
    assert not at.exception and not at.error
    charts = [json.loads(c.proto.spec) for c in at.get("plotly_chart")]
    assert charts[0]["data"][0]["type"] == "heatmap"
    assert all("(simulated)" in c["layout"]["title"]["text"] for c in charts[:2])  # kept by a saved figure
    names = [d["name"] for d in charts[1]["data"]]
    assert names == ["learned attention received", "true critical-month weight (simulation)"]
    assert any("global query G" in md.value for md in at.main.markdown)
    assert "Checkpoint drawn: s-ha · test 2016 (yield/s-ha-2016)" in [c.value for c in at.caption]


def test_feature_ablation_page_bars_and_map(tiny_checkpoint, monkeypatch):
    drawn = _click(monkeypatch, None)
    at = _run("pages/feature_ablation.py")
    assert not at.exception and not at.error
    bars = json.loads(at.get("plotly_chart")[0].proto.spec)
    assert list(bars["data"][0]["x"]) == ["VI", "LST", "PPT", "SOIL", "ELE"]
    assert "(simulated)" in bars["layout"]["title"]["text"]
    assert drawn and "(simulated)" in drawn[-1].get_root().render()  # the map's legend
    at.selectbox(key="abl_group").select("PPT").run()
    assert not at.exception and not at.error
    assert len(drawn) >= 2


def test_five_consecutive_county_clicks_all_take_effect(app_env, monkeypatch):
    counties = ["19153", "17031", "19013", "17019", "19169"]  # Polk IA, Cook IL, Black Hawk IA, Champaign IL, Story IA
    clicks = county_clicks(monkeypatch, *counties)
    at = _run("pages/yield_map.py")
    assert not at.exception and not at.error
    # one map before the first click, then one per click, each outlining the county just clicked
    assert [outlined(m) for m in clicks.drawn] == [[]] + [[g] for g in counties]
    assert at.session_state["sel_county"] == counties[-1]
    assert at.selectbox(key="w_county").value == counties[-1]
    assert any(md.value == "**Story, IA, 2016**" for md in at.main.markdown)


def test_picking_a_county_in_the_box_outlines_it_on_the_map(app_env, monkeypatch):
    clicks = county_clicks(monkeypatch, "19153")
    at = _run("pages/yield_map.py")
    at.selectbox(key="w_county").select("17031").run()
    assert not at.exception and not at.error
    assert outlined(clicks.drawn[-1]) == ["17031"]
    assert at.session_state["sel_county"] == "17031"


def test_county_map_shows_state_borders_and_labels(app_env, monkeypatch):
    drawn = _click(monkeypatch, None)
    _run("pages/yield_map.py")
    html = drawn[-1].get_root().render()
    assert '"state": "IA"' in html and '"interactive": false' in html  # borders take no clicks
    assert "\\u003eIA\\u003c/div" in html and "\\u003eIL\\u003c/div" in html  # the postal codes as labels


def test_a_fresh_session_defaults_to_the_shipped_checkpoint_not_a_users_run(tiny_checkpoint, monkeypatch):
    run = tiny_checkpoint.parent
    user_run = run.parent.parent / "user" / "yield" / "tiny-job"  # where the Training page puts its runs
    shutil.copytree(run, user_run)
    user_checkpoint = str(user_run / tiny_checkpoint.name)
    _click(monkeypatch, None)
    at = _run("app.py")
    at.switch_page("pages/yield_map.py").run()
    select = at.sidebar.selectbox(key="w_checkpoint")
    assert len(select.options) == 3  # none, the shipped run, the user's run
    assert select.value == str(tiny_checkpoint)
    # a pick in this session is kept across reruns, year changes and pages
    select.select(user_checkpoint).run()
    assert at.session_state["sel_checkpoint"] == user_checkpoint
    at.sidebar.selectbox(key="w_year").select(2015).run()
    assert at.sidebar.selectbox(key="w_checkpoint").value == user_checkpoint
    at.switch_page("pages/attention.py").run()
    assert not at.exception
    assert at.sidebar.selectbox(key="w_checkpoint").value == user_checkpoint
    # another fresh session starts on the shipped one again
    assert _run("pages/yield_map.py").sidebar.selectbox(key="w_checkpoint").value == str(tiny_checkpoint)


def test_county_clicked_on_the_yield_map_carries_to_attention(tiny_checkpoint, monkeypatch):
    county_clicks(monkeypatch, "19153")
    at = AppTest.from_file(str(REPO_ROOT / "app.py"), default_timeout=TIMEOUT).run()
    at.switch_page("pages/yield_map.py").run()
    assert at.session_state["sel_county"] == "19153"
    at.switch_page("pages/attention.py").run()
    assert not at.exception and not at.error
    assert at.selectbox(key="att_scope").value == "19153"
    titles = [json.loads(c.proto.spec)["layout"]["title"]["text"] for c in at.get("plotly_chart")]
    assert all("Polk, IA" in t for t in titles), titles
    # picking another county on Attention selects it on the Yield map too
    at.selectbox(key="att_scope").select("17031").run()
    at.switch_page("pages/yield_map.py").run()
    assert at.selectbox(key="w_county").value == "17031"


def test_attention_received_follows_the_layer_and_head(tiny_checkpoint, monkeypatch):
    _click(monkeypatch, None)
    at = _run("pages/attention.py")
    received = {}
    for head in ("mean", 0, 1):
        at.selectbox(key="att_head").select(head).run()
        assert not at.exception and not at.error
        heatmap, bars = (json.loads(c.proto.spec) for c in at.get("plotly_chart"))
        which = "mean of the heads" if head == "mean" else f"head {head + 1}"
        assert which in heatmap["layout"]["title"]["text"] and which in bars["layout"]["title"]["text"]
        z = _array(heatmap["data"][0]["z"])
        received[head] = _array(bars["data"][0]["y"])
        assert np.allclose(received[head], z.mean(axis=0))  # column means of the matrix shown
    assert not np.allclose(received[0], received[1])


def test_home_checkpoint_tables_keep_yield_and_location_columns_apart(tiny_checkpoint, monkeypatch):
    _click(monkeypatch, None)
    at = _run("app.py")
    assert not at.exception and not at.error
    [table] = [d.value for d in at.dataframe]  # no location encoder in this checkpoint folder
    assert list(table.columns) == [
        "checkpoint", "model", "epoch", "test year", "calibration", "val RMSE (bu/acre)", "val R²", "test RMSE (bu/acre)",
        "test R²",
    ]  # fmt: skip
    assert set(table["calibration"]) == {"none"}
    assert table["test RMSE (bu/acre)"].notna().all()


def test_noise_free_error_is_predicted_minus_the_simulations_expected_yield(app_env):
    import pandas as pd

    from geoapp.app_support.yield_views import NOISE_FREE_VIEW, map_layer, map_views, with_noise_free
    from geoapp.data.dataset import load_dataset

    ds = load_dataset(next(app_env.iterdir()))
    rows = ds.yields[(ds.yields["year"] == 2016) & ds.yields["labelled"]].head(5)
    table = pd.DataFrame({"geoid": rows["geoid"].astype(str), "true": rows["yield"], "predicted": rows["yield"] + 1.0})
    table["error"] = 1.0
    out = with_noise_free(ds, 2016, table)
    assert np.allclose(out["noise_free_error"], rows["yield"].to_numpy() + 1.0 - rows["expected"].to_numpy())
    assert NOISE_FREE_VIEW in map_views(out) and NOISE_FREE_VIEW not in map_views(table)
    values, scale = map_layer(ds, 2016, NOISE_FREE_VIEW, out)
    assert np.allclose(values.to_numpy(), out["noise_free_error"].to_numpy()) and scale.vmin == -scale.vmax
    real = dataclasses.replace(ds, yields=ds.yields.drop(columns=["expected"]))
    assert "noise_free_error" not in with_noise_free(real, 2016, table).columns  # real data: no noise-free yield


def test_feature_ablation_flags_a_training_year_and_the_test_year_has_no_flag(tiny_checkpoint, monkeypatch):
    _click(monkeypatch, None)
    at = _run("pages/feature_ablation.py", sel_year=2013)
    assert not at.exception and not at.error
    assert "2013 is not this checkpoint's test year (one of its training years)" in at.info[0].value
    at = _run("pages/feature_ablation.py", sel_year=2016)
    assert not at.exception and not at.error and not at.info


def test_the_figure7_note_names_the_run_compared_with():
    import pandas as pd

    from geoapp.app_support.yield_views import retrain_ablation_note

    table = pd.DataFrame(
        {"group": ["none (all inputs)", "VI"], "checkpoint": ["/s/runs/semi-ha-2018-ny10-seed0/best", "/s/x/best"]}
    )
    other = retrain_ablation_note(table, "/c/yield/semi-ha-2018/best")
    assert "1 run(s) retrained without a group, each against the all-inputs run `semi-ha-2018-ny10-seed0`" in other
    assert "the chosen checkpoint was trained otherwise" in other
    own = retrain_ablation_note(table, "/s/runs/semi-ha-2018-ny10-seed0/best")
    assert "(the chosen checkpoint)" in own and "trained otherwise" not in own
