"""Training and loading of the neural baselines (``mlp``, ``lstm-gp``, ``cnn-gp``, ``c3d``, ``cnn-lstm``).

The same rules as the attention models (:mod:`geoapp.training.attention_trainer`): the nested years
and run folder of :func:`geoapp.training.yield_trainer.train_yield`, inputs standardised with the
training years' statistics (:class:`~geoapp.training.yield_data.YieldTileSource`, read by
:class:`~geoapp.training.yield_inputs.InputReader`), AdamW with a one-cycle learning rate on the mean
squared error (in units of the training labels' spread), early stopping on the validation RMSE
(``patience``), the best-on-validation model as a safetensors + JSON-card checkpoint, ``metrics.jsonl``,
a seed, monitor events and cancellation, and a stop at the first non-finite loss.

``lstm-gp`` and ``cnn-gp`` then fit the Gaussian process of You et al. 2017 on the best network's last
hidden layer over the training examples (:mod:`geoapp.models.baselines.gaussian_process`) and save it
with the network; the card's metrics hold the scores with the GP (``val_rmse``, ``test_rmse``) and
without (``val_rmse_without_gp``, ``test_rmse_without_gp``). These runs train in one process (no
torchrun). Each epoch also saves ``last/`` (weights, optimizer state, the epoch and early-stopping
counters), so an interrupted run resumes where it stopped (``resume``; the experiment runner and a
job's resume do it) with the same rules as the attention models' (:mod:`geoapp.training.resume`): the
schedule is replayed, and a checkpoint of another model configuration, dataset, input statistics or
training setting is refused. The order of an epoch's examples and its dropout draws come from the
seed and the epoch's number alone, so a resumed run trains exactly as the uninterrupted one (earlier
versions drew the dropout of a whole run from one stream: their runs are not reproduced bit for bit).
"""

from __future__ import annotations

import copy
import json
import math
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm

from geoapp.data.dataset import YieldDataset
from geoapp.errors import DataFileError, InputError
from geoapp.models.baselines import NETWORKS, BaselineNet, GaussianProcessLayer, GPParams, fit_gaussian_process
from geoapp.models.baselines.gaussian_process import gp_card
from geoapp.training.augment import apply_symmetries, augment_rng, symmetry_codes
from geoapp.training.checkpoint import CARD, check_card, check_weights_fit, clear_previous_run, load_checkpoint, save_checkpoint
from geoapp.training.distributed import init_distributed, shutdown
from geoapp.training.metrics import rmse_r2
from geoapp.training.metrics_log import MetricsLog, keep_epochs_before
from geoapp.training.monitor import TrainingCancelled, TrainingMonitor
from geoapp.training.results import TrainingDiverged, check_loss, check_weights, no_best_message, verify_dataset
from geoapp.training.resume import (
    CannotResumeError,
    lost_best_message,
    recover_run_folders,
    resume_from_last,
    train_state,
)
from geoapp.training.yield_config import YieldTrainConfig, check_checkpoint_arg, resume_settings
from geoapp.training.yield_data import Examples, YieldTileSource, check_dataset_arg, dataset_year
from geoapp.training.yield_inputs import InputReader
from geoapp.training.yield_runs import YieldPredictions, dataset_card, kept_bands, train_card

__all__ = ["NETWORK_APPLIES", "network_applies", "train_network", "load_network", "NetworkPredictor", "county_locations_km"]

NETWORK_APPLIES: tuple[str, ...] = (
    "model",
    "size",
    "test_year",
    "n_train_years",
    "epochs",
    "patience",
    "batch_size",
    "lr",
    "weight_decay",
    "seed",
    "device",
    "max_train_examples",
    "exclude_group",
    "augment",
)
"""The YieldTrainConfig fields the neural baselines use (no context tiles, no loss weights); ``augment`` only
for the baselines on tiles (``c3d``, ``cnn-lstm``): see :func:`network_applies`."""


def network_applies(inputs: str) -> tuple[str, ...]:
    """The fields a neural baseline with ``inputs`` (its registry kind's ``inputs``) uses.

    The augmentation turns tiles; a baseline on averaged features or histograms never sees one (a
    mean and a histogram are the same under any symmetry of the square), so it ignores ``augment``.
    """
    return NETWORK_APPLIES if inputs == "tiles" else tuple(f for f in NETWORK_APPLIES if f != "augment")


_PREDICT_BATCH = 256

GP_MAX_EXAMPLES = 12_000
"""Most training examples the GP of ``lstm-gp`` and ``cnn-gp`` is fitted on: its n x n kernel matrix takes
1.2 GB at 12,000 (the demo data has about 9,000). A larger training set (a user's dataset with many
counties) is subsampled, seeded by the run's seed; the card's ``gp`` entry records both sizes."""

_NO_SCALER = torch.amp.GradScaler("cpu", enabled=False)
"""The baselines train in float32: no loss scaling (what :func:`train_state` and :func:`resume_from_last` take)."""


class _WithGP(nn.Module):
    """A network and the GP fitted on its last hidden layer, saved together."""

    def __init__(self, net: BaselineNet, gp: GaussianProcessLayer) -> None:
        super().__init__()
        self.net, self.gp = net, gp


def county_locations_km(ds: YieldDataset, county: np.ndarray) -> np.ndarray:
    """(N, 2) anchor-pixel centres (x, y) of county rows ``county`` in the dataset grid's projected CRS, km."""
    rows = ds.counties["anchor_row"].to_numpy(dtype=np.int64)[county]
    cols = ds.counties["anchor_col"].to_numpy(dtype=np.int64)[county]
    return np.stack([np.asarray(ds.grid.x)[cols], np.asarray(ds.grid.y)[rows]], axis=1) / 1000.0


@torch.inference_mode()
def _outputs(
    net: BaselineNet, reader: InputReader, ex: Examples, held: torch.Tensor | None, device: torch.device, mask_group=None
) -> tuple[np.ndarray, np.ndarray]:
    """(predictions (N,) bu/acre, last hidden layer (N, d)) of every example, eval mode, in batches."""
    net.eval()
    preds, feats = [], []
    for s in range(0, len(ex), _PREDICT_BATCH):
        idx = np.arange(s, min(s + _PREDICT_BATCH, len(ex)))
        x = held[idx] if held is not None else reader.batch(ex, idx, mask_group)
        h = net.features(x.to(device))
        preds.append(net.from_features(h).float().cpu().numpy())
        feats.append(h.float().cpu().numpy())
    if not preds:
        return np.zeros(0), np.zeros((0, 1))
    return np.concatenate(preds).astype(np.float64), np.concatenate(feats).astype(np.float64)


def train_network(
    cfg: YieldTrainConfig,
    ds: YieldDataset,
    out: Path,
    years: tuple[list[int], int, int],
    *,
    resume: bool = False,
    progress: bool = True,
    monitor: TrainingMonitor | None = None,
) -> Path:
    """Train a neural baseline in the checked run folder ``out`` on ``years``; returns ``out/best``.

    The body of :func:`geoapp.training.yield_trainer.train_yield` for the neural baselines.

    Raises:
        InputError: fewer than 2 training examples.
        TrainingDiverged: a non-finite loss, or no epoch with a finite validation RMSE.
        TrainingCancelled: the monitor asked to stop.
    """
    spec = NETWORKS[cfg.model]
    monitor = monitor or TrainingMonitor()
    train_years, val_year, test_year = years
    ctx = init_distributed(cfg.device)
    dev = ctx.device
    torch.manual_seed(cfg.seed)
    source = YieldTileSource(ds, train_years, bands=kept_bands(cfg.exclude_group))
    ex_train, ex_val, ex_test = (source.examples(y) for y in (train_years, [val_year], [test_year]))
    if cfg.max_train_examples > 0 and len(ex_train) > cfg.max_train_examples:
        keep = np.sort(np.random.default_rng(cfg.seed).choice(len(ex_train), cfg.max_train_examples, replace=False))
        ex_train = Examples(ex_train.county[keep], ex_train.year[keep], ex_train.target[keep])
    batch = min(cfg.batch_size, len(ex_train))
    steps = len(ex_train) // batch
    if len(ex_train) < 2:
        raise InputError(f"{len(ex_train)} training example(s) make no batch of at least 2; use more examples")
    reader = InputReader.fit(spec.inputs, source, ex_train)
    held = (
        {name: reader.all(ex) for name, ex in (("train", ex_train), ("val", ex_val), ("test", ex_test))}
        if spec.inputs != "tiles"
        else {}
    )
    mean, std = float(ex_train.target.mean()), float(max(ex_train.target.std(), 1e-6))
    mcfg = spec.make_config(cfg.size, reader.shape, mean, std)
    net = spec.model(mcfg).to(dev.device)
    opt = torch.optim.AdamW(net.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=cfg.lr, total_steps=cfg.epochs * steps, pct_start=0.15)
    recover_run_folders(out, ctx)
    if not resume:
        clear_previous_run(out)  # a new run (an empty folder, or one replaced with force)
    log = MetricsLog(out / "metrics.jsonl")
    card_base = {
        "model": cfg.model,
        "kind": "yield-baseline",
        **train_card(cfg, network_applies(spec.inputs)),
        "model_config": mcfg.to_dict(),
        "inputs": reader.card(),
        "dataset": dataset_card(ds),
        "years": {"train": train_years, "validation": val_year, "test": test_year},
        "normalisation": {"bands": list(source.bands), "mean": source.mean.tolist(), "std": source.std.tolist()},
        "missing_pixels_filled": source.n_missing,
        "device": dev.name,
        "world_size": 1,
        "gp": None,
    }
    start, best_rmse, stale, best_state, best_card = 0, math.inf, 0, None, None
    if resume:
        state = resume_from_last(
            out / "last",
            net,
            opt,
            sched,
            _NO_SCALER,
            steps,
            cfg.epochs,
            expected={k: card_base[k] for k in ("model_config", "inputs", "dataset", "normalisation")},
            expected_config=resume_settings(cfg, network_applies(spec.inputs)),
        )
        if state is not None:
            start, best_rmse, stale = int(state["epoch"]) + 1, float(state["best_rmse"]), int(state["stale"])
            best_state, saved = _saved_best(out / "best")
            if saved is None:  # best/ was lost: the next epoch's model becomes the best
                best_rmse = math.inf
                if stale >= cfg.patience or start >= cfg.epochs:
                    raise CannotResumeError(lost_best_message(out, cfg.epochs))
            else:  # this run's settings (epochs, patience, ...) over the interrupted run's
                best_card = {**saved, **card_base, "epoch": saved["epoch"], "metrics": saved["metrics"]}
        keep_epochs_before(out / "metrics.jsonl", start + 1)  # epochs logged but not saved are redone
    monitor.report(
        {"event": "start", "epochs": cfg.epochs, "steps": steps, "start_epoch": start, "device": dev.name, "world_size": 1}
    )
    stopped_early = stale >= cfg.patience  # a resumed run that had already stopped early trains no more
    what = f"{cfg.model} {test_year}"
    target = torch.from_numpy(ex_train.target)
    for epoch in range(start, start if stopped_early else cfg.epochs):
        net.train()
        t0 = time.perf_counter()
        order = np.random.default_rng([cfg.seed, epoch]).permutation(len(ex_train))
        torch.manual_seed(int(np.random.SeedSequence([cfg.seed, epoch]).generate_state(1)[0]))  # this epoch's dropout
        total = 0.0
        bar = tqdm(range(steps), desc=f"{what} epoch {epoch + 1}/{cfg.epochs}", disable=not progress, leave=False)
        for step in bar:
            if monitor.stop_requested():
                raise TrainingCancelled(
                    f"training of {what} cancelled in epoch {epoch + 1}; resume continues from epoch {epoch + 1}"
                )
            idx = order[step * batch : (step + 1) * batch]
            x = held["train"][idx] if held else reader.batch(ex_train, idx)
            if cfg.augment == "dihedral" and spec.inputs == "tiles":
                x = apply_symmetries(x, symmetry_codes(len(idx), augment_rng(cfg.seed, epoch, 0, step)))
            pred = net(x.to(dev.device))
            loss = torch.mean(((pred - target[idx].to(dev.device)) / std) ** 2)
            value = float(loss.detach())
            check_loss(value, ctx, what=what, epoch=epoch + 1, step=step + 1, lr=cfg.lr, out=out)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            total += value
            bar.set_postfix(loss=f"{value:.3f}")
            monitor.report({"event": "step", "epoch": epoch + 1, "step": step + 1, "steps": steps, "loss": value})
        seconds = time.perf_counter() - t0
        check_weights(net, what=what, epoch=epoch + 1, lr=cfg.lr, out=out)
        val_pred, _ = _outputs(net, reader, ex_val, held.get("val"), dev.device)
        val_rmse, val_r2 = rmse_r2(ex_val.target, val_pred)
        record = log.write(
            epoch=epoch + 1,
            seconds=seconds,
            samples_per_s=len(ex_train) / seconds,
            val_rmse=val_rmse,
            val_r2=val_r2,
            train_total=total / max(steps, 1),
        )
        if val_rmse < best_rmse:
            best_rmse, stale = val_rmse, 0
            test_pred, _ = _outputs(net, reader, ex_test, held.get("test"), dev.device)
            test_rmse, test_r2 = rmse_r2(ex_test.target, test_pred)
            best_card = {**card_base, "epoch": epoch + 1, "metrics": {**record, "test_rmse": test_rmse, "test_r2": test_r2}}
            save_checkpoint(out / "best", net, best_card)
            best_state = copy.deepcopy(net.state_dict())
        else:
            stale += 1
        save_checkpoint(
            out / "last",
            net,
            {**card_base, "epoch": epoch + 1, "metrics": record},
            optimizer=opt,
            train_state=train_state(_NO_SCALER, epoch=epoch, best_rmse=best_rmse, stale=stale),
        )
        monitor.report({"event": "epoch", **record})
        if progress:
            tqdm.write(json.dumps({k: round(v, 4) if isinstance(v, float) else v for k, v in record.items()}))
        if stale >= cfg.patience:
            stopped_early = True
            break
    if best_state is None:
        raise TrainingDiverged(no_best_message(what, out, "validation RMSE"))
    if spec.gp:
        net.load_state_dict(best_state)
        _fit_and_save_gp(net, reader, held, ds, (ex_train, ex_val, ex_test), best_card, out, dev.device, cfg.seed)
    monitor.report({"event": "end", "checkpoint": str(out / "best"), "stopped_early": stopped_early})
    shutdown(ctx)
    return out / "best"


def _saved_best(folder: Path) -> tuple[dict[str, torch.Tensor] | None, dict[str, Any] | None]:
    """The best network so far and its card, from ``best/`` of an interrupted run; (None, None) without one.

    When the run had finished (cut after its GP or its residual calibration was saved), the network's
    own weights and scores are taken back out: the calibration's ``uncalibrated_metrics`` and the GP's
    ``*_without_gp`` scores, so the GP and the calibration are fitted again on the same network.

    Raises:
        CannotResumeError: the card lacks the scores or epoch it should keep (a damaged card: start anew).
    """
    if not (folder / CARD).exists():
        return None, None
    weights, card = load_checkpoint(folder)[:2]
    try:
        metrics = dict(card["metrics"])
        int(card["epoch"])
        calibration = card.get("calibration")
        if calibration:
            metrics.update(dict(calibration["uncalibrated_metrics"]))
        if card.get("gp"):
            weights = {k.removeprefix("net."): v for k, v in weights.items() if k.startswith("net.")}
            for name in ("val_rmse", "val_r2", "test_rmse", "test_r2"):
                metrics[name] = metrics.pop(f"{name}_without_gp")
    except (KeyError, TypeError, ValueError) as exc:
        raise CannotResumeError(
            f"the card of {str(folder)!r} lacks the network's own scores or epoch ({exc}); the run starts anew "
            "(train it again without resume)"
        ) from exc
    card = {k: v for k, v in card.items() if k != "calibration"}
    return weights, {**card, "gp": None, "metrics": metrics}


def _fit_and_save_gp(
    net: BaselineNet,
    reader: InputReader,
    held: dict[str, torch.Tensor],
    ds: YieldDataset,
    examples: tuple[Examples, Examples, Examples],
    card: dict[str, Any],
    out: Path,
    device: torch.device,
    seed: int,
) -> None:
    """Fit the GP on the training examples' last hidden layer; save network + GP as ``best/`` with both scores.

    At most :data:`GP_MAX_EXAMPLES` training examples (a subsample seeded by ``seed`` beyond that).
    """
    ex_train, ex_val, ex_test = examples
    n_train = len(ex_train)
    if n_train > GP_MAX_EXAMPLES:
        keep = np.sort(np.random.default_rng([seed, 0x6770]).choice(n_train, GP_MAX_EXAMPLES, replace=False))
        warnings.warn(
            f"the GP is fitted on {GP_MAX_EXAMPLES:,} of the {n_train:,} training examples (a seeded subsample): "
            "its kernel matrix grows with the square of their number",
            stacklevel=2,
        )
        ex_train = Examples(ex_train.county[keep], ex_train.year[keep], ex_train.target[keep])
        held = {**held, "train": held["train"][torch.from_numpy(keep)]} if held.get("train") is not None else held
    _, h_train = _outputs(net, reader, ex_train, held.get("train"), device)
    gp = fit_gaussian_process(
        h_train,
        ex_train.target.astype(np.float64),
        county_locations_km(ds, ex_train.county),
        np.asarray(ds.years)[ex_train.year],
        net.head_in_yield_units().cpu().numpy(),
        GPParams(),
    )
    scores = {}
    for name, ex in (("val", ex_val), ("test", ex_test)):
        _, h = _outputs(net, reader, ex, held.get(name), device)
        pred = gp.predict(h, county_locations_km(ds, ex.county), np.asarray(ds.years)[ex.year])
        scores[name] = rmse_r2(ex.target, pred)
    metrics = dict(card["metrics"])
    metrics.update(
        val_rmse_without_gp=metrics["val_rmse"],
        val_r2_without_gp=metrics["val_r2"],
        test_rmse_without_gp=metrics["test_rmse"],
        test_r2_without_gp=metrics["test_r2"],
        val_rmse=scores["val"][0],
        val_r2=scores["val"][1],
        test_rmse=scores["test"][0],
        test_r2=scores["test"][1],
    )
    entry = {**gp_card(gp), "training_examples": n_train}  # n_train (fitted on) < training_examples: subsampled
    save_checkpoint(out / "best", _WithGP(net.cpu(), gp), {**card, "gp": entry, "metrics": metrics})


class NetworkPredictor:
    """A loaded neural-baseline checkpoint that predicts a year of a dataset (the registry's predictor)."""

    def __init__(self, net: BaselineNet, gp: GaussianProcessLayer | None, card: dict[str, Any]) -> None:
        self.net, self.gp, self.card = net.eval(), gp, card

    def predict(self, ds: YieldDataset, year: int, mask_group: str | None = None) -> YieldPredictions:
        """Predictions for the labelled counties of ``year``; ``mask_group``'s standardised inputs set to 0.

        Raises:
            InputError: ``year`` not in the dataset, or an unknown ``mask_group``.
        """
        year = dataset_year(ds, year)
        norm, inputs = self.card["normalisation"], self.card["inputs"]
        source = YieldTileSource(ds, None, bands=tuple(norm["bands"]), stats=(norm["mean"], norm["std"]), years=[year])
        reader = InputReader(inputs["kind"], source, inputs.get("histogram_edges"))
        ex = source.examples([year])
        pred, h = _outputs(self.net, reader, ex, None, torch.device("cpu"), mask_group)
        if self.gp is not None and len(ex):
            pred = self.gp.predict(h, county_locations_km(ds, ex.county), np.full(len(ex), year, dtype=np.float64))
        return YieldPredictions(ex.county, year, ex.target.astype(np.float64), pred)


def load_network(folder: str | Path, ds: YieldDataset | None = None) -> NetworkPredictor:
    """The predictor of a neural-baseline checkpoint; with ``ds``, the card must match its data.

    Raises:
        DataFileError: the card or the weights are invalid or do not fit each other.
        InputError: not a neural baseline, trained on other data, or an argument of the wrong type.
    """
    check_checkpoint_arg(folder)
    weights, card, _ = load_checkpoint(folder)
    spec = NETWORKS.get(card.get("model"))
    if card.get("kind") != "yield-baseline" or spec is None:
        raise InputError(f"checkpoint {str(folder)!r} is not a neural baseline ({sorted(NETWORKS)}); load it through model_kinds")
    if ds is not None:
        check_dataset_arg(ds)
        verify_dataset(ds)
        check_card(card["dataset"], fingerprint=ds.fingerprint, tile_px=ds.tile_px)
    where = str(Path(folder) / "card.json")
    try:
        net = spec.model(spec.config.from_dict(card["model_config"]))
        inputs = card.get("inputs")
        if not isinstance(inputs, dict) or inputs.get("kind") != spec.inputs:
            raise InputError(f"'inputs' must name the input kind {spec.inputs!r}, got {inputs!r}")
        gp_entry = card.get("gp")
        gp = None
        if gp_entry is not None:
            gp = GaussianProcessLayer(gp_entry["n_train"], gp_entry["n_features"], GPParams(**gp_entry["params"]))
    except (InputError, KeyError, TypeError) as exc:
        raise DataFileError(f"checkpoint card {where!r}: {exc}; the card was edited or is damaged: train it again") from exc
    module: nn.Module = net if gp is None else _WithGP(net, gp)
    check_weights_fit(module, weights, folder)
    module.load_state_dict(weights)
    return NetworkPredictor(net, gp, card)
