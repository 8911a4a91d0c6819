"""Training and evaluation of the crop-yield models (SEMI-HA, S-HA, SEMI-SA) on a dataset folder.

Temporal nested validation (Section IV-D): for test year y, the validation year is y - 1 and the
training years are y - N_y - 1 .. y - 2 (N_y = 10 by default). Inputs are standardised per month and
band on the training years (:class:`geoapp.training.yield_data.YieldTileSource`). Models with context
(``semi-ha``, ``semi-sa``) draw a quadruplet per example each step (:mod:`geoapp.samplers`) and
train on Eq. 2; ``s-ha`` trains on L_S alone.

Conventions shared with the other trainers: seeded; one process or data-parallel under torchrun
(:mod:`geoapp.training.distributed`); progress events and cancellation through a
:class:`~geoapp.training.monitor.TrainingMonitor`; device auto (CUDA with mixed precision, pinned
memory and non-blocking copies when present, else CPU); a progress bar; metrics per epoch as JSON
lines (``metrics.jsonl``); the best-on-validation model as a safetensors + JSON-card checkpoint
(``best/``, the card holding the model config, the data fingerprint, the years, the normalisation
statistics and the metrics); the last epoch with optimizer state (``last/``) to resume from; early
stopping on the validation RMSE.

A run never shows a wrong result as valid: it stops at the first non-finite loss
(:class:`~geoapp.training.results.TrainingDiverged`), a run whose validation RMSE is never finite
ends with that error rather than a ``best/`` that does not exist, and an evaluation with no county
or a NaN score is refused (:func:`~geoapp.training.results.check_scores`). A run folder that holds
another run is not overwritten unless asked (``force``), and a run that fails before its first
checkpoint leaves no folder it created behind.
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import asdict, dataclass, fields
from os import PathLike
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch import nn
from tqdm.auto import tqdm

from geoapp.config import DEVICES, check_choices, check_seed, setting, strict_from_dict
from geoapp.data.args import as_bool, as_int, as_path, given
from geoapp.data.bands import BANDS, FEATURE_GROUPS, group_bands
from geoapp.data.dataset import YieldDataset
from geoapp.errors import DataFileError, InputError
from geoapp.models.yield_models import MODELS, SIZES, YieldModel, YieldModelConfig, yield_model_config
from geoapp.samplers import QuadrupletSampler
from geoapp.training.checkpoint import (
    check_card,
    check_weights_fit,
    clear_previous_run,
    load_checkpoint,
    read_card,
    run_folder,
    save_checkpoint,
)
from geoapp.training.device import to_device
from geoapp.training.distributed import (
    batches_per_epoch,
    broadcast_value,
    epoch_order,
    init_distributed,
    mean_across,
    shutdown,
    wrap_model,
)
from geoapp.training.metrics_log import MetricsLog, keep_epochs_before
from geoapp.training.monitor import TrainingCancelled, TrainingMonitor
from geoapp.training.results import (
    TrainingDiverged,
    check_loss,
    check_scores,
    check_weights,
    no_best_message,
    verify_dataset,
)
from geoapp.training.resume import recover_run_folders, resume_from_last, train_state
from geoapp.training.yield_data import TEMPORAL_NEIGHBOURS, Examples, YieldTileSource, check_dataset_arg, dataset_year

__all__ = ["YieldTrainConfig", "nested_years", "train_yield", "load_yield_model", "predict_examples", "evaluate_yield", "rmse_r2"]


MODEL_OVERRIDE_KEYS: tuple[str, ...] = tuple(
    f.name
    for f in fields(YieldModelConfig)
    if f.name not in ("use_global_query", "use_context", "in_channels", "n_steps", "target_mean", "target_std")
)
"""YieldModelConfig fields a run may override; the others are set by the model name, the dataset's bands and
months, and the training labels."""


@dataclass(frozen=True)
class YieldTrainConfig:
    """Hyperparameters of a crop-yield training run (unknown keys are refused by :meth:`from_dict`).

    Each field carries its help text and allowed values (:func:`geoapp.config.setting`); the command
    line (``python -m geoapp train yield --help``) is generated from them.
    """

    model: str = setting(
        "semi-ha",
        "semi-ha (hybrid attention + context losses), s-ha (no context losses) or semi-sa (self-attention, no global query)",
        choices=tuple(MODELS),
    )
    size: str = setting(
        "demo", "model size: demo (compact, for CPU) or paper (ResNet-18 width 64, m = 512; GPU)", choices=tuple(SIZES)
    )
    test_year: int = setting(2018, "test year; validation is the year before, training the N_y years before that")
    n_train_years: int = setting(10, "N_y training years (Section IV-D)")
    epochs: int = setting(30, "most training epochs")
    patience: int = setting(6, "early stopping: epochs without a better validation RMSE")
    batch_size: int = setting(32, "examples per optimizer step (over all workers)")
    lr: float = setting(1e-3, "peak learning rate (AdamW with a one-cycle schedule)")
    weight_decay: float = setting(1e-4, "AdamW weight decay")
    r_n_km: float = setting(25.0, "spatial-neighbour radius SN, km (paper: 25 px at 1 km)")
    r_d_km: float = setting(100.0, "spatial-distant radius SD, km (paper: 100 px at 1 km)")
    temporal_neighbour: str = setting(
        "month",
        "TN, the same place one time step earlier: month (the month before, the paper's Section IV-E) "
        "or year (the same months a year before)",
        choices=TEMPORAL_NEIGHBOURS,
    )
    seed: int = setting(0, "random seed (model initialisation, sampling, batch order)")
    device: str = setting("auto", "auto (the GPU when there is one, else the CPU), cuda or cpu", choices=DEVICES)
    max_train_examples: int = setting(0, "> 0: subsample the training examples to this many (smoke runs); 0: all")
    exclude_group: str | None = setting(
        None, "retrain without this feature group (the paper's Figure 7); none: all inputs", choices=tuple(FEATURE_GROUPS)
    )
    model_overrides: dict[str, Any] = setting(
        default_factory=dict,
        help="YieldModelConfig fields to change from the model size's (e.g. the loss weights alpha, beta, gamma)",
        choices=MODEL_OVERRIDE_KEYS,
        keys_from=YieldModelConfig,
    )

    def __post_init__(self) -> None:
        check_choices(self)
        check_seed(self.seed)
        for name in ("n_train_years", "epochs", "patience", "batch_size"):
            if int(getattr(self, name)) <= 0:
                raise InputError(f"{name} must be a positive integer, got {getattr(self, name)!r}")
        if not 1900 <= self.test_year <= 2100:
            raise InputError(f"test_year must be a year in 1900..2100, got {self.test_year!r}")
        if not (self.lr > 0 and math.isfinite(self.lr)):
            raise InputError(f"lr must be a finite positive number, got {self.lr!r}")
        if not (self.weight_decay >= 0 and math.isfinite(self.weight_decay)):
            raise InputError(f"weight_decay must be a finite number >= 0, got {self.weight_decay!r}")
        if int(self.max_train_examples) < 0:
            raise InputError(f"max_train_examples must be >= 0 (0: all examples), got {self.max_train_examples!r}")
        if not 0 < self.r_n_km < self.r_d_km < math.inf:
            raise InputError(f"need 0 < r_n_km < r_d_km, got {self.r_n_km!r} and {self.r_d_km!r}")

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> YieldTrainConfig:
        """Build from a dict, refusing unknown keys (naming them and the allowed ones)."""
        return strict_from_dict(cls, values, "yield-training")


def nested_years(test_year: int, n_train_years: int, available: list[int]) -> tuple[list[int], int, int]:
    """(training years, validation year, test year) of Section IV-D; an error names missing years.

    Raises:
        InputError: ``test_year`` is not a whole number, ``n_train_years`` not a whole number of at least 1,
            ``available`` not a list of whole years, or a year the split needs is not available.
    """
    test_year = as_int(test_year, "test_year")
    n_train_years = as_int(n_train_years, "n_train_years", minimum=1)
    if not isinstance(available, (list, tuple, range)):
        raise InputError(f"available must be a list of whole years (e.g. ds.years), got {given(available)}")
    available = [as_int(y, "available year") for y in available]
    if not available:
        raise InputError(f"available is empty: there are no years to split (test year {test_year})")
    first = test_year - n_train_years - 1
    held = sorted({y for y in available if first <= y <= test_year})
    n_missing = n_train_years + 2 - len(held)
    if n_missing:
        lacks = repr(sorted(set(range(first, test_year + 1)) - set(held))) if n_missing <= 50 else f"{n_missing:,} of them"
        raise InputError(
            f"test year {test_year} with N_y = {n_train_years} needs years {first}..{test_year}; "
            f"the dataset lacks {lacks} (it holds {min(available)}..{max(available)})"
        )
    train = list(range(first, test_year - 1))
    return train, test_year - 1, test_year


def rmse_r2(y: np.ndarray, p: np.ndarray) -> tuple[float, float]:
    """RMSE (bu/acre) and R^2 of predictions ``p`` (N,) for targets ``y`` (N,).

    NaN for both when N is 0 (nothing scored: callers refuse it, :func:`check_scores`); NaN R^2 when
    every target is the same.

    Raises:
        InputError: ``y`` or ``p`` is not a 1-D array of numbers, or they differ in length (a prediction
            per target is needed; arrays of other lengths would be broadcast into a wrong score).
    """
    y, p = _values(y, "y"), _values(p, "p")
    if len(y) != len(p):
        raise InputError(f"y and p must hold one prediction per target, got {len(y)} targets and {len(p)} predictions")
    if len(y) == 0:  # nothing scored: callers refuse it (check_scores)
        return math.nan, math.nan
    err = p - y
    sst = float(np.sum((y - np.mean(y)) ** 2))
    return float(np.sqrt(np.mean(err**2))), float(1.0 - np.sum(err**2) / sst) if sst > 0 else float("nan")


def _values(values: object, name: str) -> np.ndarray:
    """``values`` as a 1-D float64 array; refuses None, text, scalars and arrays of other shapes."""
    if values is None or isinstance(values, (str, bytes, dict)):
        raise InputError(f"{name} must be a 1-D array of yields (bu/acre), got {given(values)}")
    try:
        arr = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError):
        raise InputError(f"{name} must be a 1-D array of yields (bu/acre), got {given(values)}") from None
    if arr.ndim != 1:
        raise InputError(f"{name} must be a 1-D array of yields (bu/acre), got an array of shape {arr.shape}")
    return arr


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
        out.append(net(tiles).float().cpu().numpy())
    return np.concatenate(out) if out else np.zeros(0, np.float32)


class _TrainStep(nn.Module):
    """The training forward pass as one ``forward`` (what DistributedDataParallel wraps).

    With context tiles: the anchors' predictions and the four embeddings of Eq. 3-5; without
    (``s-ha``): the predictions and None.
    """

    def __init__(self, model: YieldModel) -> None:
        super().__init__()
        self.model = model

    def forward(
        self, anchor: torch.Tensor, sn: torch.Tensor | None = None, sd: torch.Tensor | None = None, tn: torch.Tensor | None = None
    ):
        if sn is None:
            return self.model(anchor), None
        q = self.model.forward_quadruplet(anchor, sn, sd, tn)
        return q.prediction, q.context


def train_yield(
    cfg: YieldTrainConfig,
    ds: YieldDataset,
    out_dir: str | Path,
    resume: bool = False,
    progress: bool = True,
    monitor: TrainingMonitor | None = None,
    force: bool = False,
) -> Path:
    """Train one (model, test year); returns the ``best`` checkpoint folder under ``out_dir``.

    Runs in one process, or under ``torchrun`` as one of several data-parallel workers
    (:mod:`geoapp.training.distributed`: the global batch is split between workers; rank 0 validates
    and writes). ``monitor`` receives progress events and may ask to stop
    (:mod:`geoapp.training.monitor`); a stop raises :class:`TrainingCancelled` after the last
    finished epoch's ``last/`` checkpoint.

    ``out_dir`` must be new or empty, unless ``resume`` (continue from its ``last/``, which must
    exist) or ``force`` (replace the run it holds: its ``best/``, ``last/`` and metrics are set aside
    when training starts, dropped once the new run writes its ``best/``, and put back if it fails before).
    A folder this call created is removed again if training fails before
    its first checkpoint.

    Raises:
        DataFileError: ``out_dir`` cannot be written (checked before training), or a checkpoint could
            not be saved (a full disk: the previous ``best/`` and ``last/`` stay intact).
        InputError: the dataset lacks the years of the nested validation or their yields; ``out_dir``
            holds another run (without ``force``); ``resume`` without a ``last/`` checkpoint.
        TrainingDiverged: a loss was not finite (all workers stop at that step), or no epoch gave a
            finite validation RMSE (no ``best/`` exists).
        TrainingCancelled: the monitor asked to stop.
    """
    if not isinstance(cfg, YieldTrainConfig):
        raise InputError(f"cfg must be a YieldTrainConfig (e.g. YieldTrainConfig.from_dict(...)), got {given(cfg)}")
    check_dataset_arg(ds)
    out_dir = as_path(out_dir, "out_dir")
    resume, progress, force = as_bool(resume, "resume"), as_bool(progress, "progress"), as_bool(force, "force")
    if monitor is not None and not isinstance(monitor, TrainingMonitor):
        raise InputError(f"monitor must be a geoapp.training.monitor.TrainingMonitor or None, got {given(monitor)}")
    verify_dataset(ds)
    train_years, val_year, test_year = nested_years(cfg.test_year, cfg.n_train_years, ds.years)
    for role, year in (("validation", val_year), ("test", test_year)):
        if ds.labelled(year).empty:
            which = f"the test year {year}"
            if role == "validation":
                which = f"the validation year {year} (the year before test year {test_year})"
            raise InputError(
                f"{which} has no labelled counties in dataset {ds.name!r}; "
                "choose a test year whose year and the year before have yields"
            )
    with run_folder(out_dir, force=force, resume=resume) as out:
        return _train_yield(cfg, ds, out, resume, progress, monitor or TrainingMonitor(), (train_years, val_year, test_year))


def _train_yield(
    cfg: YieldTrainConfig,
    ds: YieldDataset,
    out: Path,
    resume: bool,
    progress: bool,
    monitor: TrainingMonitor,
    years: tuple[list[int], int, int],
) -> Path:
    """The body of :func:`train_yield`, once the run folder and the years are checked."""
    train_years, val_year, test_year = years
    ctx = init_distributed(cfg.device)
    dev = ctx.device
    torch.manual_seed(cfg.seed)
    bands = tuple(b for b in BANDS if cfg.exclude_group is None or b not in group_bands(cfg.exclude_group))
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
    mcfg = yield_model_config(
        cfg.model,
        cfg.size,
        target_mean=float(ex_train.target.mean()),
        target_std=float(ex_train.target.std()),
        **{"in_channels": len(bands), **cfg.model_overrides},
    )
    model = YieldModel(mcfg).to(dev.device)
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    # One-cycle learning rate (warm-up then cosine decay): steadier validation curves than a constant rate.
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=cfg.lr, total_steps=cfg.epochs * steps, pct_start=0.15)
    scaler = torch.amp.GradScaler("cuda", enabled=dev.amp)
    sampler = QuadrupletSampler.from_dataset(ds, r_n=cfg.r_n_km, r_d=cfg.r_d_km, generator=cfg.seed) if mcfg.use_context else None
    recover_run_folders(out, ctx)
    if not resume and ctx.is_main:
        clear_previous_run(out)  # a new run (an empty folder, or one replaced with force)
    log = MetricsLog(out / "metrics.jsonl") if ctx.is_main else None
    start, best_rmse, stale = 0, math.inf, 0
    dataset_card = {
        "name": ds.name,
        "fingerprint": ds.fingerprint,
        "simulated": ds.simulated,
        "tile_px": ds.tile_px,
        "resolution_m": ds.grid.resolution_m,
    }
    if resume:
        state = resume_from_last(
            out / "last",
            model,
            opt,
            sched,
            scaler,
            steps,
            cfg.epochs,
            expected={"model_config": mcfg.to_dict(), "dataset": dataset_card},
        )
        if state is not None:
            start, best_rmse, stale = int(state["epoch"]) + 1, float(state["best_rmse"]), int(state["stale"])
        if ctx.is_main:
            keep_epochs_before(out / "metrics.jsonl", start + 1)  # epochs logged but not saved are redone
    net = wrap_model(_TrainStep(model), ctx)
    card_base = {
        "model": cfg.model,
        "kind": "crop-yield",
        "train_config": asdict(cfg),
        "model_config": mcfg.to_dict(),
        "dataset": dataset_card,
        "years": {"train": train_years, "validation": val_year, "test": test_year},
        "normalisation": {"bands": list(source.bands), "mean": source.mean.tolist(), "std": source.std.tolist()},
        "missing_pixels_filled": source.n_missing,
        "device": dev.name,
        "world_size": ctx.world_size,
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
            }
        )
    stopped_early = stale >= cfg.patience  # a resumed run that had already stopped early trains no more
    for epoch in range(start, start if stopped_early else cfg.epochs):
        model.train()
        t0 = time.perf_counter()
        order = epoch_order(len(ex_train), epoch, cfg.seed, ctx)
        rng = np.random.default_rng([cfg.seed, epoch, ctx.rank])  # context draws: replayed on resume
        sums: dict[str, float] = {}
        bar = tqdm(
            range(steps),
            desc=f"{cfg.model} {test_year} epoch {epoch + 1}/{cfg.epochs}",
            disable=not (progress and ctx.is_main),
            leave=False,
        )
        for step in bar:
            if broadcast_value(float(ctx.is_main and monitor.stop_requested()), ctx) > 0:
                raise TrainingCancelled(
                    f"training of {cfg.model} {test_year} cancelled in epoch {epoch + 1}; resume continues from epoch {epoch + 1}"
                )
            idx = order[step * batch : (step + 1) * batch]
            if len(idx) < 2:  # BatchNorm needs two examples
                continue
            target = to_device(torch.from_numpy(ex_train.target[idx]), dev)
            with torch.autocast(dev.device.type, dtype=torch.float16, enabled=dev.amp):
                if sampler is not None:
                    tiles = source.context_tiles(ex_train, idx, sampler, generator=rng, temporal_neighbour=cfg.temporal_neighbour)
                    pred, context = net(*(to_device(tiles[k], dev) for k in ("A", "SN", "SD", "TN")))
                    terms = model.loss(pred.float(), target, tuple(c.float() for c in context))
                else:
                    pred, _ = net(to_device(source.anchor_tiles(ex_train, idx), dev))
                    terms = model.loss(pred.float(), target, None)
            loss = float(terms["total"].detach())
            check_loss(loss, ctx, what=f"{cfg.model} {test_year}", epoch=epoch + 1, step=step + 1, lr=cfg.lr, out=out)
            opt.zero_grad(set_to_none=True)
            scaler.scale(terms["total"]).backward()
            scaler.step(opt)
            scaler.update()
            sched.step()
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
            val_rmse, val_r2 = rmse_r2(ex_val.target, predict_examples(model, source, ex_val, dev.device))
            record = log.write(
                epoch=epoch + 1,
                seconds=seconds,
                samples_per_s=len(ex_train) / seconds,
                val_rmse=val_rmse,
                val_r2=val_r2,
                **train_means,
            )
            if val_rmse < best_rmse:
                test_rmse, test_r2 = rmse_r2(ex_test.target, predict_examples(model, source, ex_test, dev.device))
                save_checkpoint(
                    out / "best",
                    model,
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
            )
        if stale >= cfg.patience:
            stopped_early = True
            break
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
        InputError: the checkpoint is not a deep crop-yield model (a ridge checkpoint is loaded by
            :func:`~geoapp.training.ridge_trainer.load_ridge`), or was trained on other data (fingerprint,
            tile size or resolution differ); an argument of the wrong type.
    """
    check_checkpoint_arg(folder)
    if ds is not None:
        check_dataset_arg(ds)
    weights, card = load_checkpoint(folder)[:2]
    if card.get("kind") == "ridge":
        raise InputError(
            f"checkpoint {str(folder)!r} is a ridge model: ridge is loaded by the ridge functions "
            "(geoapp.training.ridge_trainer.load_ridge, evaluate_ridge; evaluate_yield scores either kind); "
            f"load_yield_model loads the deep crop-yield models {list(MODELS)}"
        )
    if card.get("kind") != "crop-yield":
        raise InputError(
            f"checkpoint {str(folder)!r} is not a crop-yield model (kind {card.get('kind')!r}, model {card.get('model')!r}); "
            f"crop-yield models: {list(MODELS)} (ridge is loaded by the ridge functions: load_ridge, evaluate_ridge)"
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


def check_checkpoint_arg(folder: Any) -> None:
    """Refuse a checkpoint argument that is not a folder path (None, a model, a dict)."""
    if not isinstance(folder, (str, PathLike)):
        raise InputError(
            f"checkpoint must be a checkpoint folder path (str or Path), got {type(folder).__name__} {_brief(folder)}; "
            "pass the folder that holds card.json"
        )


def _brief(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def evaluate_yield(folder: str | Path, ds: YieldDataset, year: int | None = None) -> dict[str, Any]:
    """RMSE and R^2 on the checkpoint's test year (or ``year``) and a per-county table.

    Returns:
        dict with ``rmse``, ``r2``, ``year``, ``n`` and ``table`` (DataFrame: geoid, year, true, predicted).

    Raises:
        InputError: ``year`` is not in the dataset or has no labelled county; the checkpoint is not a
            crop-yield model or was trained on other data.
        DataFileError: the checkpoint's card or weights are invalid.
        InvalidResultError: the RMSE or R^2 is not a finite number.
    """
    check_checkpoint_arg(folder)
    check_dataset_arg(ds)
    kind = read_card(folder).get("kind")
    if kind == "ridge":
        from geoapp.training.ridge_trainer import evaluate_ridge

        return evaluate_ridge(folder, ds, year)
    model, card = load_yield_model(folder, ds)
    year = dataset_year(ds, year if year is not None else card["years"]["test"])
    norm = card["normalisation"]
    source = YieldTileSource(ds, None, bands=tuple(norm["bands"]), stats=(norm["mean"], norm["std"]), years=[year])
    ex = source.examples([year])
    pred = predict_examples(model, source, ex, torch.device("cpu"))
    rmse, r2 = rmse_r2(ex.target, pred)
    table = pd.DataFrame(
        {"geoid": ds.counties["geoid"].to_numpy()[ex.county], "year": year, "true": ex.target, "predicted": pred.astype(float)}
    )
    result = {"model": card["model"], "year": year, "n": int(len(ex)), "rmse": rmse, "r2": r2, "table": table}
    return check_scores(result, checkpoint=folder, dataset=ds.name)
