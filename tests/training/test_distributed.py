"""Data-parallel training under torchrun (2 CPU workers, gloo): the checkpoint loads like a
single-process one; the example shards are disjoint; rank 0 alone writes."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from geoapp.data.dataset import load_dataset
from geoapp.training.checkpoint import load_checkpoint
from geoapp.training.device import resolve_device
from geoapp.training.distributed import DistContext, epoch_order
from geoapp.training.metrics_log import read_metrics
from geoapp.training.yield_trainer import evaluate_yield, load_yield_model

TINY_YIELD = {
    "model": "semi-ha",
    "test_year": 2016,
    "n_train_years": 3,
    "epochs": 2,
    "batch_size": 16,
    "max_train_examples": 48,
    "r_n_km": 24.0,
    "r_d_km": 64.0,
    "device": "cpu",
    "model_overrides": {"embed_dim": 16, "cnn_width": 4, "heads": 2, "layers": 1, "ff_dim": 32},
}
TINY_LOCATION = {
    "n_train": 128,
    "n_val": 32,
    "n_test": 32,
    "epochs": 1,
    "batch_size": 64,
    "sh_degree": 3,
    "hidden_dim": 16,
    "embed_dim": 8,
    "image_width": 4,
    "val_gallery": 200,
    "device": "cpu",
}


def _ctx(rank: int, world: int) -> DistContext:
    return DistContext(rank, world, rank, resolve_device("cpu"), "gloo" if world > 1 else None)


def test_epoch_order_shards_are_disjoint_equal_and_replayable():
    shards = [epoch_order(101, 3, 7, _ctx(r, 2)) for r in range(2)]
    assert len(shards[0]) == len(shards[1]) == 51  # padded to equal length
    assert set(shards[0]) | set(shards[1]) == set(range(101))
    assert len(set(shards[0]) & set(shards[1])) <= 1  # only the padding repeats
    np.testing.assert_array_equal(epoch_order(101, 3, 7, _ctx(0, 2)), shards[0])  # same (seed, epoch): same order
    assert not np.array_equal(epoch_order(101, 4, 7, _ctx(0, 2)), shards[0])  # a new epoch reshuffles
    single = epoch_order(101, 3, 7, _ctx(0, 1))
    assert sorted(single) == list(range(101))


def _torchrun(args: list[str], tmp_path, timeout: int = 240) -> subprocess.CompletedProcess:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2", "-m", "geoapp", *args]
    proc = subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=timeout)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return proc


@pytest.mark.slow
def test_two_process_gloo_yield_run_writes_a_normal_checkpoint(tmp_path, tiny_dataset_path):
    (tmp_path / "cfg.json").write_text(json.dumps(TINY_YIELD))
    out = tmp_path / "run"
    _torchrun(
        ["train", "yield", "--config", "cfg.json", "--dataset", str(tiny_dataset_path), "--out", str(out), "--quiet"], tmp_path
    )
    ds = load_dataset(tiny_dataset_path)
    model, card = load_yield_model(out / "best", ds)  # loads exactly like a single-process checkpoint
    assert card["world_size"] == 2 and card["model"] == "semi-ha"
    assert not any(k.startswith("module.") for k in model.state_dict())
    result = evaluate_yield(out / "best", ds)
    assert np.isfinite(result["rmse"]) and result["n"] == len(ds.labelled(2016))
    records = read_metrics(out / "metrics.jsonl")
    assert [r["epoch"] for r in records] == [1, 2]  # rank 0 alone writes metrics
    assert sorted(p.name for p in out.iterdir()) == ["best", "last", "metrics.jsonl"]


@pytest.mark.slow
def test_two_process_gloo_location_run_writes_a_normal_checkpoint(tmp_path):
    from geoapp.analysis.location import load_location_model

    (tmp_path / "cfg.json").write_text(json.dumps(TINY_LOCATION))
    out = tmp_path / "loc"
    _torchrun(["train", "location", "--config", "cfg.json", "--out", str(out), "--quiet"], tmp_path)
    weights, card, _ = load_checkpoint(out / "best")
    assert card["world_size"] == 2 and not any(k.startswith("module.") for k in weights)
    loaded = load_location_model(str(out / "best"))
    assert loaded.card["epoch"] == 1


def test_batches_per_epoch_drops_only_a_single_example_tail():
    from geoapp.training.distributed import batches_per_epoch

    assert [batches_per_epoch(n, 16) for n in (32, 33, 34, 47, 48, 1)] == [2, 2, 3, 3, 3, 0]
