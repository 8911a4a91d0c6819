"""semi-ha-loc: SEMI-HA with a frozen location embedding of each county, on the tiny dataset (CPU, seconds)."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import torch

from geoapp.analysis.attention import attention_matrices
from geoapp.data.dataset import load_dataset
from geoapp.errors import DataFileError, InputError
from geoapp.models.yield_models import MODELS, YieldModel, yield_model_config
from geoapp.paths import REPO_ROOT
from geoapp.training.checkpoint import load_checkpoint, read_card
from geoapp.training.distributed import init_distributed
from geoapp.training.location_context import anchor_centres, county_location_table
from geoapp.training.metrics_log import read_metrics
from geoapp.training.model_kinds import load_yield_checkpoint, model_kind
from geoapp.training.yield_data import YieldTileSource
from geoapp.training.yield_loader import YieldBatches
from geoapp.training.yield_trainer import YieldTrainConfig, evaluate_yield, load_yield_model, predict_examples, train_yield

SMALL = {"embed_dim": 16, "cnn_width": 4, "heads": 2, "layers": 1, "ff_dim": 32}


def _cfg(**kw) -> YieldTrainConfig:
    base = dict(
        model="semi-ha-loc",
        test_year=2016,
        n_train_years=3,
        epochs=1,
        batch_size=16,
        max_train_examples=48,
        r_n_km=24.0,
        r_d_km=64.0,
        model_overrides=SMALL,
        device="cpu",
    )
    return YieldTrainConfig(**{**base, **kw})


@pytest.fixture(scope="module")
def ds(tiny_dataset_path):
    dataset = load_dataset(tiny_dataset_path)
    yield dataset
    dataset.close()


@pytest.fixture(scope="module")
def table(ds):
    return county_location_table(ds)


@pytest.fixture(scope="module")
def run(ds, tmp_path_factory):
    out = tmp_path_factory.mktemp("semi-ha-loc")
    return out, train_yield(_cfg(), ds, out, progress=False)


def _test_examples(ds, card):
    norm = card["normalisation"]
    source = YieldTileSource(ds, None, bands=tuple(norm["bands"]), stats=(norm["mean"], norm["std"]), years=[2016])
    return source, source.examples([2016])


def test_the_name_is_an_attention_kind_with_context_and_location():
    spec, kind = MODELS["semi-ha-loc"], model_kind("semi-ha-loc")
    assert (spec.use_global_query, spec.use_context, spec.use_location) == (True, True, True)
    assert not any(MODELS[n].use_location for n in ("semi-ha", "s-ha", "semi-sa"))
    assert (kind.family, kind.inputs, kind.has_attention, kind.supports_ablation) == ("attention", "tiles+context", True, True)
    with pytest.raises(InputError, match="needs location_dim >= 1 and location_rows >= 1"):
        yield_model_config("semi-ha-loc")
    with pytest.raises(InputError, match=r"\['use_location'\] are set by the model name"):
        yield_model_config("semi-ha", use_location=True)
    with pytest.raises(InputError, match="location_dim and location_rows are for a model with location"):
        yield_model_config("semi-ha", location_dim=8, location_rows=3)
    assert "location_dim" not in yield_model_config("semi-ha").to_dict()  # old cards' configs are unchanged


def test_the_table_embeds_each_anchor_tile_centre_with_the_shipped_encoder(ds, table):
    values, entry = table
    lat, lon = anchor_centres(ds)
    assert values.shape == (len(ds.counties), 256) and values.dtype == torch.float32
    torch.testing.assert_close(values.norm(dim=1), torch.ones(len(ds.counties)))  # unit-norm embeddings
    # the tile centre lies within a tile of the anchor pixel's centre (both EPSG:4326 degrees)
    assert np.abs(lat - ds.counties["anchor_lat"].to_numpy()).max() < 0.2
    assert np.abs(lon - ds.counties["anchor_lon"].to_numpy()).max() < 0.2
    assert entry["encoder"] == "checkpoints/location/contrastive-sh-siren/best" and entry["model"] == "contrastive-sh-siren"
    shipped = json.loads((REPO_ROOT / entry["encoder"] / "card.json").read_text())
    assert entry["config"] == shipped["config"]
    assert (entry["rows"], entry["dim"], entry["frozen"]) == (len(ds.counties), 256, True)
    assert len({tuple(r) for r in values.numpy().round(5)}) > 1  # counties get different embeddings


def test_trains_saves_loads_and_predicts_with_the_encoder_on_its_card(ds, run, table):
    out, best = run
    weights, card, _ = load_checkpoint(best)
    assert card["model"] == "semi-ha-loc" and card["location_context"] == table[1]
    assert card["model_config"]["use_location"] and card["model_config"]["location_rows"] == len(ds.counties)
    result = evaluate_yield(best, ds)
    assert result["n"] == len(ds.labelled(2016)) and np.isfinite(result["table"]["predicted"]).all()
    assert result["rmse"] == pytest.approx(card["metrics"]["test_rmse"], rel=1e-4)
    assert "train_spatial" in read_metrics(out / "metrics.jsonl")[0]  # trained on Eq. 2 with context tiles
    predictor = load_yield_checkpoint(best, ds)  # the registry's predictor
    np.testing.assert_allclose(predictor.predict(ds, 2016).predicted, result["table"]["predicted"], rtol=1e-6)


def test_the_table_is_frozen_and_not_in_the_optimizer(ds, run, table):
    out, best = run
    weights, _, _ = load_checkpoint(best)
    assert torch.equal(weights["location.table"], table[0])  # training did not change a value
    model, _ = load_yield_model(best, ds)
    names = [n for n, _ in model.named_parameters()]
    assert "location.table" not in names and not model.location.table.requires_grad
    assert {"location.project.0.weight", "location.project.0.bias"} <= set(names)  # the projection learns
    _, _, state = load_checkpoint(out / "last", with_train_state=True)
    params = [p for g in state["optimizer"]["param_groups"] for p in g["params"]]
    assert len(params) == len(names)  # one optimizer entry per parameter: none for the table
    assert len(state["optimizer"]["state"]) == len(names)


def test_predictions_depend_on_the_county_row(ds, run):
    model, card = load_yield_model(run[1], ds)
    source, ex = _test_examples(ds, card)
    before = predict_examples(model, source, ex, torch.device("cpu"))
    tiles = source.anchor_tiles(ex, np.arange(8))
    with torch.no_grad():
        own = model(tiles, torch.as_tensor(ex.county[:8].copy()))
        other = model(tiles, torch.as_tensor(ex.county[:8][::-1].copy()))  # same tiles, other counties' rows
    assert not torch.allclose(own, other, atol=1e-4)
    np.testing.assert_allclose(own.numpy(), before[:8], rtol=1e-5, atol=1e-4)
    with torch.no_grad():
        model.location.table.mul_(-1.0)  # another table: other predictions
    assert not np.allclose(predict_examples(model, source, ex, torch.device("cpu")), before, atol=1e-4)
    with pytest.raises(InputError, match="needs the examples' county rows"):
        model(tiles)
    with pytest.raises(InputError, match=r"county rows must lie in 0\.\."):
        model(tiles, torch.full((8,), len(ds.counties)))


def test_the_batches_carry_the_examples_county_rows(ds):
    source = YieldTileSource(ds, [2012, 2013])
    ex = source.examples([2012, 2013])
    batches = YieldBatches(source, ex, 8, 0, init_distributed("cpu"))
    item = batches[(0, 1)]
    assert item["county"].dtype == torch.int64
    np.testing.assert_array_equal(item["county"].numpy(), ex.county[item["index"].numpy()])


def test_attention_analysis_runs_for_the_location_model(ds, run):
    model, card = load_yield_model(run[1], ds)
    source, ex = _test_examples(ds, card)
    att = attention_matrices(model, source, ex)
    assert att.shape[1] == len(ex)
    np.testing.assert_allclose(att.sum(axis=-1), 1.0, atol=1e-5)


def test_resume_keeps_the_table_and_the_encoder_entry(ds, run, tmp_path):
    out = tmp_path / "run"
    shutil.copytree(run[0], out)
    best = train_yield(_cfg(epochs=2), ds, out, resume=True, progress=False)
    assert [m["epoch"] for m in read_metrics(out / "metrics.jsonl")] == [1, 2]
    weights, card, _ = load_checkpoint(out / "last")
    assert card["epoch"] == 2 and card["location_context"] == read_card(run[1])["location_context"]
    assert torch.equal(weights["location.table"], load_checkpoint(run[1])[0]["location.table"])
    assert best == out / "best"


def test_a_card_without_its_encoder_entry_is_refused(run, tmp_path):
    broken = tmp_path / "best"
    shutil.copytree(run[1], broken)
    card = json.loads((broken / "card.json").read_text())
    del card["location_context"]
    (broken / "card.json").write_text(json.dumps(card))
    with pytest.raises(DataFileError, match="needs 'location_context' naming its location encoder"):
        read_card(broken)
    card["location_context"] = {**read_card(run[1])["location_context"], "rows": 3}
    (broken / "card.json").write_text(json.dumps(card))
    with pytest.raises(DataFileError, match="location_context.rows is 3 but model_config.location_rows"):
        read_card(broken)


def test_location_sizes_cannot_be_overridden(ds, tmp_path):
    for key in ("location_dim", "location_rows", "use_location"):  # set by the table and the name, never by a run
        with pytest.raises(InputError, match=rf"model_overrides cannot set \['{key}'\]"):
            _cfg(model_overrides={**SMALL, key: 8})


def test_a_model_without_location_ignores_county_rows():
    torch.manual_seed(0)
    model = YieldModel(yield_model_config("semi-ha", **SMALL)).eval()
    tiles = torch.randn(3, 7, 9, 8, 8)
    with torch.no_grad():
        torch.testing.assert_close(model(tiles), model(tiles, torch.tensor([0, 5, 9])))
    assert model.location is None and not any("location" in k for k in model.state_dict())


def test_the_shipped_semi_ha_checkpoint_predicts_as_before():
    folder = REPO_ROOT / "checkpoints" / "yield" / "semi-ha-2018" / "best"
    card = read_card(folder)
    data = REPO_ROOT / "data" / card["dataset"]["name"]
    if not data.is_dir():
        pytest.skip(f"the demo dataset {str(data)!r} is not built here (python -m geoapp data build)")
    dataset = load_dataset(data)
    try:
        result = evaluate_yield(folder, dataset)
    finally:
        dataset.close()
    assert "use_location" not in card["model_config"]
    assert result["rmse"] == pytest.approx(card["metrics"]["test_rmse"], abs=1e-4)
    assert result["r2"] == pytest.approx(card["metrics"]["test_r2"], abs=1e-4)


def test_film_scales_the_pooled_representation_and_starts_as_the_additive_model(ds, tmp_path):
    """location_film: pooled * (1 + scale) + shift; the scale starts at zero, learns, and round-trips."""
    with pytest.raises(InputError, match="location_film .* needs a model with location"):
        yield_model_config("semi-ha", location_film=True)
    plain = yield_model_config("semi-ha-loc", location_dim=8, location_rows=5, **SMALL)
    film = yield_model_config("semi-ha-loc", location_dim=8, location_rows=5, location_film=True, **SMALL)
    assert "location_film" not in plain.to_dict() and film.to_dict()["location_film"] is True
    torch.manual_seed(0)
    a = YieldModel(plain).eval()
    b = YieldModel(film).eval()
    b.load_state_dict(a.state_dict(), strict=False)  # the same weights; b's scale is zero
    b.location.set_table(torch.randn(5, 8))
    a.location.set_table(b.location.table.clone())
    tiles, county = torch.randn(3, plain.n_steps, plain.in_channels, 8, 8), torch.tensor([0, 2, 4])
    with torch.no_grad():
        torch.testing.assert_close(a(tiles, county), b(tiles, county))
        b.location.scale.bias.fill_(0.5)  # every feature scaled by 1.5: the hand computation
        pooled = b.attention(b.embed(tiles)).mean(dim=1)
        shift, _ = b.location(county)
        expected = b.config.target_mean + b.config.target_std * b.head(pooled * 1.5 + shift).squeeze(-1)
        torch.testing.assert_close(b(tiles, county), expected)
    best = train_yield(_cfg(model_overrides={**SMALL, "location_film": True}), ds, tmp_path, progress=False)
    weights, card, _ = load_checkpoint(best)
    assert card["model_config"]["location_film"] is True
    assert float(weights["location.scale.weight"].abs().sum()) > 0  # it learned a scale
    assert np.isfinite(evaluate_yield(best, ds)["rmse"])
