"""The batched what-if ablation (every masked variant in one pass) against the per-group path, on tiny trained models."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
import torch

import geoapp.analysis.ablation as ablation
from geoapp.analysis.ablation import masked_predictions, per_group_predictions, what_if_ablation
from geoapp.data.bands import BANDS, FEATURE_GROUPS
from geoapp.data.dataset import load_dataset
from geoapp.errors import InputError
from geoapp.training.ridge_trainer import train_ridge
from geoapp.training.yield_trainer import YieldTrainConfig, load_yield_model, train_yield

SMALL = {"embed_dim": 16, "cnn_width": 4, "heads": 2, "layers": 1, "ff_dim": 32}
TOL = {"rtol": 1e-5, "atol": 1e-4}  # bu/acre: float32 rounding of another batch layout


@pytest.fixture(scope="module")
def ds(tiny_dataset_path):
    return load_dataset(tiny_dataset_path)


@pytest.fixture(scope="module")
def runs(ds, tmp_path_factory):
    root = tmp_path_factory.mktemp("ck_fast")
    out = {}
    for name in ("s-ha", "semi-sa", "semi-ha-loc"):
        cfg = YieldTrainConfig(
            model=name,
            test_year=2016,
            n_train_years=3,
            epochs=1,
            batch_size=16,
            max_train_examples=32,
            r_n_km=24.0,
            r_d_km=64.0,
            model_overrides=SMALL,
            device="cpu",
        )
        out[name] = train_yield(cfg, ds, root / "yield" / name, progress=False)
    out["ridge"] = train_ridge(ds, [2012, 2013, 2014], 2015, 2016, root / "yield" / "ridge")
    return out


def _inputs(ds, folder, year=2016):
    model, card = load_yield_model(folder, ds)
    source, ex = ablation._year_examples(card, ds, year)
    return model, source, ex, ablation._group_channels(source)


@pytest.mark.parametrize("name", ["s-ha", "semi-sa", "semi-ha-loc"])
def test_batched_pass_equals_one_pass_per_group(ds, runs, name):
    model, source, ex, masks = _inputs(ds, runs[name])
    assert list(masks) == list(FEATURE_GROUPS)
    base, masked = masked_predictions(model, source.anchor_tiles(ex), masks, county=ex.county)
    ref_base, ref_masked = per_group_predictions(model, source, ex, list(masks))
    assert base.shape == (len(ex),) and list(masked) == list(masks)
    np.testing.assert_allclose(base, ref_base, **TOL)
    for group in masks:
        np.testing.assert_allclose(masked[group], ref_masked[group], **TOL)
        assert not np.allclose(masked[group], base)  # masking a group changes the predictions


@pytest.mark.parametrize("threads", [1, 2])  # one core: the chunks run in turn; two: a pool of two workers
def test_chunks_workers_and_threads_do_not_change_the_result(ds, runs, threads):
    model, source, ex, masks = _inputs(ds, runs["s-ha"])
    tiles = source.anchor_tiles(ex)
    ref_base, ref_masked = per_group_predictions(model, source, ex, list(masks))
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        for chunk in (7, 50):  # 7: a ragged last chunk
            base, masked = masked_predictions(model, tiles, masks, counties_per_chunk=chunk)
            assert torch.get_num_threads() == threads  # the per-call thread setting is restored
            np.testing.assert_allclose(base, ref_base, **TOL)
            for group in masks:
                np.testing.assert_allclose(masked[group], ref_masked[group], **TOL)
    finally:
        torch.set_num_threads(before)


def test_what_if_tables_equal_the_per_group_tables(ds, runs):
    summary, per_county = what_if_ablation(runs["s-ha"], ds, 2016)
    model, source, ex, masks = _inputs(ds, runs["s-ha"])
    ref_summary, ref_per_county = ablation._tables(
        ds, ex.county, ex.target, *per_group_predictions(model, source, ex, list(masks)), 2016
    )
    assert list(summary["group"]) == list(ref_summary["group"])
    np.testing.assert_allclose(summary[["rmse", "delta_rmse", "r2"]], ref_summary[["rmse", "delta_rmse", "r2"]], **TOL)
    assert list(per_county.columns) == list(ref_per_county.columns)
    assert (per_county["geoid"] == ref_per_county["geoid"]).all()
    numeric = [c for c in per_county.columns if c not in ("geoid", "year")]
    np.testing.assert_allclose(per_county[numeric], ref_per_county[numeric], **TOL)


def test_location_model_variants_keep_each_countys_row(ds, runs):
    """semi-ha-loc: the traced graph takes (tiles, county); every variant of a county keeps its row."""
    model, source, ex, masks = _inputs(ds, runs["semi-ha-loc"])
    tiles = source.anchor_tiles(ex)
    ref_base, ref_masked = per_group_predictions(model, source, ex, list(masks))
    base, masked = masked_predictions(model, tiles, masks, counties_per_chunk=7, county=ex.county)  # a ragged last chunk
    np.testing.assert_allclose(base, ref_base, **TOL)
    for group in masks:
        np.testing.assert_allclose(masked[group], ref_masked[group], **TOL)
    shuffled = np.roll(ex.county, 1)  # other counties' rows: other predictions (the rows are used, not ignored)
    assert not np.allclose(masked_predictions(model, tiles, masks, county=shuffled)[0], base, atol=1e-4)
    summary, _ = what_if_ablation(runs["semi-ha-loc"], ds, 2016)
    ref_summary, _ = ablation._tables(ds, ex.county, ex.target, ref_base, ref_masked, 2016)
    np.testing.assert_allclose(summary[["rmse", "delta_rmse", "r2"]], ref_summary[["rmse", "delta_rmse", "r2"]], **TOL)
    with pytest.raises(InputError, match="needs county"):
        masked_predictions(model, tiles, masks)
    with pytest.raises(InputError, match=r"county must be \(N=\d+,\) whole-number rows"):
        masked_predictions(model, tiles, masks, county=ex.county[:3])
    with pytest.raises(InputError, match=r"county rows must lie in 0\.\."):
        masked_predictions(model, tiles, masks, county=np.full(len(ex), len(ds.counties)))


def test_ridge_ablation_is_unchanged(ds, runs):
    summary, per_county = what_if_ablation(runs["ridge"], ds, 2016)
    assert list(summary["group"]) == ["none (all inputs)", *FEATURE_GROUPS]
    assert len(per_county) == len(ds.labelled(2016))


def test_a_group_the_model_lacks_is_not_masked():
    bands = tuple(b for b in BANDS if b not in ("ndvi", "evi"))  # trained without VI
    masks = ablation._group_channels(SimpleNamespace(bands=bands))
    assert "VI" not in masks and masks["ELE"] == [bands.index("elevation")]


def test_bad_inputs_are_refused_with_what_was_expected(ds, runs):
    model, source, ex, masks = _inputs(ds, runs["s-ha"])
    tiles = source.anchor_tiles(ex)
    with pytest.raises(InputError, match="must be a YieldModel"):
        masked_predictions("model", tiles, masks)
    with pytest.raises(InputError, match=r"float tensor \(N, T, C, H, W\)"):
        masked_predictions(model, tiles[0], masks)
    with pytest.raises(InputError, match=r"group 'VI': channels \[0, 99\] are not indices of the 9 bands"):
        masked_predictions(model, tiles, {"VI": [0, 99]})
    bad = tiles.clone()
    bad[0, 0, 0, 0, 0] = float("nan")
    with pytest.raises(InputError, match="non-finite"):
        masked_predictions(model, bad, masks)


def test_bench_reports_both_paths_and_their_difference(ds, runs, tiny_dataset_path):
    from geoapp.bench.ablation import format_report, run_ablation_benchmark

    result = run_ablation_benchmark(tiny_dataset_path, checkpoint=runs["s-ha"])
    assert result["year"] == 2016 and result["counties"] == len(ds.labelled(2016))
    assert result["groups"] == list(FEATURE_GROUPS)
    assert result["max_abs_diff_bu"] < 1e-3  # the two paths' tables agree
    assert min(result["cold_s"], result["warm_s"], result["per_group_s"], result["batched_pass_s"]) > 0
    assert result["ratio"] == pytest.approx(result["per_group_s"] / result["cold_s"], rel=0.05, abs=0.01)
    text = format_report(result)
    assert "cold (no cache, first call in the process)" in text and "per-group / cold" in text
    with pytest.raises(InputError, match="ridge"):
        run_ablation_benchmark(tiny_dataset_path, checkpoint=runs["ridge"])
