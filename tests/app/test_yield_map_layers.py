"""The Yield map's layer controls under AppTest: colour classes, the true | predicted swipe, a model input band.

The map component is replaced by the stand-in of tests/app/clicks.py, which keeps each map it was
asked to draw with its restyling group added, as streamlit-folium does in the browser.
"""

from __future__ import annotations

import pytest
from folium.raster_layers import ImageOverlay
from streamlit.testing.v1 import AppTest

import geoapp.app_support.yield_layers as yield_layers
from geoapp.errors import InputError
from geoapp.paths import REPO_ROOT
from geoapp.viz.county_layer import CountyLayer, CountyStyles
from tests.app.clicks import county_clicks

PAGE = str(REPO_ROOT / "pages" / "yield_map.py")


def _elements(m, kind) -> list:
    found, stack = [], [m]
    while stack:
        element = stack.pop()
        if isinstance(element, kind):
            found.append(element)
        stack.extend(getattr(element, "_children", {}).values())
    return found


def _payload(m) -> dict:
    (styles,) = _elements(m, CountyStyles)
    return styles.payload


def _county_layer(m) -> CountyLayer:
    (layer,) = _elements(m, CountyLayer)
    return layer


@pytest.fixture()
def swipe_files(monkeypatch):
    """The swipe plugin's files count as installed (``make assets``), whatever this checkout's static folder holds."""
    monkeypatch.setattr(yield_layers, "side_by_side_installed", lambda: True)


@pytest.fixture()
def tiny_checkpoint(app_env, tmp_path, monkeypatch):
    """A tiny s-ha checkpoint trained on the tiny dataset, tested on 2016, in a temporary checkpoint folder."""
    from geoapp.data.dataset import load_dataset
    from geoapp.training.yield_trainer import YieldTrainConfig, train_yield

    root = tmp_path / "checkpoints"
    monkeypatch.setenv("GEOAPP_CHECKPOINT_DIR", str(root))
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
    return train_yield(cfg, load_dataset(next(app_env.iterdir())), root / "yield" / "s-ha-2016", progress=False)


def test_colour_classes_default_to_the_continuous_scale_and_class_the_counties(app_env, monkeypatch, swipe_files):
    maps = county_clicks(monkeypatch).drawn
    at = AppTest.from_file(PAGE, default_timeout=60).run()
    assert not at.exception and not at.error
    assert at.selectbox(key="yield_scheme").value == "Continuous"
    continuous = _payload(maps[-1])
    assert len(set(continuous["fill"].values())) > 5
    assert at.toggle(key="yield_split").proto.disabled  # no checkpoint: nothing to put on the right
    at.selectbox(key="yield_scheme").select("Quantiles").run()
    assert not at.exception and not at.error
    classed = _payload(maps[-1])
    assert set(classed["fill"]) == set(continuous["fill"]) and len(set(classed["fill"].values())) == 5
    legends = [h.proto.body for h in at.get("html")]
    assert any("quantiles, 5 classes" in body and "Yield (bu/acre)" in body for body in legends)
    assert _county_layer(maps[-1]).split is False


def test_an_input_band_is_drawn_under_the_county_outlines_with_its_colour_bar(app_env, monkeypatch, swipe_files):
    maps = county_clicks(monkeypatch, "19153").drawn  # the user clicks Polk County, Iowa
    at = AppTest.from_file(PAGE, default_timeout=60).run()
    assert at.select_slider(key="yield_input_month").proto.disabled  # no band chosen yet
    at.selectbox(key="yield_input_band").select("ppt").run()
    at.select_slider(key="yield_input_month").set_value(8).run()
    assert not at.exception and not at.error
    (image,) = _elements(maps[-1], ImageOverlay)
    assert image.url.startswith("data:image/png;base64,") and image.options["pane"] == "geoapp-inputs"
    (south, west), (north, east) = image.bounds
    assert 35 < south < 42 < north < 48 and -100 < west < -92 < -88 < east < -80  # the tiny cube: Iowa and Illinois
    payload = _payload(maps[-1])
    assert payload["selected"] == "19153" and payload["style"]["fillOpacity"] == 0.0  # counties as outlines
    html = maps[-1].get_root().render()
    assert '"dashArray": "5 4"' in html and '"pane": "geoapp-outlines"' in html  # Polk's anchor tile
    bars = [h.proto.body for h in at.get("html") if "Monthly precipitation (mm)" in h.proto.body]
    assert len(bars) == 1 and "simulated" in bars[0]
    assert any("Monthly precipitation, Aug 2016" in c.value for c in at.caption)
    static = at.selectbox(key="yield_input_band").select("elevation").run()
    assert static.select_slider(key="yield_input_month").proto.disabled and not static.error


def test_an_input_band_that_cannot_be_drawn_shows_an_error_and_keeps_the_map(app_env, monkeypatch, swipe_files):
    def broken(*args, **kwargs):
        raise InputError("band 'ppt' has no valid pixel in Aug 2016")

    monkeypatch.setattr(yield_layers, "band_image", broken)
    maps = county_clicks(monkeypatch).drawn
    at = AppTest.from_file(PAGE, default_timeout=60).run()
    at.selectbox(key="yield_input_band").select("ppt").run()
    assert not at.exception
    assert at.error and "no valid pixel" in at.error[0].value
    assert maps and not _elements(maps[-1], ImageOverlay) and _payload(maps[-1])["fill"]


def test_the_swipe_shows_true_left_and_predicted_right_and_the_error_view_alone(tiny_checkpoint, monkeypatch, swipe_files):
    maps = county_clicks(monkeypatch).drawn
    at = AppTest.from_file(PAGE, default_timeout=60).run()
    assert not at.toggle(key="yield_split").proto.disabled
    at.toggle(key="yield_split").set_value(True).run()
    assert not at.exception and not at.error
    assert _county_layer(maps[-1]).split
    payload = _payload(maps[-1])
    assert payload["label"] == "Yield (bu/acre)" and payload["right"]["label"] == "Predicted yield (bu/acre)"
    assert payload["sides"] == ["True", "Predicted"] and set(payload["right"]["fill"]) >= set(payload["fill"])
    assert any("Swipe the divider" in c.value for c in at.caption)
    at.radio(key="yield_view").set_value("Error (predicted − true)").run()
    error = _payload(maps[-1])
    assert _county_layer(maps[-1]).split and "right" not in error  # the same base map, one value over all of it
    assert error["label"].startswith("Predicted − true")


def test_the_swipe_is_off_when_its_files_are_missing(tiny_checkpoint, monkeypatch):
    monkeypatch.setattr(yield_layers, "side_by_side_installed", lambda: False)
    county_clicks(monkeypatch)
    at = AppTest.from_file(PAGE, default_timeout=60).run()
    toggle = at.toggle(key="yield_split")
    assert toggle.proto.disabled and "make assets" in toggle.proto.help


def test_a_calibrated_checkpoint_offers_its_county_offsets_as_a_map(tiny_checkpoint, app_env, monkeypatch, swipe_files):
    """The caption says what the predictions include; the offsets are a diverging view, never swiped."""
    from geoapp.data.dataset import load_dataset
    from geoapp.training.yield_trainer import calibrate_checkpoint

    maps = county_clicks(monkeypatch).drawn
    at = AppTest.from_file(PAGE, default_timeout=60).run()
    assert "County offset (calibration)" not in at.radio(key="yield_view").options  # not calibrated yet
    entry = calibrate_checkpoint(tiny_checkpoint, load_dataset(next(app_env.iterdir())), "county-trend")
    assert entry["offsets_bu"]  # the tiny run leaves a county effect to fit
    at = AppTest.from_file(PAGE, default_timeout=60).run()
    assert not at.exception and not at.error
    assert any(c.value.startswith("Predictions include a residual calibration (county-trend)") for c in at.caption)
    at.toggle(key="yield_split").set_value(True).run()
    at.radio(key="yield_view").set_value("County offset (calibration)").run()
    assert not at.exception and not at.error
    payload = _payload(maps[-1])
    assert payload["label"].startswith("County offset") and "right" not in payload


def test_the_ablation_and_attention_are_computed_again_when_the_checkpoint_is_calibrated(tiny_checkpoint, app_env):
    """Their in-memory caches are keyed on the checkpoint's files, as the predictions' are: after `train calibrate`
    the Feature ablation page shows the calibrated scores the Yield map shows, not the ones from before."""
    from geoapp.app_support.yield_views import cached_ablation, cached_attention, checkpoint_stamp
    from geoapp.data.dataset import load_dataset
    from geoapp.training.yield_trainer import calibrate_checkpoint

    ds_path = str(next(app_env.iterdir()))
    before = checkpoint_stamp(str(tiny_checkpoint))
    summary, _ = cached_ablation(str(tiny_checkpoint), ds_path, 2016)
    att, _, _ = cached_attention(str(tiny_checkpoint), ds_path, 2016)
    calibrate_checkpoint(tiny_checkpoint, load_dataset(ds_path), "county-trend")
    assert checkpoint_stamp(str(tiny_checkpoint)) != before
    after, _ = cached_ablation(str(tiny_checkpoint), ds_path, 2016)
    assert after is not summary and not after.equals(summary)  # the calibrated model's scores
    assert cached_attention(str(tiny_checkpoint), ds_path, 2016)[0] is not att  # computed again (the same values)
    assert checkpoint_stamp(str(tiny_checkpoint / "nowhere")) == (0, 0, 0, 0)


def test_the_county_map_draws_the_datasets_states_not_the_demos(app_env, monkeypatch):
    """The tiny dataset holds Iowa and Illinois: their counties are drawn (and can be clicked), not the demo's 13 states."""
    from geoapp.app_support.county_map import states_of
    from geoapp.app_support.loaders import cached_county_source

    maps = county_clicks(monkeypatch).drawn
    at = AppTest.from_file(PAGE, default_timeout=60).run()
    assert not at.exception and not at.error
    source = cached_county_source(("IA", "IL"))
    assert len(source.geoids) == 201 and {g[:2] for g in source.geoids} == {"19", "17"}
    html = maps[-1].get_root().render()
    assert source.url in html and cached_county_source().url not in html
    assert states_of(["19153", "17031", "19001", "99999"]) == ("IA", "IL")
