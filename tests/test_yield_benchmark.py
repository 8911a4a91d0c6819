"""The crop-yield benchmark's paired comparison (RMSE difference with a county bootstrap) and its table."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from geoapp.bench import yield_models
from geoapp.bench.yield_models import paired_rmse_difference


def test_identical_predictions_differ_by_nothing():
    true = np.linspace(150, 200, 50)
    pred = true + np.sin(np.arange(50))
    out = paired_rmse_difference(true, pred, pred)
    assert out["diff"] == 0 and out["ci_low"] == 0 and out["ci_high"] == 0
    assert out["a_better_share"] == 0  # never strictly better


def test_difference_matches_a_hand_computation_and_the_interval_covers_it():
    rng = np.random.default_rng(1)
    true = rng.normal(180, 10, 400)
    a, b = true + rng.normal(0, 3, 400), true + rng.normal(0, 5, 400)
    out = paired_rmse_difference(true, a, b, n_boot=500)
    expected = np.sqrt(np.mean((a - true) ** 2)) - np.sqrt(np.mean((b - true) ** 2))
    assert out["diff"] == pytest.approx(expected, abs=1e-3)
    assert out["ci_low"] <= out["diff"] <= out["ci_high"] < 0  # a clearly better: the interval excludes 0
    assert out["a_better_share"] == 1.0
    assert paired_rmse_difference(true, a, b, n_boot=500) == out  # seeded


def test_bad_shapes_are_refused():
    with pytest.raises(ValueError, match="1-D arrays of one length"):
        paired_rmse_difference(np.zeros(5), np.zeros(5), np.zeros(4))
    with pytest.raises(ValueError, match="1-D arrays of one length"):
        paired_rmse_difference(np.zeros(1), np.zeros(1), np.zeros(1))


def _table(geoids, true, pred, year=2018):
    return pd.DataFrame({"geoid": geoids, "year": year, "true": true, "predicted": pred})


def test_comparisons_pair_counties_by_geoid_and_skip_years_without_semi_ha():
    ids = ["19001", "19003", "19005", "19007"]
    true = [180.0, 170.0, 160.0, 150.0]
    tables = {
        ("semi-ha", 2018): _table(ids, true, [181.0, 171.0, 161.0, 151.0]),
        ("s-ha", 2018): _table(ids[::-1], true[::-1], [153.0, 163.0, 173.0, 183.0]),  # other row order, errors 3
        ("s-ha", 2017): _table(ids, true, true, year=2017),  # no SEMI-HA for 2017: no comparison
    }
    (row,) = yield_models._comparisons(tables)
    assert (row["year"], row["model"], row["against"], row["n"]) == (2018, "semi-ha", "s-ha", 4)
    assert row["diff"] == pytest.approx(1.0 - 3.0)


def test_markdown_has_the_comparison_table_and_keeps_notes(tmp_path):
    result = {
        "dataset": "Simulated test",
        "machine": "CPU, 1 threads",
        "rows": [],
        "comparisons": [
            {
                "year": 2018,
                "model": "semi-ha",
                "against": "s-ha",
                "n": 849,
                "diff": -0.33,
                "ci_low": -0.52,
                "ci_high": -0.14,
                "a_better_share": 0.999,
            }
        ],
    }
    path = tmp_path / "bench.md"
    path.write_text(f"old\n{yield_models.NOTES_MARKER}\nhand-written notes\n")
    yield_models.write_markdown(result, path)
    text = path.read_text()
    assert "| 2018 | s-ha | 849 | -0.330 | [-0.520, -0.140] | 100% |" in text
    assert text.endswith(f"{yield_models.NOTES_MARKER}\nhand-written notes\n") and "old" not in text


def test_a_calibrated_checkpoint_is_named_so_in_the_table(tmp_path):
    row = {
        "year": 2018, "model": "semi-ha-loc", "rmse": 4.569, "r2": 0.694, "bias": 0.367, "rmse_without_bias": 4.554,
        "corr": 0.834, "noise_floor_rmse": 3.031, "n": 849, "epochs": 9, "best_epoch": 8, "train_samples_per_s": 275.9,
        "inference_all_counties_s": 0.5, "what_if_one_group_s": 0.35, "ablation_page_s": 1.2,
    }  # fmt: skip
    result = {"dataset": "Simulated test", "machine": "CPU", "rows": [{**row, "calibration": "county-trend"}, row]}
    path = tmp_path / "bench.md"
    yield_models.write_markdown(result, path)
    text = path.read_text()
    assert "| 2018 | semi-ha-loc + county-trend calibration | 4.569 |" in text
    assert "| 2018 | semi-ha-loc | 4.569 |" in text  # a row without one (older results) is named as before
