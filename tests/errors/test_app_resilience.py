"""One bad file never takes down a page: broken checkpoint cards, datasets and empty years under AppTest.

Each page catches per item: a checkpoint card or dataset folder that cannot be read is listed with its
reason and the others stay usable; a year without labels says so; an error shows as an error box
(an unexpected one as "internal error" with its details folded away), never as a traceback.
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

import geoapp.app_support.county_map as county_map
from geoapp.app_support.checkpoints import card_problem, scan_checkpoints, yield_checkpoints_of
from geoapp.app_support.page import error_text
from geoapp.data.dataset import load_dataset
from geoapp.errors import DataFileError, InputError
from geoapp.paths import REPO_ROOT
from tests.app.real_standin import _fingerprint

TIMEOUT = 60
EMPTY_YEAR = 2012
"""The year :func:`app_data` strips of every label."""

BAD_CARDS = {
    "not JSON": "{not json",
    "a JSON list": json.dumps([1, 2, 3]),
    "missing fields": json.dumps({"kind": "crop-yield", "model": "s-ha"}),
    "unknown model": json.dumps(
        {
            "kind": "crop-yield",
            "model": "super-net",
            "years": {"train": [2013], "validation": 2014, "test": 2015},
            "dataset": {"fingerprint": "x"},
        }
    ),
}
REASONS = {
    "not JSON": r"card\.json",
    "a JSON list": r"list",
    "missing fields": r"years|model_config|dataset|missing|lacks",
    "unknown model": r"super-net",
}


# ---- fixtures ----------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def sparse_dataset(tiny_dataset_path, tmp_path_factory) -> Path:
    """The tiny dataset with every label of :data:`EMPTY_YEAR` withheld (fingerprint updated)."""
    folder = tmp_path_factory.mktemp("sparse") / "corn_belt_sim_tiny"
    shutil.copytree(tiny_dataset_path, folder)
    yields = pd.read_csv(folder / "yields.csv", dtype={"geoid": str})
    empty = yields["year"] == EMPTY_YEAR
    yields.loc[empty, "labelled"] = False
    yields.loc[empty, "yield"] = float("nan")
    yields.to_csv(folder / "yields.csv", index=False, float_format="%.3f")
    card = json.loads((folder / "dataset.json").read_text())
    card["fingerprint"] = _fingerprint(folder)
    (folder / "dataset.json").write_text(json.dumps(card, indent=1))
    return folder


@pytest.fixture(scope="module")
def trained(sparse_dataset, tmp_path_factory) -> Path:
    """A tiny s-ha checkpoint (test year 2016) trained on :func:`sparse_dataset`; returns its run folder."""
    from geoapp.training.yield_trainer import YieldTrainConfig, train_yield

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
    run = tmp_path_factory.mktemp("trained") / "s-ha-2016"
    train_yield(cfg, load_dataset(sparse_dataset), run, progress=False)
    return run


@pytest.fixture()
def app_data(sparse_dataset, trained, tmp_path, monkeypatch) -> dict[str, Path]:
    """A data folder holding the sparse dataset and a checkpoint folder holding the trained run."""
    data, ckpt = tmp_path / "data", tmp_path / "checkpoints"
    data.mkdir()
    shutil.copytree(sparse_dataset, data / sparse_dataset.name)
    shutil.copytree(trained, ckpt / "yield" / trained.name, ignore=shutil.ignore_patterns("last"))
    monkeypatch.setenv("GEOAPP_DATA_DIR", str(data))
    monkeypatch.setenv("GEOAPP_CHECKPOINT_DIR", str(ckpt))
    import streamlit as st

    st.cache_data.clear()
    st.cache_resource.clear()
    monkeypatch.setattr(county_map, "st_folium", lambda m, key=None, **kw: {"last_active_drawing": None})
    return {"data": data, "checkpoints": ckpt, "good": ckpt / "yield" / trained.name / "best"}


def _bad_card(root: Path, kind: str, name: str = "broken-run") -> Path:
    folder = root / "yield" / name / "best"
    folder.mkdir(parents=True)
    (folder / "card.json").write_text(BAD_CARDS[kind])
    return folder / "card.json"


def _run(path: str, **state) -> AppTest:
    at = AppTest.from_file(str(REPO_ROOT / path), default_timeout=TIMEOUT)
    for k, v in state.items():
        at.session_state[k] = v
    return at.run()


def _expander_text(at: AppTest, label_part: str) -> str:
    for exp in [*at.sidebar.expander, *at.main.expander]:
        if label_part in exp.label:
            return " ".join(md.value for md in exp.markdown)
    raise AssertionError(f"no expander labelled {label_part!r}: {[e.label for e in at.expander]}")


# ---- checkpoint cards ----------------------------------------------------------------------------
@pytest.mark.parametrize("kind", list(BAD_CARDS))
def test_card_problem_names_what_is_wrong(kind, tmp_path):
    card = _bad_card(tmp_path, kind)
    good, broken = scan_checkpoints(tmp_path)
    assert good == [] and [b.path for b in broken] == [str(card)]
    assert re.search(REASONS[kind], broken[0].reason), broken[0].reason


def test_card_problem_accepts_a_real_card_and_refuses_bad_years(app_data):
    card = json.loads((app_data["good"] / "card.json").read_text())
    assert card_problem(card) is None
    assert "years.test" in card_problem({**card, "years": {**card["years"], "test": "abc"}})
    assert "unknown checkpoint kind" in card_problem({"kind": "mystery", "model": "x"})


@pytest.mark.parametrize("kind", list(BAD_CARDS))
def test_yield_map_lists_a_bad_card_as_broken_and_offers_the_others(app_data, kind):
    card = _bad_card(app_data["checkpoints"], kind)
    at = _run("pages/yield_map.py")
    assert not at.exception and not at.error
    options = at.sidebar.selectbox(key="w_checkpoint").options
    assert len(options) == 2 and "s-ha" in options[1]  # none + the good checkpoint
    assert at.sidebar.selectbox(key="w_checkpoint").value == str(app_data["good"])
    text = _expander_text(at, "1 checkpoint could not be read")
    assert str(card) in text


@pytest.mark.parametrize("page", ["app.py", "pages/attention.py", "pages/feature_ablation.py"])
def test_other_pages_list_a_bad_card_and_keep_working(app_data, page):
    card = _bad_card(app_data["checkpoints"], "a JSON list")
    at = _run(page)
    assert not at.exception and not at.error
    assert str(card) in _expander_text(at, "1 checkpoint could not be read")
    if page != "app.py":
        assert at.get("plotly_chart")  # the good checkpoint's figures are drawn
    else:
        assert any("s-ha" in str(df.value) for df in at.dataframe)


def test_a_fixed_card_is_read_again(app_data):
    card = _bad_card(app_data["checkpoints"], "not JSON")
    ds = load_dataset(next(app_data["data"].iterdir()))
    assert len(yield_checkpoints_of(ds)[1]) == 1
    good_card = json.loads((app_data["good"] / "card.json").read_text())
    card.write_text(json.dumps(good_card))  # fixed (mtime and size change)
    found, broken = yield_checkpoints_of(ds)
    assert broken == [] and len(found) == 2


def test_location_encoder_choices_skip_a_bad_card(app_data):
    from geoapp.app_support.checkpoints import location_checkpoints_found
    from geoapp.app_support.location import encoder_choices

    shipped = REPO_ROOT / "checkpoints" / "location" / "contrastive-sh-siren"
    shutil.copytree(shipped, app_data["checkpoints"] / "location" / "mine")
    bad = app_data["checkpoints"] / "location" / "bad" / "best"
    bad.mkdir(parents=True)
    (bad / "card.json").write_text("[]")
    found, broken = location_checkpoints_found()
    assert [f.parent.name for f, _ in found] == ["mine"] and [b.path for b in broken] == [str(bad / "card.json")]
    choices = encoder_choices.__wrapped__(include_geoclip=False)
    assert "ours" in choices and any("mine" in label for label in choices.values())
    assert not any("bad" in key for key in choices)


# ---- datasets --------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "damage",
    [
        lambda f: (f / "dataset.json").write_text("{garbled"),
        lambda f: (f / "dataset.json").write_text("[]"),
        lambda f: (f / "yields.csv").unlink(),
        lambda f: (f / "cube.nc").write_bytes(b"not a netcdf file"),
    ],
    ids=["garbled card", "card a list", "no yields", "cube garbage"],
)
@pytest.mark.parametrize("page", ["app.py", "pages/yield_map.py", "pages/training.py"])
def test_a_broken_dataset_beside_a_good_one_leaves_the_good_one_usable(app_data, page, damage):
    broken = app_data["data"] / "aaa_broken"  # sorts first
    shutil.copytree(next(p for p in app_data["data"].iterdir() if p.name != "aaa_broken"), broken)
    damage(broken)
    at = _run(page)
    assert not at.exception and not at.error
    good = str(app_data["data"] / "corn_belt_sim_tiny")
    assert at.sidebar.selectbox(key="w_dataset").options == [load_dataset(good).title]
    assert str(broken) in _expander_text(at, "1 dataset could not be read")


def test_no_dataset_that_opens_says_so_in_one_error_box(app_data):
    (next(app_data["data"].iterdir()) / "yields.csv").unlink()
    at = _run("pages/yield_map.py")
    assert not at.exception
    assert len(at.error) == 1 and "No dataset can be opened" in at.error[0].value and "yields.csv" in at.error[0].value


# ---- empty years --------------------------------------------------------------------------------
def test_attention_on_a_year_without_labels_says_choose_another_year(app_data):
    at = _run("pages/attention.py", sel_year=EMPTY_YEAR)
    assert not at.exception and not at.error
    assert any(f"No labelled counties in {EMPTY_YEAR}: choose another year" in i.value for i in at.info)
    at.sidebar.selectbox(key="w_year").select(2016).run()
    assert not at.exception and not at.error and at.get("plotly_chart")  # the page keeps working


@pytest.mark.parametrize("page", ["pages/yield_map.py", "pages/feature_ablation.py"])
def test_yield_pages_on_a_year_without_labels(app_data, page):
    at = _run(page, sel_year=EMPTY_YEAR)
    assert not at.exception and not at.error
    assert any(f"No labelled counties in {EMPTY_YEAR}" in i.value for i in at.info)


def test_compare_every_model_on_a_year_without_rows(app_data):
    card_path = app_data["good"] / "card.json"
    card = json.loads(card_path.read_text())
    card["years"]["test"] = EMPTY_YEAR  # a checkpoint tested on the empty year (as a ridge run would be)
    card_path.write_text(json.dumps(card))
    at = _run("pages/yield_map.py", sel_year=EMPTY_YEAR)
    at.toggle(key="yield_compare").set_value(True).run()
    assert not at.exception and not at.error
    assert any(f"No labelled counties in {EMPTY_YEAR}: choose another year" in i.value for i in at.info)


def test_a_checkpoint_that_cannot_be_scored_is_listed_in_the_comparison(app_data):
    (app_data["good"] / "model.safetensors").write_bytes(b"garbage")
    at = _run("pages/yield_map.py")
    assert not at.exception
    assert at.error  # the selected checkpoint's own error box
    assert at.radio(key="yield_view").options == ["True"]  # the true-yield map is still drawn
    at.toggle(key="yield_compare").set_value(True).run()
    assert not at.exception
    assert str(app_data["good"]) in _expander_text(at, "1 checkpoint could not be read")


# ---- the error box ------------------------------------------------------------------------------
def test_error_text_says_what_to_do():
    with pytest.raises(InputError, match="year"):
        raise InputError("year 1990 is not in the dataset; choose one of 2012-2016")
    assert error_text(InputError("bad year")) == "InputError: bad year"
    text = error_text(PermissionError(13, "Permission denied", "/x/y"))
    assert "Permission denied" in text and "/x/y" in text and "GEOAPP_DATA_DIR" in text
    assert error_text(DataFileError("garbled")).startswith("DataFileError: garbled")
    assert error_text(KeyError("oops")).startswith("Internal error (KeyError")


def test_an_unexpected_error_shows_internal_error_with_details_not_a_traceback(app_data, monkeypatch):
    import geoapp.app_support.yield_views as views

    def boom(*args, **kwargs):
        raise KeyError("surprise")

    monkeypatch.setattr(views, "yield_checkpoints_of", boom)
    at = _run("pages/yield_map.py")
    assert not at.exception
    assert at.error and at.error[0].value.startswith("Internal error (KeyError")
    assert any("details" in e.label for e in at.expander)


def test_upload_limit_matches_the_label():
    config = (REPO_ROOT / ".streamlit" / "config.toml").read_text()
    page = (REPO_ROOT / "geoapp" / "app_support" / "geolocation_input.py").read_text()  # the page's upload widget
    assert "maxUploadSize = 5" in config
    assert "UPLOAD_LIMIT_MB = 5" in page and "max_upload_size=UPLOAD_LIMIT_MB" in page


@pytest.mark.parametrize(
    ("data", "match"),
    [
        (b"%PDF-1.4 not an image", "not an image"),
        (None, "corrupt|truncated"),
        (b"\0" * (5 * 1024 * 1024 + 1), "limit is"),
    ],
    ids=["not an image", "truncated", "too large"],
)
def test_bad_uploads_are_refused_with_a_clear_error(data, match):
    import io

    from PIL import Image

    from geoapp.data.imagery import validate_image_upload

    if data is None:
        import numpy as np

        buf = io.BytesIO()
        Image.fromarray(np.random.default_rng(0).integers(0, 255, (64, 64, 3), dtype=np.uint8)).save(buf, format="PNG")
        data = buf.getvalue()[: len(buf.getvalue()) // 2]
    with pytest.raises(InputError, match=match):
        validate_image_upload(data, max_bytes=5 * 1024 * 1024)


# ---- bench yield -----------------------------------------------------------------------------------
@pytest.mark.parametrize("kind", ["a JSON list", "unknown model"])
def test_bench_yield_skips_a_bad_card_and_scores_the_others(app_data, kind, capsys):
    from geoapp.bench.yield_models import run_yield_benchmark

    card = _bad_card(app_data["checkpoints"], kind)
    result = run_yield_benchmark(str(next(app_data["data"].iterdir())))
    assert [r["model"] for r in result["rows"]] == ["s-ha"]
    [skipped] = result["skipped"]
    assert skipped["checkpoint"] == str(card.parent)
    assert re.search(REASONS[kind], skipped["reason"])
    assert f"skipped {card.parent}" in capsys.readouterr().err
