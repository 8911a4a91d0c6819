"""The registry of crop-yield model kinds: every model the app trains, with the same operations for each.

A :class:`ModelKind` says what a model name is (family, the paper's section, which inputs it reads,
whether it has attention to show and whether a feature group can be masked at inference) and holds
its operations: ``train`` (in a checked run folder, on the nested years) and ``load`` (a checkpoint
folder -> a :class:`Predictor`). Consumers (the trainer, evaluation, the app, the benchmark, the
CLI) ask the registry; none tests a model's name.

===========  =========  ===========================================  ==============  ==============
name         family     what it is                                   inputs          section
===========  =========  ===========================================  ==============  ==============
semi-ha      attention  CNN per month + hybrid attention, Eq. 2      tiles+context   III, IV-C
semi-ha-loc  attention  SEMI-HA + frozen county location embedding  tiles+context   (beyond)
s-ha         attention  SEMI-HA trained on L_S only                  tiles           IV-C
semi-sa      attention  SEMI-HA without the global query G           tiles+context   IV-C
ridge        baseline   LR: ridge regression                         averaged        IV-B
rf           baseline   random forest                                averaged        IV-B
mlp          baseline   multi-layer perceptron                       averaged        IV-B
lstm-gp      baseline   LSTM + Gaussian process (You et al. 2017)    histograms      IV-B
cnn-gp       baseline   CNN + Gaussian process (You et al. 2017)     histograms      IV-B
c3d          baseline   3-D CNN over (month, y, x)                   tiles           IV-B
cnn-lstm     baseline   the SEMI-HA CNN per month, then an LSTM      tiles           IV-B
===========  =========  ===========================================  ==============  ==============

Inputs: ``averaged``, the anchor tile's mean of every band and month (T x C features); ``histograms``,
per-band histograms of the anchor tile's pixels each month (:mod:`geoapp.training.yield_inputs`);
``tiles``, the standardised anchor tiles (T, C, t, t); ``tiles+context``, with the quadruplet's
context tiles in training. ``semi-ha-loc`` also reads each example's county row (its embedding is
in the checkpoint), so it predicts from the same inputs as ``semi-ha``.

An **ensemble checkpoint** (card kind ``crop-yield-ensemble``, :mod:`geoapp.training.ensemble`) holds
several checkpoints of one model and predicts the mean of theirs; :func:`kind_of_card` gives it its
members' kind without attention, training or resume (:func:`ensemble_kind`), so every consumer
lists, predicts with and ablates it like one model.

The one prediction entry point for any kind (e.g. the what-if ablation) is :func:`predict_yields`;
it masks a feature group by setting its standardised inputs to 0, the training mean.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Protocol

from geoapp.data.args import given
from geoapp.data.dataset import YieldDataset
from geoapp.errors import InputError
from geoapp.models.yield_models import MODEL_NAMES
from geoapp.training.attention_trainer import load_attention, train_attention
from geoapp.training.calibration import calibrate_predictor
from geoapp.training.checkpoint import ENSEMBLE_CARD_KIND, read_card
from geoapp.training.ensemble import load_ensemble_checkpoint
from geoapp.training.forest_trainer import load_forest, train_forest
from geoapp.training.monitor import TrainingMonitor
from geoapp.training.network_trainer import load_network, train_network
from geoapp.training.ridge_trainer import fit_ridge_run, load_ridge_predictor
from geoapp.training.trend import TrendedPredictor
from geoapp.training.trend import from_card as trend_from_card
from geoapp.training.yield_config import YieldTrainConfig, check_checkpoint_arg
from geoapp.training.yield_data import check_dataset_arg, dataset_year
from geoapp.training.yield_runs import YieldPredictions

__all__ = [
    "ModelKind",
    "Predictor",
    "MODEL_KINDS",
    "INPUTS",
    "FAMILIES",
    "YIELD_CARD_KINDS",
    "STANDARDISED_CARD_KINDS",
    "model_kind",
    "kind_of_card",
    "ensemble_kind",
    "model_text",
    "load_yield_checkpoint",
    "predict_yields",
    "kind_names",
]

INPUTS = ("averaged", "histograms", "tiles", "tiles+context")
"""What a kind reads (see the module docstring)."""

FAMILIES = ("attention", "baseline")
"""The paper's attention models, and its baselines (Section IV-B)."""


class Predictor(Protocol):
    """A loaded checkpoint of any kind."""

    card: dict[str, Any]

    def predict(self, ds: YieldDataset, year: int, mask_group: str | None = None) -> YieldPredictions:
        """Predicted yields of the labelled counties of ``year``; ``mask_group``'s standardised inputs set to 0."""


TrainFn = Callable[..., Path]
"""``train(cfg, ds, out, years, *, resume, progress, monitor) -> out/best`` in a checked run folder."""
LoadFn = Callable[[str | Path, YieldDataset | None], Predictor]
"""``load(folder, ds or None) -> Predictor``; with ``ds`` the card must match its data."""


@dataclass(frozen=True)
class ModelKind:
    """One model kind and its operations.

    Attributes:
        name: the model name (``YieldTrainConfig.model``, the card's ``model``).
        family: ``attention`` or ``baseline``.
        description: one line for lists and help.
        section: where the paper defines it.
        inputs: one of :data:`INPUTS`.
        card_kind: the card's ``kind`` (``crop-yield``, ``ridge`` or ``yield-baseline``).
        has_attention: attention weights to show (the Attention page).
        supports_ablation: a feature group can be masked at inference (``Predictor.predict(mask_group=...)``).
        resumable: a run writes ``last/`` each epoch and can be resumed (the attention models and the
            neural baselines); ridge and RF fit in one go (seconds to minutes) and a resume is refused
            (a job's retry starts them over).
        data_parallel: trains under torchrun with several workers (DistributedDataParallel).
        train: see :data:`TrainFn`.
        load: see :data:`LoadFn`.
    """

    name: str
    family: str
    description: str
    section: str
    inputs: str
    card_kind: str
    has_attention: bool
    supports_ablation: bool
    resumable: bool
    data_parallel: bool
    train: TrainFn
    load: LoadFn


def _train_ridge(
    cfg: YieldTrainConfig,
    ds: YieldDataset,
    out: Path,
    years: tuple[list[int], int, int],
    *,
    resume: bool = False,
    progress: bool = True,
    monitor: TrainingMonitor | None = None,
) -> Path:
    return fit_ridge_run(cfg, ds, out, years, monitor)


def _train_attention(
    cfg: YieldTrainConfig,
    ds: YieldDataset,
    out: Path,
    years: tuple[list[int], int, int],
    *,
    resume: bool = False,
    progress: bool = True,
    monitor: TrainingMonitor | None = None,
) -> Path:
    return train_attention(cfg, ds, out, resume, progress, monitor or TrainingMonitor(), years)


def _kind(name: str, family: str, description: str, section: str, inputs: str, card_kind: str, **ops: Any) -> ModelKind:
    attention = family == "attention"
    return ModelKind(
        name=name,
        family=family,
        description=description,
        section=section,
        inputs=inputs,
        card_kind=card_kind,
        has_attention=attention,
        supports_ablation=True,
        resumable=attention or ops["train"] is train_network,
        data_parallel=attention,
        **ops,
    )


_ATTENTION = {"train": _train_attention, "load": load_attention}
_NETWORK = {"train": train_network, "load": load_network}
_KINDS: tuple[ModelKind, ...] = (
    _kind(
        "semi-ha",
        "attention",
        "semi-supervised hybrid attention (the paper's SEMI-HA)",
        "III, IV-C",
        "tiles+context",
        "crop-yield",
        **_ATTENTION,
    ),
    _kind(
        "semi-ha-loc",
        "attention",
        "SEMI-HA with the location encoder's embedding of the county's anchor centre (frozen, beyond the paper)",
        "beyond the paper",
        "tiles+context",
        "crop-yield",
        **_ATTENTION,
    ),
    _kind(
        "s-ha",
        "attention",
        "supervised-only hybrid attention (S-HA): no context tiles, no unsupervised loss",
        "IV-C",
        "tiles",
        "crop-yield",
        **_ATTENTION,
    ),
    _kind(
        "semi-sa",
        "attention",
        "semi-supervised self-attention (SEMI-SA): SEMI-HA without the global query G",
        "IV-C",
        "tiles+context",
        "crop-yield",
        **_ATTENTION,
    ),
    _kind(
        "ridge",
        "baseline",
        "LR: ridge regression on spatially averaged monthly features",
        "IV-B",
        "averaged",
        "ridge",
        train=_train_ridge,
        load=load_ridge_predictor,
    ),
    _kind(
        "rf",
        "baseline",
        "random forest on spatially averaged monthly features",
        "IV-B",
        "averaged",
        "yield-baseline",
        train=train_forest,
        load=load_forest,
    ),
    _kind(
        "mlp",
        "baseline",
        "multi-layer perceptron on spatially averaged monthly features",
        "IV-B",
        "averaged",
        "yield-baseline",
        **_NETWORK,
    ),
    _kind(
        "lstm-gp",
        "baseline",
        "LSTM on per-band histograms + Gaussian process (You et al. 2017)",
        "IV-B",
        "histograms",
        "yield-baseline",
        **_NETWORK,
    ),
    _kind(
        "cnn-gp",
        "baseline",
        "CNN on per-band histograms + Gaussian process (You et al. 2017)",
        "IV-B",
        "histograms",
        "yield-baseline",
        **_NETWORK,
    ),
    _kind("c3d", "baseline", "3-D CNN over the months and the tile's pixels", "IV-B", "tiles", "yield-baseline", **_NETWORK),
    _kind(
        "cnn-lstm",
        "baseline",
        "SEMI-HA's CNN on each month, then an LSTM over the months",
        "IV-B",
        "tiles",
        "yield-baseline",
        **_NETWORK,
    ),
)

MODEL_KINDS: dict[str, ModelKind] = {k.name: k for k in _KINDS}
"""Every model kind, by name, in :data:`~geoapp.models.yield_models.MODEL_NAMES` order."""

YIELD_CARD_KINDS: tuple[str, ...] = (*dict.fromkeys(k.card_kind for k in _KINDS), ENSEMBLE_CARD_KIND)
"""The card ``kind`` values of crop-yield checkpoints (an ensemble of them included)."""

STANDARDISED_CARD_KINDS: tuple[str, ...] = ("crop-yield", "yield-baseline")
"""Card kinds whose models read standardised inputs: their cards hold ``model_config`` and ``normalisation``."""


def model_kind(name: object) -> ModelKind:
    """The kind of a model name.

    Raises:
        InputError: an unknown name (naming the known ones).
    """
    if not isinstance(name, str) or name not in MODEL_KINDS:
        raise InputError(f"unknown yield model {given(name)}; expected one of {list(MODEL_KINDS)}")
    return MODEL_KINDS[name]


def kind_names(family: str | None = None, *, attention: bool | None = None, ablation: bool | None = None) -> tuple[str, ...]:
    """Model names (registry order), optionally only a family's, those with(out) attention or ablation."""
    if family is not None and family not in FAMILIES:
        raise InputError(f"unknown model family {given(family)}; expected one of {list(FAMILIES)}")
    return tuple(
        k.name
        for k in _KINDS
        if (family is None or k.family == family)
        and (attention is None or k.has_attention == attention)
        and (ablation is None or k.supports_ablation == ablation)
    )


def kind_of_card(card: object, folder: str | Path | None = None) -> ModelKind:
    """The kind of a (validated) checkpoint card: its ``model`` must be known and its ``kind`` that model's.

    Raises:
        InputError: the card is not a crop-yield card (another kind, or a model this registry does not know).
    """
    where = f"checkpoint {str(folder)!r}" if folder is not None else "checkpoint card"
    if not isinstance(card, dict):
        raise InputError(f"{where} must be a card (a dict, as read_card returns), got {given(card)}")
    name, card_kind = card.get("model"), card.get("kind")
    kind = MODEL_KINDS.get(name) if isinstance(name, str) else None
    if kind is not None and card_kind == ENSEMBLE_CARD_KIND:
        return ensemble_kind(kind)
    if kind is None or kind.card_kind != card_kind:
        raise InputError(
            f"{where} is not a crop-yield model (kind {card_kind!r}, model {name!r}); crop-yield models: {list(MODEL_KINDS)}"
        )
    return kind


def _train_ensemble(*args: Any, **kwargs: Any) -> Path:
    raise InputError(
        "an ensemble is not trained: train its members, then write it with `python -m geoapp train ensemble MEMBER ...`"
    )


def ensemble_kind(member: ModelKind) -> ModelKind:
    """The kind of an ensemble checkpoint of ``member``'s model (:mod:`geoapp.training.ensemble`).

    It predicts and masks feature groups as its members do; it has no attention weights of its own,
    is written from trained members rather than trained, and so is neither resumed nor data-parallel.
    """
    return replace(
        member,
        card_kind=ENSEMBLE_CARD_KIND,
        description=f"ensemble: the mean of several {member.name} checkpoints",
        has_attention=False,
        resumable=False,
        data_parallel=False,
        train=_train_ensemble,
        load=load_ensemble_checkpoint,
    )


def model_text(card: dict[str, Any]) -> str:
    """The model a card holds as geoapp names it: its model name, or ``"<model> ensemble of <n>"``."""
    members = card.get("members") if card.get("kind") == ENSEMBLE_CARD_KIND else None
    return f"{card['model']} ensemble of {len(members)}" if isinstance(members, list) else str(card.get("model"))


def load_yield_checkpoint(folder: str | Path, ds: YieldDataset | None = None, calibrated: bool = True) -> Predictor:
    """Load a crop-yield checkpoint of any kind; with ``ds`` the card must match that dataset.

    A checkpoint trained on detrended yields (:mod:`geoapp.training.trend`) predicts through a
    :class:`~geoapp.training.trend.TrendedPredictor`: the trend is added back to every prediction.
    One with a residual calibration (:mod:`geoapp.training.calibration`) then gets its trend and
    county offsets added (:class:`~geoapp.training.calibration.CalibratedPredictor`), unless
    ``calibrated`` is False (the model's own predictions; the card's calibration entry is not read,
    so a damaged one can still be replaced or removed).

    Raises:
        InputError: not a crop-yield checkpoint, trained on other data, or an argument of the wrong type.
        DataFileError: the card or the weights are invalid.
    """
    check_checkpoint_arg(folder)
    if ds is not None:
        check_dataset_arg(ds)
    card = read_card(folder)
    predictor = kind_of_card(card, folder).load(folder, ds)
    where = str(Path(folder) / "card.json")
    trend = trend_from_card(card, where)
    predictor = predictor if trend is None else TrendedPredictor(predictor, trend)
    return calibrate_predictor(predictor, card, where) if calibrated else predictor


def predict_yields(
    folder: str | Path | Predictor, ds: YieldDataset, year: int | None = None, mask_group: str | None = None
) -> YieldPredictions:
    """Predicted yields of the labelled counties of ``year`` (default the checkpoint's test year), any kind.

    ``folder`` is a checkpoint folder or a loaded :class:`Predictor`. ``mask_group`` (a feature group
    of :data:`~geoapp.data.bands.FEATURE_GROUPS`) sets that group's standardised inputs to 0, the
    training mean: the what-if ablation.

    Raises:
        InputError: not a crop-yield checkpoint, other data, a year the dataset lacks, an unknown group.
        DataFileError: the card or the weights are invalid.
    """
    check_dataset_arg(ds)
    predictor = folder if hasattr(folder, "predict") and hasattr(folder, "card") else load_yield_checkpoint(folder, ds)
    year = dataset_year(ds, year if year is not None else predictor.card["years"]["test"])
    return predictor.predict(ds, year, mask_group)


def _check_registry() -> None:
    """Every model name has a kind and every kind a known family and input (checked on import)."""
    if tuple(MODEL_KINDS) != tuple(MODEL_NAMES):
        raise RuntimeError(f"the registry's kinds {list(MODEL_KINDS)} differ from MODEL_NAMES {list(MODEL_NAMES)}")
    for k in _KINDS:
        if k.family not in FAMILIES or k.inputs not in INPUTS:
            raise RuntimeError(f"model kind {k.name!r} has an unknown family or input")


_check_registry()
