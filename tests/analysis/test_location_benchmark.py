"""The location benchmark's tables: rows per set, input and footprint, baselines at the reference scale."""

from __future__ import annotations

import numpy as np
import pytest

from geoapp.analysis.location import load_location_model
from geoapp.bench.location import _footprints, _geolocation_rows, write_markdown
from geoapp.data.galleries import Gallery, load_gallery
from geoapp.training.location_trainer import LocationTrainConfig, train_location

TINY = LocationTrainConfig(
    n_train=256, n_val=64, n_test=64, epochs=1, batch_size=64, sh_degree=4, hidden_dim=32, embed_dim=16, image_width=4,
    val_gallery=300,
)  # fmt: skip


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory):
    return load_location_model(str(train_location(TINY, tmp_path_factory.mktemp("loc"), progress=False)))


def test_footprints_stay_within_the_trained_range():
    assert _footprints(LocationTrainConfig()) == [400.0, 200.0, 1600.0]
    narrow = LocationTrainConfig(footprint_min_km=300.0, footprint_km=400.0, footprint_max_km=500.0)
    assert _footprints(narrow) == [400.0]


def test_rows_cover_every_set_input_and_footprint(tiny_model):
    gallery = Gallery("small", load_gallery("land").coords[::400], "every 400th land point")
    sets = {"a": np.array([[10.0, 20.0], [45.0, 7.0]]), "b": np.array([[-20.0, 130.0]])}
    train = np.array([[0.0, 0.0], [30.0, 30.0], [50.0, 10.0]])
    rows = _geolocation_rows(tiny_model, gallery, sets, train, progress=False)
    ours = [r for r in rows if r["method"] == "ours"]
    assert len(ours) == 2 * 2 * 3  # sets x inputs (RGB + relief, RGB only) x footprints
    baselines = [r for r in rows if r["method"] != "ours"]
    assert {r["footprint_km"] for r in baselines} == {400.0}  # baselines at the reference scale only
    assert len(baselines) == 2 * 2 * 2
    for r in rows:
        assert 0.0 <= r["acc_25km"] <= r["acc_200km"] <= r["acc_750km"] <= r["acc_2500km"] <= 1.0
        assert r["n"] == len(sets[r["set"]])


def test_markdown_has_one_line_per_row_and_every_encoder(tmp_path, monkeypatch):
    row = {"acc_25km": 0.1, "acc_200km": 0.2, "acc_750km": 0.5, "acc_2500km": 0.8, "median_km": 700.0}
    enc = {
        "falloff": {"100": 0.9, "500": 0.6, "2000": 0.2, "5000": 0.0},
        "appearance_rank_correlation": 0.3,
        "country_probe": {"accuracy": 0.92, "majority_baseline": 0.13, "n_countries": 100, "n_points": 19000},
        "regression_probe": {"field": "d", "r2": 0.7, "rmse_km": 250.0, "mean_baseline_rmse_km": 495.0, "n_test": 5000},
    }
    result = {
        "checkpoint": "x",
        "machine": "m",
        "config": {"footprint_km": 400.0, "footprint_range_km": [100.0, 1600.0], "holdout_blocks": "10%", "n_train": 40000},
        "sets": {"random held-out": 2000},
        "gallery": "100000 land points",
        "geolocation": [
            {"set": "random held-out", "input": "RGB only", "footprint_km": 400.0, "method": "ours", "n": 2000, **row}
        ],
        "encoders": {"ours": enc, "geoclip": enc},
        "similarity_ms": {"median": 10.0, "max": 20.0, "gallery_embedding_s": 3.0},
        "spherical_harmonics": {"rows": [], "target": "t", "target_met": True},
    }
    from geoapp.bench import spherical_harmonics

    monkeypatch.setattr(spherical_harmonics, "format_sh_table", lambda sh: "(table)")
    path = tmp_path / "bench.md"
    write_markdown(result, path, extra="## Reading\n\nNotes.")
    text = path.read_text()
    assert "| random held-out | RGB only | 400 | ours | 10.0% | 20.0% | 50.0% | 80.0% | 700 |" in text
    assert "| ours | 0.90 | 0.60 | 0.20 | 0.00 | 0.30 | 92.0% | 0.70 | 250 |" in text
    assert "| geoclip |" in text and text.rstrip().endswith("Notes.")


def test_a_hand_written_reading_section_survives_a_rewrite(tmp_path, monkeypatch):
    from geoapp.bench import spherical_harmonics
    from geoapp.bench.location import READING_HEADING

    monkeypatch.setattr(spherical_harmonics, "format_sh_table", lambda sh: "(table)")
    result = {
        "checkpoint": "x",
        "machine": "m",
        "config": {"footprint_km": 400.0, "footprint_range_km": [100.0, 1600.0], "holdout_blocks": "10%", "n_train": 1},
        "sets": {},
        "gallery": "g",
        "geolocation": [],
        "encoders": {},
        "similarity_ms": {"median": 1.0, "max": 2.0, "gallery_embedding_s": 3.0},
        "spherical_harmonics": {"rows": [], "target": "t", "target_met": True},
    }
    path = tmp_path / "bench.md"
    path.write_text("# old tables\n\n" + READING_HEADING + "\n\nWhat the figures mean.\n")
    write_markdown(result, path)
    text = path.read_text()
    assert "# old tables" not in text and text.rstrip().endswith("What the figures mean.")
