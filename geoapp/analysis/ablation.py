"""What-if feature ablation at inference: mask one feature group and measure the change in error.

Masking replaces the group by the training mean; the change in predictions and in their error is
measured for every county of a year.

Groups are the paper's (Section IV-G): VI = ndvi + evi, LST = lst_day + lst_night, PPT, SOIL =
sand + silt + clay, ELE = elevation. Unlike the paper's Figure 7 (retrain without the group), this
needs no retraining: it asks what the trained model relies on. :func:`retrain_ablation` gives the
Figure 7 view when checkpoints retrained without a group exist (``train yield --exclude-group G``):
it asks how much the group is worth when the model may learn to do without it.

How the deep models are run (:func:`masked_predictions`): the anchor tiles of the year are read once,
and every variant (nothing masked, then each group masked) goes through one batched pass: a chunk of
counties is repeated once per variant, masked, and its months embedded by the CNN in one call. What
masking cannot change is not recomputed: the tiles, the model's inference copy (BatchNorm folded).
The CNN itself must run for every variant: its first convolution mixes all bands of a month, so
masking any group changes every month's features. On a CPU the chunks are spread over one worker
per core, each with one intra-op thread (small convolutions on 16 px tiles parallelise poorly
inside an operator); on a GPU the chunks run in turn. The predictions equal the per-group path
(:func:`per_group_predictions`, one :func:`~geoapp.training.yield_trainer.predict_examples` call per
variant) to float32 rounding.

A year the dataset does not hold or without labelled counties is an
:class:`~geoapp.errors.InputError`; a score that is not finite an
:class:`~geoapp.training.results.InvalidResultError`.
"""

from __future__ import annotations

import contextlib
import json
import threading
import warnings
from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from geoapp.analysis.result_cache import cached
from geoapp.data.args import given
from geoapp.data.bands import FEATURE_GROUPS, group_bands
from geoapp.data.dataset import YieldDataset
from geoapp.errors import InputError
from geoapp.models.yield_models import YieldModel
from geoapp.training.calibration import from_card as calibration_from_card
from geoapp.training.calibration import shift as calibration_shift
from geoapp.training.checkpoint import ENSEMBLE_CARD_KIND, read_card
from geoapp.training.device import resolve_device
from geoapp.training.model_kinds import (
    MODEL_KINDS,
    YIELD_CARD_KINDS,
    kind_of_card,
    load_yield_checkpoint,
    predict_yields,
)
from geoapp.training.results import InvalidResultError
from geoapp.training.trend import from_card as trend_from_card
from geoapp.training.yield_config import MODEL_OVERRIDE_KEYS, YieldTrainConfig
from geoapp.training.yield_data import Examples, YieldTileSource, dataset_year
from geoapp.training.yield_trainer import (
    check_checkpoint_arg,
    check_dataset_arg,
    load_yield_model,
    predict_examples,
    rmse_r2,
)

__all__ = ["what_if_ablation", "retrain_ablation", "masked_predictions", "per_group_predictions", "ABLATION_VERSION"]

ABLATION_VERSION = "2"
"""Version of the kept ablation results (:mod:`geoapp.analysis.result_cache`): bump it when they are computed otherwise.

1 lasted through the batched pass (its tables equal the per-group ones to float32 rounding, about
1e-5 bu/acre); 2 since every kind other than the attention models goes through the registry's
prediction entry point.
"""


def what_if_ablation(folder: str | Path, ds: YieldDataset, year: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Per group, RMSE with the group masked and its change; per county, the change in prediction and error.

    Per county: the change in prediction and in absolute error (bu/acre) for every group.

    Masking replaces the group by its training mean. For the deep models that is 0 after
    standardisation: the mean of each month and band over the whole grid in the training years (a
    flat tile). For ridge it is the mean of the feature (a month's tile mean) over the training
    examples. The other baselines (any kind the registry says can mask a group,
    :mod:`geoapp.training.model_kinds`) set the group's standardised inputs to 0 as well. A
    checkpoint retrained without a group (Figure 7) has no such group to mask: it is left out of both
    tables.

    Returns:
        (summary with columns group, rmse, delta_rmse, r2; per-county table with geoid, true,
        predicted, and ``<group>_change`` / ``<group>_abs_error_change`` columns).

    Computed once per (checkpoint, dataset, year) and kept on disk (:mod:`geoapp.analysis.result_cache`).
    """
    check_checkpoint_arg(folder)
    check_dataset_arg(ds)
    card = read_card(folder)
    year = dataset_year(ds, year)
    if ds.labelled(year).empty:
        raise InputError(f"no labelled counties in {year} in dataset {ds.name!r}: there is nothing to measure the ablation on")

    kind = kind_of_card(card, folder)
    if not kind.supports_ablation:
        raise InputError(f"checkpoint {str(folder)!r} is a {kind.name} model, which cannot mask a feature group at inference")

    def compute() -> dict:
        if kind.inputs in ("tiles", "tiles+context") and kind.has_attention:
            summary, per_county = _deep_ablation(folder, ds, year)
        elif kind.card_kind == ENSEMBLE_CARD_KIND and MODEL_KINDS[kind.name].has_attention:
            summary, per_county = _ensemble_ablation(folder, ds, year)
        else:
            summary, per_county = _registry_ablation(folder, ds, year)
        return {"summary": summary, "per_county": per_county}

    parts = cached("ablation", folder, ds, year, compute, version=ABLATION_VERSION)
    return parts["summary"], parts["per_county"]


def _deep_ablation(folder: str | Path, ds: YieldDataset, year: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    county, target, base, masked = _deep_variants(folder, ds, year)
    return _tables(ds, county, target, base, masked, year)


def _deep_variants(
    folder: str | Path, ds: YieldDataset, year: int, calibrated: bool = True
) -> tuple[np.ndarray, np.ndarray, np.ndarray, dict[str, np.ndarray]]:
    """(county rows, true yields, predictions, {group: predictions with it masked}) of an attention checkpoint, bu/acre.

    Every variant in one batched pass; the card's yield trend is added back, and its residual
    calibration too unless ``calibrated`` is False.
    """
    model, card = load_yield_model(folder, ds)
    source, ex = _year_examples(card, ds, year)
    masks = _group_channels(source)
    base, masked = masked_predictions(model, source.anchor_tiles(ex), masks, county=ex.county)
    where = str(Path(folder) / "card.json")
    trend = trend_from_card(card, where)
    if trend is not None:  # a model trained on detrended yields: its predictions get the year's trend back
        shift = np.float32(trend.at(year))
        base, masked = base + shift, {g: p + shift for g, p in masked.items()}
    calibration = calibration_from_card(card, where) if calibrated else None
    if calibration is not None:  # a calibrated checkpoint: the residual trend and county offsets are added
        shift = calibration_shift(calibration, ds, ex.county, year).astype(np.float32)
        base, masked = base + shift, {g: p + shift for g, p in masked.items()}
    return ex.county, ex.target, base, masked


def _ensemble_ablation(folder: str | Path, ds: YieldDataset, year: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """An ensemble of attention checkpoints: each member's batched pass, averaged, then the ensemble's calibration.

    The members are checked against their hashes first (by loading the ensemble); each predicts
    without its own calibration, as the ensemble does (:mod:`geoapp.training.ensemble`).
    """
    load_yield_checkpoint(folder, ds)  # refuses a damaged or swapped member
    card = read_card(folder)
    parts = [_deep_variants(Path(folder) / m["path"], ds, year, calibrated=False) for m in card["members"]]
    county, target = parts[0][0], parts[0][1]
    if any(not np.array_equal(p[0], county) for p in parts):
        raise InputError(f"the ensemble's checkpoints predict different counties for {year}")
    base = np.mean([p[2] for p in parts], axis=0)
    masked = {g: np.mean([p[3][g] for p in parts], axis=0) for g in parts[0][3]}
    # the ensemble's own calibration (zeros without one)
    shift = calibration_shift(calibration_from_card(card, str(Path(folder) / "card.json")), ds, county, year).astype(np.float32)
    return _tables(ds, county, target, base + shift, {g: p + shift for g, p in masked.items()}, year)


def _year_examples(card: dict, ds: YieldDataset, year: int) -> tuple[YieldTileSource, Examples]:
    """The tile source of ``year`` standardised with the checkpoint's statistics, and the year's labelled examples."""
    norm = card["normalisation"]
    source = YieldTileSource(ds, None, bands=tuple(norm["bands"]), stats=(norm["mean"], norm["std"]), years=[year])
    return source, source.examples([year])


def _group_channels(source: YieldTileSource) -> dict[str, list[int]]:
    """Channels of each feature group in the source's band order; a group it was trained without is left out."""
    out = {}
    for group in FEATURE_GROUPS:
        channels = [source.bands.index(b) for b in group_bands(group) if b in source.bands]
        if channels:
            out[group] = channels
    return out


_THREADS_LOCK = threading.Lock()


@contextlib.contextmanager
def _one_intra_op_thread() -> Iterator[int]:
    """Within the block torch runs each operator on one thread; yields the thread count it had (the workers to use)."""
    with _THREADS_LOCK:  # the setting is process-wide: one batched pass at a time changes it
        threads = torch.get_num_threads()
        torch.set_num_threads(1)
        try:
            yield threads
        finally:
            torch.set_num_threads(threads)


def masked_predictions(
    model: YieldModel,
    tiles: torch.Tensor,
    masks: Mapping[str, Sequence[int]],
    device: torch.device | None = None,
    counties_per_chunk: int | None = None,
    county: np.ndarray | torch.Tensor | None = None,
) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Predictions with nothing masked and with each group masked, every variant in one batched pass.

    Args:
        model: a trained :class:`~geoapp.models.yield_models.YieldModel` (left unchanged; an inference
            copy with BatchNorm folded runs).
        tiles: (N, T, C, H, W) standardised anchor tiles, float32 (a group's training mean is 0).
        masks: group name -> channel indices (into C) that masking sets to 0.
        device: where to run (default: CUDA when present, else the CPU).
        counties_per_chunk: counties per CNN call, each repeated once per variant (default: 8 on
            the CPU, 512 on a GPU).
        county: (N,) int rows of ``ds.counties`` of the tiles' counties: needed by a model with
            location (``semi-ha-loc``), whose variants repeat each county's row; ignored otherwise.

    Returns:
        (base (N,), {group: (N,)}) predicted yields in bu/acre, float32.

    Raises:
        InputError: ``tiles`` not a 5-D float tensor of the model's months and bands, non-finite tiles,
            a channel index outside 0..C-1, or a model with location without ``county`` (one row per tile).
    """
    if not isinstance(model, YieldModel):
        raise InputError(f"model must be a YieldModel (e.g. from load_yield_model); got {type(model).__name__}")
    if not isinstance(tiles, torch.Tensor) or tiles.dim() != 5 or not tiles.is_floating_point():
        raise InputError(f"tiles must be a float tensor (N, T, C, H, W); got {getattr(tiles, 'shape', type(tiles).__name__)}")
    cfg = model.config
    if tiles.shape[1] != cfg.n_steps or tiles.shape[2] != cfg.in_channels:
        raise InputError(
            f"tiles must be (N, {cfg.n_steps}, {cfg.in_channels}, H, W): the model's months and bands; got {tuple(tiles.shape)}"
        )
    if not torch.isfinite(tiles).all():
        raise InputError(
            "tiles hold non-finite values; missing pixels must be filled (YieldTileSource fills them with the training mean)"
        )
    n_channels = tiles.shape[2]
    for group, channels in masks.items():
        if not channels or any(not 0 <= int(c) < n_channels for c in channels):
            raise InputError(f"group {group!r}: channels {list(channels)!r} are not indices of the {n_channels} bands")
    rows = _county_rows(model, county, len(tiles))
    device = resolve_device("auto").device if device is None else device
    cpu = device.type == "cpu"
    chunk = counties_per_chunk or (8 if cpu else 512)
    variants: list[list[int]] = [[]] + [[int(c) for c in ch] for ch in masks.values()]
    out = np.empty((len(variants), len(tiles)), dtype=np.float32)
    if cpu:
        net = _inference_graph(model, tiles[:1], None if rows is None else rows[:1])
    else:
        net = model.for_inference().to(device, memory_format=torch.channels_last)

    def run(start: int) -> None:
        with torch.inference_mode():  # per thread: inference mode is thread-local
            x = tiles[start : start + chunk].to(device, non_blocking=True)
            k = len(x)
            batch = x.unsqueeze(0).repeat(len(variants), 1, 1, 1, 1, 1)  # (V, k, T, C, H, W)
            for v, channels in enumerate(variants):
                if channels:
                    batch[v, :, :, channels] = 0.0
            inputs = [batch.flatten(0, 1)]
            if rows is not None:  # every variant of a county keeps its county row: (V * k,) in the same order
                inputs.append(rows[start : start + k].to(device).repeat(len(variants)))
            out[:, start : start + k] = net(*inputs).view(len(variants), k).float().cpu().numpy()

    starts = range(0, len(tiles), chunk)
    if cpu:
        with _one_intra_op_thread() as workers:
            if workers > 1:
                with ThreadPoolExecutor(workers) as pool:
                    list(pool.map(run, starts))
            else:
                for start in starts:
                    run(start)
    else:
        for start in starts:
            run(start)
    return out[0], {group: out[i + 1] for i, group in enumerate(masks)}


def _county_rows(model: YieldModel, county: np.ndarray | torch.Tensor | None, n: int) -> torch.Tensor | None:
    """The (n,) int64 county rows a model with location needs; None for the other models (``county`` ignored).

    Raises:
        InputError: a model with location and no ``county``, not one whole-number row per tile, or a
            row outside the model's county table.
    """
    if not model.config.use_location:
        return None
    if county is None:
        raise InputError("this model (semi-ha-loc) needs county: the (N,) rows of ds.counties of the tiles' counties")
    rows = torch.as_tensor(np.array(county))  # a copy: the caller's array may be read-only
    if rows.dim() != 1 or len(rows) != n or rows.is_floating_point() or rows.dtype == torch.bool:
        raise InputError(f"county must be (N={n},) whole-number rows of ds.counties, one per tile; got {tuple(rows.shape)}")
    most = model.config.location_rows - 1
    if n and (int(rows.min()) < 0 or int(rows.max()) > most):
        got = f"{int(rows.min())}..{int(rows.max())}"
        raise InputError(f"county rows must lie in 0..{most} (the model's county table); got {got}")
    return rows.to(torch.int64)


def _inference_graph(model: YieldModel, example: torch.Tensor, county: torch.Tensor | None = None) -> torch.nn.Module:
    """The model's inference copy (BatchNorm folded) traced and frozen by TorchScript, for the CPU.

    Freezing inlines the weights and lets oneDNN fuse each convolution with its bias, addition and
    ReLU: about 1.5x faster than the eager copy on this project's 2-core CPU for the demo model
    (``python -m geoapp bench ablation`` prints the batched pass), with the same predictions (the
    tests compare it with the eager per-group path). ``example`` (1, T, C, H, W) only fixes the
    graph: batch sizes may differ. For a model with location the graph takes ``(tiles, county)``
    and ``county`` (1,) int64 is the example row (``None`` for the other models: the graph takes the
    tiles alone). The model's own input checks are Python branches a trace cannot keep;
    :func:`masked_predictions` checks its tiles and county rows before they get here.

    TorchScript is deprecated in favour of ``torch.compile``, which compiles C++ at run time: 25 s
    for this model here, far beyond a what-if budget of 1 s. The deprecation warning is silenced.
    """
    net = model.for_inference()
    with torch.inference_mode(), warnings.catch_warnings():
        warnings.simplefilter("ignore", torch.jit.TracerWarning)  # the input checks, see above
        warnings.simplefilter("ignore", DeprecationWarning)  # TorchScript's, see above
        inputs = example.float() if county is None else (example.float(), county.to(torch.int64))
        return torch.jit.freeze(torch.jit.trace(net, inputs, check_trace=False))


def per_group_predictions(
    model: YieldModel, source: YieldTileSource, ex: Examples, groups: Sequence[str], device: torch.device | None = None
) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """The same predictions as :func:`masked_predictions`, one :func:`predict_examples` pass per variant.

    The reference the batched pass is checked against (tests, ``python -m geoapp bench ablation``):
    each variant reads the tiles again and runs in batches of 128 on the default threads.

    Returns:
        (base (N,), {group: (N,)}) predicted yields in bu/acre.
    """
    device = torch.device("cpu") if device is None else device
    base = predict_examples(model, source, ex, device)
    return base, {g: predict_examples(model, source, ex, device, mask_group=g) for g in groups}


def _registry_ablation(folder: str | Path, ds: YieldDataset, year: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Any other kind, one prediction per variant through the registry (:func:`predict_yields`).

    The baselines read averaged features or histograms: a pass is a fraction of a second, so the
    variants run one after the other.
    """
    predictor = load_yield_checkpoint(folder, ds)
    excluded = (predictor.card.get("train_config") or {}).get("exclude_group")
    base = predict_yields(predictor, ds, year)
    masked = {g: predict_yields(predictor, ds, year, mask_group=g).predicted for g in FEATURE_GROUPS if g != excluded}
    return _tables(ds, base.county, base.target, base.predicted, masked, year)


def _tables(ds: YieldDataset, county: np.ndarray, target: np.ndarray, base: np.ndarray, masked: dict[str, np.ndarray], year: int):
    base_rmse, base_r2 = rmse_r2(target, base)
    if not np.isfinite(base_rmse):
        raise InvalidResultError(
            f"predictions for {year} are not finite numbers (RMSE {base_rmse}): the checkpoint cannot be used; train it again"
        )
    rows = [{"group": "none (all inputs)", "rmse": base_rmse, "delta_rmse": 0.0, "r2": base_r2}]
    per_county = pd.DataFrame({"geoid": ds.counties["geoid"].to_numpy()[county], "year": year, "true": target, "predicted": base})
    for group, pred in masked.items():
        rmse, r2 = rmse_r2(target, pred)
        rows.append({"group": group, "rmse": rmse, "delta_rmse": rmse - base_rmse, "r2": r2})
        per_county[f"{group}_change"] = pred - base
        per_county[f"{group}_abs_error_change"] = np.abs(pred - target) - np.abs(base - target)
    return pd.DataFrame(rows), per_county


_HOW_RUN = ("device", "loader_workers", "compile", "precision", "exclude_group")
"""Training settings that say how a run was executed (or which group it left out), not what it learned."""


def _setting(card: dict) -> str:
    """What a yield run learned with, as JSON: model, years, training settings but :data:`_HOW_RUN`, model settings.

    Two runs with the same setting differ only in how they ran and in the group left out, so their test
    RMSEs can be compared as the paper's Figure 7 does. The training settings are the card's over the
    trainer's defaults (an older card lacks settings added since, e.g. ``trend``; None reads as the
    default); the loss weights and other model settings are the ones the model was built with (the
    card's ``model_config``), so ``model_overrides`` of ``{}`` and of the default weights written out
    (the Training page's) are the same setting.
    """
    defaults = asdict(YieldTrainConfig())
    given = {k: v for k, v in (card.get("train_config") or {}).items() if v is not None}
    cfg = {**defaults, **given}
    model_config = card.get("model_config") if isinstance(card.get("model_config"), dict) else {}
    cfg["model_overrides"] = {k: model_config[k] for k in MODEL_OVERRIDE_KEYS if k in model_config}
    kept = {k: v for k, v in cfg.items() if k not in _HOW_RUN}
    return json.dumps({"model": card.get("model"), "years": card.get("years"), "train_config": kept}, sort_keys=True, default=str)


def retrain_ablation(folder: str | Path, ds: YieldDataset, roots: Sequence[str | Path] = ()) -> pd.DataFrame | None:
    """The paper's Figure 7 for a checkpoint: test RMSE of the runs retrained without each group.

    Looks for crop-yield checkpoints on ``ds`` (under the checkpoint folder and under each of
    ``roots``, e.g. the experiment runs' folder) of the same model and years whose training config
    excluded one feature group, and compares their test RMSE with that of the run trained the same way
    on all groups. That run is ``folder`` itself when runs were retrained with its setting; otherwise,
    when ``folder`` was trained otherwise (more epochs, another seed), the all-inputs run of the setting
    with the most retrained groups (an experiment plan's), so that the bars never set runs trained
    differently against each other. The table's first row names the run compared with.

    Returns:
        None when this is not a deep model trained on all groups, or no comparable run exists; otherwise a
        table with columns group, rmse, delta_rmse, r2, checkpoint (the all-inputs run first, as
        ``none (all inputs)``).
    """
    from geoapp.analysis.yield_predictions import predictions_for_year, yield_checkpoints

    def test_scores(run: str | Path, ds: YieldDataset) -> dict:  # RMSE and R^2 on its test year, from the kept predictions
        return predictions_for_year(run, ds, int(read_card(run)["years"]["test"]))[1]

    check_checkpoint_arg(folder)
    check_dataset_arg(ds)
    if isinstance(roots, (str, bytes, Path)) or not all(isinstance(r, (str, Path)) for r in roots):
        raise InputError(f"roots must be a list of folders, got {given(roots)}")
    card = read_card(folder)
    train_cfg = card.get("train_config") or {}
    if card.get("kind") not in YIELD_CARD_KINDS or train_cfg.get("exclude_group"):
        return None
    found = yield_checkpoints(ds) + [c for root in roots for c in yield_checkpoints(ds, root)]
    settings: dict[str, dict[str | None, Path]] = {}
    for other, other_card in found:
        if other_card.get("model") == card["model"] and other_card.get("years") == card.get("years"):
            group = (other_card.get("train_config") or {}).get("exclude_group") or None
            settings.setdefault(_setting(other_card), {}).setdefault(group, other)
    mine = _setting(card)
    runs = dict(settings.get(mine, {}))
    base: str | Path = folder
    if not any(g is not None for g in runs):  # nothing retrained the way this checkpoint was: another setting's runs
        usable = [r for r in settings.values() if None in r and any(g is not None for g in r)]
        if not usable:
            return None
        runs = max(usable, key=lambda r: sum(g is not None for g in r))
        base = runs[None]
    scores = test_scores(base, ds)
    rows = [
        {"group": "none (all inputs)", "rmse": scores["rmse"], "delta_rmse": 0.0, "r2": scores["r2"], "checkpoint": str(base)}
    ]
    for group in [g for g in FEATURE_GROUPS if g in runs]:
        result = test_scores(runs[group], ds)
        rows.append(
            {
                "group": group,
                "rmse": result["rmse"],
                "delta_rmse": result["rmse"] - scores["rmse"],
                "r2": result["r2"],
                "checkpoint": str(runs[group]),
            }
        )
    return pd.DataFrame(rows)
