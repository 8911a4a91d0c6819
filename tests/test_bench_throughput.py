"""The training-throughput benchmark: both rates measured in one run, on the tiny dataset."""

from __future__ import annotations

import math

import pytest

from geoapp.bench.yield_throughput import format_report, run_throughput_benchmark
from geoapp.errors import InputError


@pytest.mark.slow
@pytest.mark.parametrize(("model", "workers"), [("semi-ha", None), ("s-ha", 2), ("semi-ha-loc", None)])
def test_throughput_measures_the_trainer_and_the_model_alone(tiny_dataset_path, model, workers):
    result = run_throughput_benchmark(
        tiny_dataset_path, model=model, examples=32, batch_size=8, model_steps=2, device="cpu", workers=workers
    )
    assert result["model"] == model and result["device_type"] == "cpu"
    assert result["workers"] == (0 if workers is None else workers)  # auto: no worker process on the CPU
    assert result["model_only_per_s"] > 0 and result["trainer_per_s"] > 0
    assert math.isclose(result["ratio"], result["trainer_per_s"] / result["model_only_per_s"])
    assert result["trainer_wall_s"] > 0
    text = format_report(result)
    assert "model only" in text and "trainer / model only" in text
    assert f"{result['workers']} loader worker process(es)" in text
    assert "CPU shown for reference" in text  # the 0.8 target is a GPU target


def test_throughput_refuses_too_few_examples(tiny_dataset_path):
    with pytest.raises(InputError, match="examples"):
        run_throughput_benchmark(tiny_dataset_path, examples=3, batch_size=8)
