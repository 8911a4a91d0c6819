"""``warm``: computes every result the pages ask for once, then finds them fresh and skips them quickly."""

from __future__ import annotations

import json
import time

import pytest

from geoapp.analysis.warm import all_fresh, warm, warm_tasks
from geoapp.data.dataset import load_dataset
from geoapp.errors import MissingDataError
from geoapp.training.ridge_trainer import train_ridge
from geoapp.training.yield_trainer import YieldTrainConfig, train_yield

SMALL = {"embed_dim": 16, "cnn_width": 4, "heads": 2, "layers": 1, "ff_dim": 32}


@pytest.fixture(scope="module")
def checkpoints(tiny_dataset_path, tmp_path_factory):
    ds = load_dataset(tiny_dataset_path)
    root = tmp_path_factory.mktemp("warm_ck")
    cfg = YieldTrainConfig(
        model="s-ha",
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
    deep = train_yield(cfg, ds, root / "yield" / "s-ha-2016", progress=False)
    ridge = train_ridge(ds, [2012, 2013, 2014], 2015, 2016, root / "yield" / "ridge-2016")
    return root, deep, ridge


def test_warm_computes_once_then_skips_everything(tiny_dataset_path, checkpoints, monkeypatch):
    root, deep, _ = checkpoints
    monkeypatch.setenv("GEOAPP_CHECKPOINT_DIR", str(root))
    tasks = warm_tasks(tiny_dataset_path, galleries=False)
    kinds = [t.kind for t in tasks]
    labelled_years = 5  # the tiny dataset: 2012-2016, every year labelled
    assert kinds.count("predictions") == 2 * labelled_years
    assert kinds.count("attention") == 1 and kinds.count("ablation") == 2  # the test year only; ridge has no attention
    assert tasks[0].label.endswith("on 2016")  # the test year comes first

    report = warm(tiny_dataset_path, galleries=False, progress=False)
    assert report.failed == 0 and report.computed == len(tasks)

    t0 = time.perf_counter()
    again = warm(tiny_dataset_path, galleries=False, progress=False)
    assert again.computed == 0 and all(status == "fresh" for _, _, status, _ in again.rows)
    assert time.perf_counter() - t0 < 5.0
    assert all_fresh(tiny_dataset_path, galleries=False)  # the quick check: file times only
    assert not all_fresh(tiny_dataset_path, all_years=True, galleries=False)  # other options, other results

    card = json.loads((deep / "card.json").read_text())
    card["metrics"] = {**(card.get("metrics") or {}), "note": 2.0}
    (deep / "card.json").write_text(json.dumps(card))
    assert not all_fresh(tiny_dataset_path, galleries=False)
    changed = warm(tiny_dataset_path, galleries=False, progress=False)
    assert changed.computed == labelled_years + 2  # the deep run's predictions, attention and ablation


def test_warm_all_years_and_a_broken_checkpoint(tiny_dataset_path, checkpoints, monkeypatch, tmp_path):
    import shutil

    root, deep, _ = checkpoints
    broken_root = tmp_path / "ck"
    shutil.copytree(root, broken_root)
    (broken_root / "yield" / "s-ha-2016" / "best" / "model.safetensors").write_bytes(b"not weights")
    monkeypatch.setenv("GEOAPP_CHECKPOINT_DIR", str(broken_root))
    tasks = warm_tasks(tiny_dataset_path, all_years=True, galleries=False)
    assert [t.kind for t in tasks].count("ablation") == 2 * 5
    report = warm(tiny_dataset_path, galleries=False, progress=False)
    assert report.failed == 1 + 1 + 5  # the broken run's ablation, attention and predictions, each with its reason
    assert all(
        "model.safetensors" in status or "weights" in status for _, _, status, _ in report.rows if status.startswith("failed")
    )


def test_warm_without_a_dataset_says_how_to_build_it(tmp_path):
    with pytest.raises(MissingDataError, match="data build"):
        warm_tasks(tmp_path / "nothing", galleries=False)
