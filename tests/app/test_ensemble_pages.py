"""An ensemble checkpoint (geoapp.training.ensemble) on the pages, on a dataset built from real files.

Two tiny S-HA seeds trained on the real stand-in and written as an ensemble: the Yield map lists and
draws it like any checkpoint, the what-if ablation runs through its members, and the Attention page
says it has no attention of its own.
"""

from __future__ import annotations

import json

import pytest

from geoapp.data.dataset import load_dataset
from tests.app.test_real_dataset import _assert_real, _run, no_clicks, tiny_real_config  # noqa: F401  (no_clicks: a fixture)


@pytest.fixture()
def real_ensemble(trainable_real_env, tmp_path, monkeypatch):
    """An ensemble of two tiny s-ha seeds trained on the real dataset, in a temporary checkpoint folder."""
    from geoapp.training.ensemble import write_ensemble
    from geoapp.training.yield_trainer import train_yield

    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    root = tmp_path / "checkpoints"
    monkeypatch.setenv("GEOAPP_CHECKPOINT_DIR", str(root))
    ds = load_dataset(trainable_real_env)
    members = [
        train_yield(tiny_real_config(ds, seed), ds, tmp_path / "members" / f"seed{seed}", progress=False) for seed in (0, 1)
    ]
    return write_ensemble(members, ds, root / "user" / "yield" / "real-s-ha-ensemble")


def test_the_pages_list_draw_and_ablate_an_ensemble(real_ensemble, trainable_real_env, no_clicks):  # noqa: F811
    year = load_dataset(trainable_real_env).years[-1]
    at = _run("pages/yield_map.py", sel_dataset=str(trainable_real_env))
    _assert_real(at, trainable_real_env)
    select = at.sidebar.selectbox(key="w_checkpoint")
    assert select.options[1:] == [f"s-ha ensemble of 2 · test {year} (user/yield/real-s-ha-ensemble)"]
    assert select.value == str(real_ensemble)
    scatter = json.loads(at.get("plotly_chart")[0].proto.spec)
    assert "RMSE" in scatter["layout"]["title"]["text"]

    home = _run("app.py", sel_dataset=str(trainable_real_env))
    [table] = [d.value for d in home.dataframe if "test year" in d.value.columns]
    assert list(table["model"]) == ["s-ha ensemble of 2"]

    ablation = _run("pages/feature_ablation.py", sel_dataset=str(trainable_real_env))
    _assert_real(ablation, trainable_real_env)
    bars = json.loads(ablation.get("plotly_chart")[0].proto.spec)
    assert list(bars["data"][0]["x"]) == ["VI", "LST", "PPT", "SOIL", "ELE"]

    attention = _run("pages/attention.py", sel_dataset=str(trainable_real_env))
    _assert_real(attention, trainable_real_env)
    assert any("attention belongs to the attention models" in i.value for i in attention.info)
    assert not attention.get("plotly_chart")
