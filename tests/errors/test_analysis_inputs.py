"""The analysis API refuses bad input with an error that names it (never a raw ValueError or a silent guess).

Similarity and geolocation take one finite number per coordinate, a whole top_k and an image big enough
to place; the Attention, comparison and ablation analyses on a year without labelled counties say so.
"""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from geoapp.analysis.ablation import what_if_ablation
from geoapp.analysis.attention import attention_matrices
from geoapp.analysis.location import MIN_IMAGE_PX, conform_image, geolocate, similarity
from geoapp.analysis.yield_predictions import compare_on_year
from geoapp.data.dataset import load_dataset
from geoapp.data.galleries import Gallery
from geoapp.errors import GeoappError, InputError
from geoapp.models.yield_models import build_yield_model
from geoapp.training.location_trainer import LocationTrainConfig
from geoapp.training.ridge_trainer import train_ridge
from geoapp.training.yield_data import YieldTileSource

GALLERY = Gallery("three", np.array([[0.0, 0.0], [10.0, 20.0], [-30.0, 140.0]]), "three points")


class _NoEncoder:
    """Stands in for an encoder: the inputs are refused before any embedding is computed."""

    fingerprint = "none"
    config = LocationTrainConfig()

    def embed_locations(self, lat, lon):  # pragma: no cover - never reached
        raise AssertionError("the input should have been refused first")


@pytest.mark.parametrize(
    "lat, lon, match",
    [
        ("abc", 0.0, r"lat must be one number of degrees, got 'abc'"),
        (None, 0.0, r"lat must be one number of degrees, got None"),
        (np.array([1.0, 2.0]), 0.0, r"lat must be one number of degrees, got array"),
        ([45.0], 0.0, r"lat must be one number of degrees, got \[45.0\]"),
        (True, 0.0, r"lat must be one number of degrees, got True"),
        (float("nan"), 0.0, r"lat must be a finite number of degrees, got nan"),
        (0.0, float("inf"), r"lon must be a finite number of degrees, got inf"),
        (91.0, 0.0, r"latitude 91.0 is outside \[-90, 90\] degrees"),
        (-1e6, 0.0, r"latitude -1000000.0 is outside"),
        (0.0, 5e5, r"longitude 500000.0 is outside \[-540, 540\] degrees"),
    ],
)
def test_similarity_refuses_bad_points(lat, lon, match):
    with pytest.raises(InputError, match=match):
        similarity(lat, lon, _NoEncoder(), GALLERY)


@pytest.mark.parametrize(
    "top_k, match",
    [
        (float("nan"), r"top_k must be a whole number of places \(1 or more\), got nan"),
        (2.5, r"top_k must be a whole number .*got 2.5"),
        (True, r"top_k must be a whole number .*got True"),
        ("3", r"top_k must be a whole number .*got '3'"),
        (0, r"top_k must be between 1 and 3 \(the gallery's size\), got 0"),
        (4, r"top_k must be between 1 and 3"),
    ],
)
def test_geolocate_refuses_bad_top_k(top_k, match):
    with pytest.raises(InputError, match=match):
        geolocate(np.zeros((32, 32, 3), np.uint8), top_k=top_k, model=_NoEncoder(), gallery=GALLERY)


@pytest.mark.parametrize("shape", [(1, 1, 3), (0, 0, 3), (MIN_IMAGE_PX - 1, 64, 4), (64, 2, 3)])
def test_images_too_small_to_place_are_refused_with_the_minimum(shape):
    with pytest.raises(InputError, match=rf"geolocating needs at least {MIN_IMAGE_PX} x {MIN_IMAGE_PX}.*use a larger image"):
        geolocate(np.zeros(shape, np.uint8), top_k=1, model=_NoEncoder(), gallery=GALLERY)
    assert conform_image(np.zeros((MIN_IMAGE_PX, MIN_IMAGE_PX, 3), np.uint8), LocationTrainConfig()).shape == (32, 32, 4)


# ---- crop-yield analyses on a year without labels ------------------------------------------------


@pytest.fixture(scope="module")
def ds(tiny_dataset_path):
    return load_dataset(tiny_dataset_path)


def _without_labels(ds, year):
    other = load_dataset(ds.root)
    other.yields = other.yields.assign(labelled=other.yields["labelled"] & (other.yields["year"] != year))
    return other


def test_attention_on_a_year_without_labels_says_so(ds):
    empty = _without_labels(ds, 2016)
    model = build_yield_model("s-ha", "demo", embed_dim=16, cnn_width=4, heads=2, layers=1, ff_dim=32)
    source = YieldTileSource(empty, [2012, 2013], years=[2016])
    with pytest.raises(InputError, match=r"no labelled counties in 2016: the attention summary needs at least one"):
        attention_matrices(model, source, source.examples([2016]))


@pytest.fixture(scope="module")
def ridge_root(ds, tmp_path_factory):
    root = tmp_path_factory.mktemp("checkpoints")
    train_ridge(ds, [2012, 2013, 2014], 2015, 2016, root / "yield" / "ridge-2016")
    return root


def test_model_comparison_on_a_year_without_rows_is_a_clear_error(ds, ridge_root):
    assert list(compare_on_year(ds, 2016, ridge_root)["model"]) == ["ridge"]
    with pytest.raises(InputError, match=r"no labelled counties in 2016 in dataset .*nothing to compare the models on"):
        compare_on_year(_without_labels(ds, 2016), 2016, ridge_root)
    with pytest.raises(InputError, match=r"year 1990 is not in dataset .*it holds 2012..2016"):
        compare_on_year(ds, 1990, ridge_root)


def test_model_comparison_lists_a_broken_checkpoint_apart(ds, ridge_root, tmp_path):
    root = shutil.copytree(ridge_root, tmp_path / "checkpoints")
    broken = shutil.copytree(root / "yield" / "ridge-2016", root / "yield" / "ridge-2016-b")
    card = json.loads((broken / "best" / "card.json").read_text())
    (broken / "best" / "card.json").write_text(json.dumps({**card, "n_features": 7}))  # weights no longer fit
    table = compare_on_year(ds, 2016, root)
    assert len(table) == 1 and table.attrs["broken"][0]["checkpoint"].endswith("ridge-2016-b/best")
    assert "does not fit its own card" in table.attrs["broken"][0]["error"]


def test_ablation_on_a_year_without_labels_is_a_clear_error(ds, ridge_root):
    folder = ridge_root / "yield" / "ridge-2016" / "best"
    with pytest.raises(InputError, match=r"no labelled counties in 2016 in dataset .*nothing to measure the ablation on"):
        what_if_ablation(folder, _without_labels(ds, 2016), 2016)
    with pytest.raises(InputError, match=r"year must be a whole number, got str 'abc'"):
        what_if_ablation(folder, ds, "abc")
    summary, _ = what_if_ablation(folder, ds, 2016)
    assert np.isfinite(summary["rmse"]).all()


def test_every_refusal_is_a_geoapp_error():
    with pytest.raises(GeoappError):
        similarity("abc", 0.0, _NoEncoder(), GALLERY)
    with pytest.raises(ValueError):  # InputError is also a ValueError
        geolocate(np.zeros((1, 1, 3), np.uint8), top_k=1, model=_NoEncoder(), gallery=GALLERY)
