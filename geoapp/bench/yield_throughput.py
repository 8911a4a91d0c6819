"""Benchmark of crop-yield training speed: the trainer end to end against the model's training step alone.

Both figures come from one run, on one device (the GPU when there is one), one after the other:

1. **model only**: the model's training step (forward on the anchor and, for models with context, the
   SN, SD and TN tiles, TN being the anchor one month earlier as the trainer cuts it by default; the
   loss of Eq. 2; backward; AdamW) on synthetic tiles already on the device,
   the same size, batch and mixed precision as the trainer; no data is read. This is the rate the
   hardware allows for the model.
2. **trainer**: :func:`~geoapp.training.yield_trainer.train_yield` on the dataset, one epoch over
   ``examples`` training examples (``max_train_examples``), in a temporary folder. Its rate is the
   trainer's own ``samples_per_s`` for the epoch (``metrics.jsonl``: the training loop, tile
   gathering and copies to the device included, validation and checkpoint writing not), with its
   batches built by ``workers`` worker processes (:mod:`geoapp.training.yield_loader`; default: the
   trainer's automatic choice, 0 on the CPU).

The ratio trainer / model only says how much the data side (tile gathering, host-to-device copies,
Python per step) costs: 1.0 means the model is the only limit. The wall time of the whole call
(dataset standardisation, validation and checkpoints included) is printed too.
"""

from __future__ import annotations

import json
import math
import os
import tempfile
import time
from pathlib import Path
from typing import Any

__all__ = ["run_throughput_benchmark", "format_report", "TARGET_RATIO"]

TARGET_RATIO = 0.8
"""On a GPU the trainer should run at this share of the model-only rate or more."""


LOCATION_DIM = 256
"""Embedding size of the shipped location encoder: semi-ha-loc's synthetic county table has it."""


def _model_only_rate(
    model_name: str,
    size: str,
    n_bands: int,
    n_steps: int,
    tile_px: int,
    batch: int,
    steps: int,
    device: Any,
    half: Any,
    n_counties: int,
    compiled: bool = False,
) -> float:
    """Examples per second of ``steps`` training steps on synthetic tiles (after two warm-up steps).

    ``half`` is the autocast dtype the trainer uses (:func:`~geoapp.training.device.autocast_dtype`;
    None: float32); a gradient scaler only with float16. ``compiled``: the forward pass through
    ``torch.compile`` (its compilation falls in the warm-up steps, outside the timing).

    ``semi-ha-loc`` gets a random county table of ``n_counties`` x :data:`LOCATION_DIM` and random
    county rows: the same sizes as the trainer's, so the same work.
    """
    import torch

    from geoapp.models.yield_models import MODELS, YieldModel, yield_model_config

    torch.manual_seed(0)
    location = MODELS[model_name].use_location
    sizes = {"location_dim": LOCATION_DIM, "location_rows": n_counties} if location else {}
    config = yield_model_config(model_name, size, target_mean=40.0, target_std=8.0, in_channels=n_bands, **sizes)
    model = YieldModel(config).to(device)
    if location:
        model.location.set_table(torch.randn(n_counties, LOCATION_DIM, device=device))
    county = torch.randint(0, n_counties, (batch,), device=device) if location else None
    model.train()
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    scaler = torch.amp.GradScaler("cuda", enabled=half == torch.float16)
    shape = (batch, n_steps, n_bands, tile_px, tile_px)
    tiles = [torch.randn(shape, device=device) for _ in range(3 if model.config.use_context else 1)]
    if model.config.use_context:  # TN as the trainer cuts it by default: the anchor one month earlier
        tiles.append(torch.cat([tiles[0][:, :1], tiles[0][:, :-1]], dim=1))
    target = 40.0 + 8.0 * torch.randn(batch, device=device)

    quadruplet = torch.compile(model.forward_quadruplet) if compiled else model.forward_quadruplet
    single = torch.compile(model) if compiled else model

    def step() -> None:
        with torch.autocast(device.type, dtype=half or torch.float32, enabled=half is not None):
            if model.config.use_context:
                q = quadruplet(*tiles, county=county)
                terms = model.loss(q.prediction.float(), target, tuple(c.float() for c in q.context))
            else:
                terms = model.loss(single(tiles[0], county).float(), target, None)
        opt.zero_grad(set_to_none=True)
        scaler.scale(terms["total"]).backward()
        scaler.step(opt)
        scaler.update()

    def sync() -> None:
        if device.type == "cuda":
            torch.cuda.synchronize()

    for _ in range(2):
        step()
    sync()
    t0 = time.perf_counter()
    for _ in range(steps):
        step()
    sync()
    return batch * steps / (time.perf_counter() - t0)


def run_throughput_benchmark(
    dataset: str | Path | None = None,
    model: str = "semi-ha",
    size: str = "demo",
    test_year: int | None = None,
    examples: int = 1024,
    batch_size: int = 32,
    model_steps: int = 20,
    device: str = "auto",
    workers: int | None = None,
    precision: str = "auto",
    compile: bool = False,
) -> dict[str, Any]:
    """Model-only and trainer examples per second for one model, size and device, measured in one run.

    Args:
        dataset: dataset folder (default: the embedded demo).
        model: a deep crop-yield model name (``semi-ha``, ``semi-ha-loc``, ``s-ha``, ``semi-sa``).
        size: ``demo`` or ``paper``.
        test_year: the trainer's test year (default: the dataset's last year).
        examples: training examples the trainer's epoch runs over.
        batch_size: examples per step, for both figures.
        model_steps: timed steps of the model-only loop.
        device: ``auto``, ``cuda`` or ``cpu``.
        workers: the trainer's ``loader_workers`` (None: automatic).
        precision: the trainer's ``precision`` (``auto``, ``float32``, ``bfloat16``), for both figures.
        compile: the trainer's ``compile`` (``torch.compile`` of the training step), for both figures; the
            trainer then runs two epochs and its figure is the second's (the first holds the compilation).

    Returns:
        A JSON-ready dict: model, size, device, batch_size, examples, workers (the loader's worker
        processes the trainer used), model_only_per_s, trainer_per_s, ratio (trainer / model only),
        device_type, trainer_wall_s, load_average_1min, target_ratio.
    """
    from geoapp.data.args import as_int
    from geoapp.data.bands import BANDS, MONTHS
    from geoapp.data.dataset import default_dataset_path, load_dataset
    from geoapp.training.device import autocast_dtype, resolve_device
    from geoapp.training.yield_trainer import YieldTrainConfig, train_yield

    examples = as_int(examples, "examples", minimum=2 * batch_size)
    model_steps = as_int(model_steps, "model_steps", minimum=1)
    ds = load_dataset(dataset if dataset is not None else default_dataset_path())
    try:
        year = int(test_year) if test_year is not None else max(ds.years)
        cfg = YieldTrainConfig(
            model=model,
            size=size,
            test_year=year,
            n_train_years=min(10, len(ds.years) - 2),
            epochs=2 if compile else 1,
            batch_size=batch_size,
            max_train_examples=examples,
            device=device,
            loader_workers=workers,
            precision=precision,
            compile=compile,
        )
        dev = resolve_device(device)
        model_only = _model_only_rate(
            model,
            size,
            len(BANDS),
            len(MONTHS),
            ds.tile_px,
            batch_size,
            model_steps,
            dev.device,
            autocast_dtype(dev, precision),
            len(ds.counties),
            compile,
        )
        with tempfile.TemporaryDirectory(prefix="geoapp-throughput-") as tmp:
            t0 = time.perf_counter()
            train_yield(cfg, ds, Path(tmp) / "run", progress=False)
            wall = time.perf_counter() - t0
            record = json.loads((Path(tmp) / "run" / "metrics.jsonl").read_text().splitlines()[-1])
            card = json.loads((Path(tmp) / "run" / "best" / "card.json").read_text())
    finally:
        ds.close()
    trainer = float(record["samples_per_s"])
    return {
        "model": model,
        "size": size,
        "device": dev.name,
        "device_type": dev.device.type,
        "precision": precision,
        "compile": compile,
        "batch_size": batch_size,
        "examples": examples,
        "workers": int(card["loader_workers"]),
        "model_only_per_s": model_only,
        "trainer_per_s": trainer,
        "ratio": trainer / model_only if model_only > 0 else math.nan,
        "trainer_wall_s": wall,
        "load_average_1min": os.getloadavg()[0],
        "target_ratio": TARGET_RATIO,
    }


def format_report(result: dict[str, Any]) -> str:
    """The benchmark's figures as a few lines of text."""
    r = result
    on_gpu = r["device_type"] == "cuda"
    verdict = ("met" if r["ratio"] >= r["target_ratio"] else "missed") if on_gpu else "GPU target; CPU shown for reference"
    return "\n".join(
        [
            f"training throughput: {r['model']} ({r['size']}), batch {r['batch_size']}, "
            f"{r['examples']} examples, on {r['device']}, {r['workers']} loader worker process(es), "
            f"precision {r.get('precision', 'auto')}{', compiled' if r.get('compile') else ''}",
            f"1-minute load average {r['load_average_1min']:.2f}",
            f"model only (synthetic tiles on the device)   {r['model_only_per_s']:9.1f} examples/s",
            f"trainer, end to end (one epoch)              {r['trainer_per_s']:9.1f} examples/s",
            f"trainer / model only                         {r['ratio']:9.2f}   "
            f"target {r['target_ratio']:.2f} on a GPU: {verdict}",
            f"whole train_yield call (set-up, validation, checkpoints): {r['trainer_wall_s']:.1f} s",
        ]
    )
