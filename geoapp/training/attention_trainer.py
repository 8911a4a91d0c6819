"""Training and loading of the attention crop-yield models (SEMI-HA, S-HA, SEMI-SA).

Temporal nested validation (Section IV-D): for test year y, the validation year is y - 1 and the
training years are y - N_y - 1 .. y - 2 (N_y = 10 by default). Inputs are standardised per month and
band on the training years (:class:`geoapp.training.yield_data.YieldTileSource`). Models with context
(``semi-ha``, ``semi-sa``, ``semi-ha-loc``) draw a quadruplet per example each step (:mod:`geoapp.samplers`) and
train on Eq. 2; ``s-ha`` trains on L_S alone. ``semi-ha-loc`` also gets each example's county row
(the batches carry them) to look up its frozen location embedding; its table is built from the
shipped location encoder when the run starts (:mod:`geoapp.training.location_context`), saved with
the weights and described in the card's ``location_context``. The batches (tiles and targets of a step) are built by
:mod:`geoapp.training.yield_loader`, in ``loader_workers`` worker processes (auto: none on the CPU, up
to 8 on a GPU) while the model trains; a step's context draws depend on (seed, epoch, rank, step) only.

Conventions shared with the other trainers: seeded; one process or data-parallel under torchrun
(:mod:`geoapp.training.distributed`); progress events and cancellation through a
:class:`~geoapp.training.monitor.TrainingMonitor`; device auto (CUDA with mixed precision, pinned
memory and non-blocking copies when present, else CPU); a progress bar; metrics per epoch as JSON
lines (``metrics.jsonl``); the best-on-validation model as a safetensors + JSON-card checkpoint
(``best/``, the card holding the model config, the data fingerprint, the years, the normalisation
statistics and the metrics); the last epoch with optimizer state (``last/``) to resume from; early
stopping on the validation RMSE.

A run never shows a wrong result as valid: it stops at the first non-finite loss
(:class:`~geoapp.training.results.TrainingDiverged`), and a run whose validation RMSE is never finite
ends with that error rather than a ``best/`` that does not exist. The run folder's rules (``force``,
no half-written folder) are applied by :func:`geoapp.training.yield_trainer.train_yield`, which calls
:func:`train_attention` through the registry of model kinds.
"""

from __future__ import annotations

import json
import math
import time
import warnings
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm

from geoapp.data.args import as_int, given
from geoapp.data.bands import group_bands
from geoapp.data.dataset import YieldDataset
from geoapp.errors import DataFileError, InputError
from geoapp.models.yield_models import MODELS, YieldModel, YieldModelConfig, yield_model_config
from geoapp.samplers import QuadrupletSampler
from geoapp.training.checkpoint import (
    CARD,
    check_card,
    check_weights_fit,
    clear_previous_run,
    load_checkpoint,
    save_checkpoint,
)
from geoapp.training.device import autocast_dtype, bf16_supported, to_device
from geoapp.training.distributed import (
    batches_per_epoch,
    broadcast_value,
    epoch_order,
    init_distributed,
    mean_across,
    shutdown,
    wrap_model,
)
from geoapp.training.location_context import county_location_table
from geoapp.training.metrics import rmse_r2
from geoapp.training.metrics_log import MetricsLog, keep_epochs_before
from geoapp.training.monitor import TrainingCancelled, TrainingMonitor
from geoapp.training.results import (
    TrainingDiverged,
    check_loss,
    check_weights,
    no_best_message,
    verify_dataset,
)
from geoapp.training.resume import (
    CannotResumeError,
    lost_best_message,
    recover_run_folders,
    resume_from_last,
    train_state,
)
from geoapp.training.weight_average import ema_of, load_average
from geoapp.training.yield_config import YieldTrainConfig, check_checkpoint_arg, resume_settings
from geoapp.training.yield_data import Examples, YieldTileSource, check_dataset_arg, dataset_year
from geoapp.training.yield_loader import YieldBatches, batch_loader, close_loader, resolve_workers
from geoapp.training.yield_runs import YieldPredictions, applied_config, dataset_card, kept_bands

__all__ = [
    "train_attention",
    "load_yield_model",
    "predict_examples",
    "predict_attention",
    "ATTENTION_APPLIES",
    "SUPERVISED_APPLIES",
]

ATTENTION_APPLIES: tuple[str, ...] = (
    "model",
    "size",
    "test_year",
    "n_train_years",
    "epochs",
    "patience",
    "batch_size",
    "lr",
    "weight_decay",
    "r_n_km",
    "r_d_km",
    "temporal_neighbour",
    "seed",
    "device",
    "precision",
    "compile",
    "max_train_examples",
    "loader_workers",
    "exclude_group",
    "augment",
    "ema",
    "model_overrides",
)
"""The YieldTrainConfig fields SEMI-HA and SEMI-SA use."""

SUPERVISED_APPLIES = tuple(f for f in ATTENTION_APPLIES if f not in ("r_n_km", "r_d_km", "temporal_neighbour"))
"""The fields S-HA uses (no context tiles)."""


@torch.inference_mode()
def predict_examples(
    model: YieldModel,
    source: YieldTileSource,
    ex: Examples,
    device: torch.device,
    batch: int = 128,
    mask_group: str | None = None,
) -> np.ndarray:
    """Predicted yields (N,) in bu/acre for every example (eval mode, batched).

    Runs an inference copy of ``model`` (:meth:`YieldModel.for_inference`: BatchNorm folded into the
    convolutions); ``model`` itself is only switched to eval mode. Batches of 128 were the fastest on
    a 2-core CPU (0.55 s for a year's 849 labelled counties against 0.88 s unfolded in batches of 256).
    Each batch also passes its examples' county rows (``ex.county``): ``semi-ha-loc`` looks up its
    frozen location embeddings by them, the other models ignore them.

    Raises:
        InputError: an argument of the wrong type (``model`` not a YieldModel, ``source`` not a
            YieldTileSource, ``device`` not a torch.device, ``batch`` not a whole number >= 1), or an
            unknown ``mask_group``.
    """
    if not isinstance(model, YieldModel):
        raise InputError(f"model must be a YieldModel (e.g. from load_yield_model), got {given(model)}")
    if not isinstance(source, YieldTileSource):
        raise InputError(f"source must be a YieldTileSource, got {given(source)}")
    if not isinstance(device, torch.device):
        raise InputError(f"device must be a torch.device, got {given(device)}")
    batch = as_int(batch, "batch", minimum=1)
    if mask_group is not None:
        group_bands(mask_group)  # an unknown group is refused before any prediction
    model.eval()
    net = model.for_inference()
    out = []
    for i in range(0, len(ex), batch):
        idx = np.arange(i, min(i + batch, len(ex)))
        tiles = source.anchor_tiles(ex, idx, mask_group=mask_group).to(device, non_blocking=True)
        county = torch.from_numpy(np.asarray(ex.county[idx], dtype=np.int64)).to(device)  # read by semi-ha-loc only
        out.append(net(tiles, county).float().cpu().numpy())
    return np.concatenate(out) if out else np.zeros(0, np.float32)


class _TrainStep(nn.Module):
    """The training forward pass as one ``forward`` (what DistributedDataParallel wraps).

    With context tiles: the anchors' predictions and the four embeddings of Eq. 3-5; without
    (``s-ha``): the predictions and None. ``county`` (B,) int64: the anchors' county rows (read by
    ``semi-ha-loc`` only).
    """

    def __init__(self, model: YieldModel) -> None:
        super().__init__()
        self.model = model

    def forward(
        self,
        anchor: torch.Tensor,
        sn: torch.Tensor | None = None,
        sd: torch.Tensor | None = None,
        tn: torch.Tensor | None = None,
        county: torch.Tensor | None = None,
    ):
        if sn is None:
            return self.model(anchor, county), None
        q = self.model.forward_quadruplet(anchor, sn, sd, tn, county=county)
        return q.prediction, q.context


def train_attention(
    cfg: YieldTrainConfig,
    ds: YieldDataset,
    out: Path,
    resume: bool,
    progress: bool,
    monitor: TrainingMonitor,
    years: tuple[list[int], int, int],
) -> Path:
    """Train an attention model in the checked run folder ``out`` on ``years`` (train, validation, test).

    The body of :func:`geoapp.training.yield_trainer.train_yield` for ``semi-ha``, ``s-ha`` and
    ``semi-sa``; see there for the errors.
    """
    train_years, val_year, test_year = years
    ctx = init_distributed(cfg.device)
    dev = ctx.device
    torch.manual_seed(cfg.seed)
    bands = kept_bands(cfg.exclude_group)
    source = YieldTileSource(ds, train_years, bands=bands)
    ex_train, ex_val, ex_test = (source.examples(y) for y in (train_years, [val_year], [test_year]))
    if cfg.max_train_examples > 0 and len(ex_train) > cfg.max_train_examples:
        keep = np.sort(np.random.default_rng(cfg.seed).choice(len(ex_train), cfg.max_train_examples, replace=False))
        ex_train = Examples(ex_train.county[keep], ex_train.year[keep], ex_train.target[keep])
    batch = math.ceil(cfg.batch_size / ctx.world_size)  # per worker; the global batch is cfg.batch_size
    steps = batches_per_epoch(len(epoch_order(len(ex_train), 0, cfg.seed, ctx)), batch)
    if steps < 1:
        raise InputError(
            f"{len(ex_train)} training examples make no batch of at least 2 per worker (batch size {cfg.batch_size}, "
            f"{ctx.world_size} worker(s)); use more examples (max_train_examples) or fewer workers"
        )
    location: dict[str, Any] = {}  # semi-ha-loc: the table's size, set from the table (not overridable)
    table, location_card = None, None
    if MODELS[cfg.model].use_location:
        fixed = sorted(set(cfg.model_overrides) & {"use_location", "location_dim", "location_rows"})
        if fixed:
            raise InputError(
                f"model_overrides {fixed} are set by the county location table of {cfg.model!r} (the location encoder's "
                "size and the dataset's counties); leave them out"
            )
        table, location_card = county_location_table(ds)
        location = {"location_rows": int(table.shape[0]), "location_dim": int(table.shape[1])}
    mcfg = yield_model_config(
        cfg.model,
        cfg.size,
        target_mean=float(ex_train.target.mean()),
        target_std=float(ex_train.target.std()),
        **{"in_channels": len(bands), **cfg.model_overrides, **location},
    )
    model = YieldModel(mcfg)
    if model.location is not None:
        model.location.set_table(table)  # frozen: a buffer, not a parameter, so not in the optimizer
    model = model.to(dev.device)
    averaged = ema_of(model, cfg.ema)  # None without ema: the trained weights are scored and saved
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    # One-cycle learning rate (warm-up then cosine decay): steadier validation curves than a constant rate.
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=cfg.lr, total_steps=cfg.epochs * steps, pct_start=0.15)
    half = autocast_dtype(dev, cfg.precision)  # None: float32
    if half == torch.bfloat16 and dev.device.type == "cpu" and not bf16_supported() and ctx.is_main:
        warnings.warn(
            "precision 'bfloat16' on a CPU without native bfloat16 (AVX-512 BF16 or AMX) is emulated and usually "
            "slower than float32; consider precision 'auto'",
            stacklevel=2,
        )
    scaler = torch.amp.GradScaler("cuda", enabled=half == torch.float16)
    sampler = QuadrupletSampler.from_dataset(ds, r_n=cfg.r_n_km, r_d=cfg.r_d_km, generator=cfg.seed) if mcfg.use_context else None
    recover_run_folders(out, ctx)
    if not resume and ctx.is_main:
        clear_previous_run(out)  # a new run (an empty folder, or one replaced with force)
    log = MetricsLog(out / "metrics.jsonl") if ctx.is_main else None
    start, best_rmse, stale = 0, math.inf, 0
    data_card = dataset_card(ds)
    if resume:
        state = resume_from_last(
            out / "last",
            model,
            opt,
            sched,
            scaler,
            steps,
            cfg.epochs,
            expected={
                "model_config": mcfg.to_dict(),
                "dataset": data_card,
                **({"location_context": location_card} if location_card is not None else {}),
            },
            expected_config=resume_settings(cfg, tuple(asdict(cfg))),
        )
        if state is not None:
            if averaged is not None:
                load_average(out / "last", averaged)
            start, best_rmse, stale = int(state["epoch"]) + 1, float(state["best_rmse"]), int(state["stale"])
            if not (out / "best" / CARD).exists():  # best/ was lost: the next epoch's model becomes the best
                best_rmse = math.inf
                if stale >= cfg.patience or start >= cfg.epochs:
                    raise CannotResumeError(lost_best_message(out, cfg.epochs))
        if ctx.is_main:
            keep_epochs_before(out / "metrics.jsonl", start + 1)  # epochs logged but not saved are redone
    net = wrap_model(_TrainStep(model), ctx)
    if cfg.compile:  # the weights stay the model's own: checkpoints, validation and prediction use it uncompiled
        net = torch.compile(net)
    workers = resolve_workers(cfg.loader_workers, dev.device.type)
    batches = YieldBatches(
        source, ex_train, batch, cfg.seed, ctx, sampler=sampler, temporal_neighbour=cfg.temporal_neighbour, augment=cfg.augment
    )
    loader, keys = batch_loader(batches, workers, pin_memory=dev.device.type == "cuda")
    card_base = {
        "model": cfg.model,
        "kind": "crop-yield",
        "train_config": asdict(cfg),
        "applies": applied_config(cfg, ATTENTION_APPLIES if mcfg.use_context else SUPERVISED_APPLIES),
        "model_config": mcfg.to_dict(),
        "dataset": data_card,
        "years": {"train": train_years, "validation": val_year, "test": test_year},
        "normalisation": {"bands": list(source.bands), "mean": source.mean.tolist(), "std": source.std.tolist()},
        "missing_pixels_filled": source.n_missing,
        "device": dev.name,
        "world_size": ctx.world_size,
        "loader_workers": workers,
        **({"location_context": location_card} if location_card is not None else {}),
    }
    if ctx.is_main:
        monitor.report(
            {
                "event": "start",
                "epochs": cfg.epochs,
                "steps": steps,
                "start_epoch": start,
                "device": dev.name,
                "world_size": ctx.world_size,
                "loader_workers": workers,
            }
        )
    stopped_early = stale >= cfg.patience  # a resumed run that had already stopped early trains no more
    try:
        for epoch in range(start, start if stopped_early else cfg.epochs):
            model.train()
            t0 = time.perf_counter()
            keys.set_epoch(epoch)
            sums: dict[str, float] = {}
            bar = tqdm(
                loader,
                total=steps,
                desc=f"{cfg.model} {test_year} epoch {epoch + 1}/{cfg.epochs}",
                disable=not (progress and ctx.is_main),
                leave=False,
            )
            for step, item in enumerate(bar):
                if broadcast_value(float(ctx.is_main and monitor.stop_requested()), ctx) > 0:
                    raise TrainingCancelled(
                        f"training of {cfg.model} {test_year} cancelled in epoch {epoch + 1}; "
                        f"resume continues from epoch {epoch + 1}"
                    )
                target = to_device(item["target"], dev)
                county = to_device(item["county"], dev) if model.location is not None else None
                with torch.autocast(dev.device.type, dtype=half or torch.float32, enabled=half is not None):
                    if sampler is not None:
                        pred, context = net(*(to_device(item[k], dev) for k in ("A", "SN", "SD", "TN")), county=county)
                        terms = model.loss(pred.float(), target, tuple(c.float() for c in context))
                    else:
                        pred, _ = net(to_device(item["A"], dev), county=county)
                        terms = model.loss(pred.float(), target, None)
                loss = float(terms["total"].detach())
                check_loss(loss, ctx, what=f"{cfg.model} {test_year}", epoch=epoch + 1, step=step + 1, lr=cfg.lr, out=out)
                opt.zero_grad(set_to_none=True)
                scaler.scale(terms["total"]).backward()
                scaler.step(opt)
                scaler.update()
                sched.step()
                if averaged is not None:
                    averaged.update_parameters(model)
                for k, v in terms.items():
                    sums[k] = sums.get(k, 0.0) + float(v.detach())
                if ctx.is_main:
                    bar.set_postfix(loss=f"{loss:.2f}")
                    monitor.report({"event": "step", "epoch": epoch + 1, "step": step + 1, "steps": steps, "loss": loss})
            seconds = time.perf_counter() - t0
            check_weights(model, what=f"{cfg.model} {test_year}", epoch=epoch + 1, lr=cfg.lr, out=out)
            train_means = mean_across({f"train_{k}": v / max(steps, 1) for k, v in sums.items()}, ctx)
            val_rmse = math.nan
            if ctx.is_main:
                scored = model if averaged is None else averaged.module
                val_rmse, val_r2 = rmse_r2(ex_val.target, predict_examples(scored, source, ex_val, dev.device))
                record = log.write(
                    epoch=epoch + 1,
                    seconds=seconds,
                    samples_per_s=len(ex_train) / seconds,
                    val_rmse=val_rmse,
                    val_r2=val_r2,
                    **train_means,
                )
                if val_rmse < best_rmse:
                    test_rmse, test_r2 = rmse_r2(ex_test.target, predict_examples(scored, source, ex_test, dev.device))
                    save_checkpoint(
                        out / "best",
                        scored,
                        {**card_base, "epoch": epoch + 1, "metrics": {**record, "test_rmse": test_rmse, "test_r2": test_r2}},
                    )
                monitor.report({"event": "epoch", **record})
                if progress:
                    tqdm.write(json.dumps({k: round(v, 4) if isinstance(v, float) else v for k, v in record.items()}))
            val_rmse = broadcast_value(val_rmse, ctx)
            if val_rmse < best_rmse:
                best_rmse, stale = val_rmse, 0
            else:
                stale += 1
            if ctx.is_main:
                save_checkpoint(
                    out / "last",
                    model,
                    {**card_base, "epoch": epoch + 1, "metrics": record},
                    optimizer=opt,
                    train_state=train_state(scaler, epoch=epoch, best_rmse=best_rmse, stale=stale),
                    average=averaged,
                )
            if stale >= cfg.patience:
                stopped_early = True
                break
    finally:
        close_loader(loader)
    if not math.isfinite(best_rmse):
        raise TrainingDiverged(no_best_message(f"{cfg.model} {test_year}", out, "validation RMSE"))
    if ctx.is_main:
        monitor.report({"event": "end", "checkpoint": str(out / "best"), "stopped_early": stopped_early})
    shutdown(ctx)
    return out / "best"


def load_yield_model(folder: str | Path, ds: YieldDataset | None = None) -> tuple[YieldModel, dict[str, Any]]:
    """A trained yield model (eval mode, CPU) and its card; with ``ds``, the card must match its data.

    Raises:
        DataFileError: the card or the weights are invalid (:func:`~geoapp.training.checkpoint.load_checkpoint`).
        InputError: the checkpoint is not an attention crop-yield model (the baselines load through
            :func:`geoapp.training.model_kinds.load_yield_checkpoint`), or was trained on other data (fingerprint,
            tile size or resolution differ); an argument of the wrong type.
    """
    check_checkpoint_arg(folder)
    if ds is not None:
        check_dataset_arg(ds)
    weights, card = load_checkpoint(folder)[:2]
    if card.get("kind") != "crop-yield":
        raise InputError(
            f"checkpoint {str(folder)!r} is not an attention crop-yield model (kind {card.get('kind')!r}, model "
            f"{card.get('model')!r}); load_yield_model loads {list(MODELS)}; every kind loads with "
            "geoapp.training.model_kinds.load_yield_checkpoint and scores with evaluate_yield"
        )
    if ds is not None:
        verify_dataset(ds)
        check_card(card["dataset"], fingerprint=ds.fingerprint, tile_px=ds.tile_px)
    try:
        mcfg = YieldModelConfig.from_dict(card["model_config"])
    except InputError as exc:
        raise DataFileError(f"checkpoint card {str(Path(folder) / 'card.json')!r}: model_config: {exc}") from exc
    model = YieldModel(mcfg)
    check_weights_fit(model, weights, folder)
    model.load_state_dict(weights)
    return model.eval(), card


class AttentionPredictor:
    """A loaded attention checkpoint that predicts a year of a dataset (the registry's predictor)."""

    def __init__(self, model: YieldModel, card: dict[str, Any]) -> None:
        self.model, self.card = model, card

    def predict(self, ds: YieldDataset, year: int, mask_group: str | None = None) -> YieldPredictions:
        """Predictions for the labelled counties of ``year``; ``mask_group`` set to the training mean (0)."""
        return predict_attention(self.model, self.card, ds, year, mask_group)


def load_attention(folder: str | Path, ds: YieldDataset | None = None) -> AttentionPredictor:
    """The predictor of an attention checkpoint (:func:`load_yield_model`, with the same errors)."""
    return AttentionPredictor(*load_yield_model(folder, ds))


def predict_attention(
    model: YieldModel, card: dict[str, Any], ds: YieldDataset, year: int, mask_group: str | None = None
) -> YieldPredictions:
    """Predicted yields (bu/acre) of the labelled counties of ``year`` with the card's standardisation.

    Raises:
        InputError: ``year`` is not in the dataset, or ``mask_group`` is not a feature group.
    """
    year = dataset_year(ds, year)
    norm = card["normalisation"]
    source = YieldTileSource(ds, None, bands=tuple(norm["bands"]), stats=(norm["mean"], norm["std"]), years=[year])
    ex = source.examples([year])
    pred = predict_examples(model, source, ex, torch.device("cpu"), mask_group=mask_group)
    return YieldPredictions(ex.county, year, ex.target.astype(np.float64), pred.astype(np.float64))
