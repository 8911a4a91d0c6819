"""What the hybrid attention looks at: mean attention matrices, attention received, what G adds.

Attention matrices S are averaged over counties, per layer and head and overall; attention received
is how much each month is looked at; G's effect is measured by setting it to 0. A year without
labelled counties is an :class:`~geoapp.errors.InputError` ("no labelled counties in 1990"), which a
page shows as it is.

Attention S_i (Eq. 10) is a (T x T) row-stochastic matrix per layer and head: row t is how month t's
output mixes the months. "Attention received" by month s is the mean over rows of column s.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from geoapp.analysis.result_cache import cached
from geoapp.data.args import as_int, given
from geoapp.data.dataset import YieldDataset, dataset_year
from geoapp.errors import InputError
from geoapp.models.yield_models import MODELS, YieldModel
from geoapp.training.yield_data import Examples, YieldTileSource

__all__ = [
    "AttentionSummary",
    "attention_matrices",
    "attention_for_year",
    "ATTENTION_VERSION",
    "summarise_attention",
    "without_global_query",
    "global_query_effect",
]

ATTENTION_VERSION = "1"
"""Version of the kept attention results (:mod:`geoapp.analysis.result_cache`): bump it when they are computed otherwise."""


@dataclass(frozen=True)
class AttentionSummary:
    """Attention averaged over counties.

    Attributes:
        per_head: (layers, heads, T, T) mean attention of every layer and head.
        overall: (T, T) mean over layers and heads.
        received: (T,) attention each month receives (column means of ``overall``; sums to 1).
    """

    per_head: np.ndarray
    overall: np.ndarray
    received: np.ndarray


def _check_inputs(model: object, source: object, ex: object) -> None:
    """Refuse a model, tile source or examples of the wrong type (None, a path, a DataFrame)."""
    for name, value, kind in (("model", model, YieldModel), ("source", source, YieldTileSource), ("ex", ex, Examples)):
        if not isinstance(value, kind):
            raise InputError(f"{name} must be a {kind.__name__}, got {given(value)}")


@torch.no_grad()
def attention_matrices(model: YieldModel, source: YieldTileSource, ex: Examples, batch: int = 256) -> np.ndarray:
    """Attention of every example: (layers, N, heads, T, T), rows summing to 1.

    A model with location (``semi-ha-loc``) gets the examples' county rows; its location term joins
    after the attention, so it changes the predictions but not the attention weights.

    Raises:
        InputError: no example (a year without labelled counties): there is nothing to summarise; or
            ``model``, ``source`` or ``ex`` is not of its type, or ``batch`` not a whole number >= 1.
    """
    _check_inputs(model, source, ex)
    batch = as_int(batch, "batch", minimum=1)
    if len(ex) == 0:
        years = getattr(source, "years", None)
        where = f"in {', '.join(str(y) for y in years)}" if years and len(years) <= 3 else "among these examples"
        raise InputError(f"no labelled counties {where}: the attention summary needs at least one; choose a year with yields")
    model.eval()
    parts = []
    for i in range(0, len(ex), batch):
        idx = np.arange(i, min(i + batch, len(ex)))
        county = torch.from_numpy(np.asarray(ex.county[idx], dtype=np.int64))  # read by semi-ha-loc only
        _, att = model(source.anchor_tiles(ex, idx), county, return_attention=True)
        parts.append(att.float().numpy())
    return np.concatenate(parts, axis=1)


def summarise_attention(att: np.ndarray, county: int | None = None) -> AttentionSummary:
    """Average (layers, N, heads, T, T) attention over examples (or take one example ``county``).

    Raises:
        InputError: ``att`` is not a 5-D array, or ``county`` is not an index of its examples.
    """
    if not isinstance(att, np.ndarray) or att.ndim != 5:
        raise InputError(f"att must be a (layers, N, heads, T, T) array, got {type(att).__name__} {getattr(att, 'shape', '')}")
    if county is not None and (
        isinstance(county, bool) or not isinstance(county, int | np.integer) or not 0 <= county < att.shape[1]
    ):
        raise InputError(f"county must be an example index in 0..{att.shape[1] - 1}, got {county!r}")
    a = att[:, county : county + 1] if county is not None else att
    per_head = a.mean(axis=1)
    overall = per_head.mean(axis=(0, 1))
    return AttentionSummary(per_head, overall, overall.mean(axis=0))


@contextlib.contextmanager
def without_global_query(model: YieldModel) -> Iterator[YieldModel]:
    """Temporarily set every layer's global query G to 0 (hybrid attention becomes self-attention)."""
    saved = []
    for module in model.modules():
        g = getattr(module, "global_query", None)
        if isinstance(g, torch.nn.Parameter):
            saved.append((g, g.detach().clone()))
            with torch.no_grad():
                g.zero_()
    try:
        yield model
    finally:
        with torch.no_grad():
            for g, value in saved:
                g.copy_(value)


@torch.no_grad()
def global_query_effect(
    model: YieldModel, source: YieldTileSource, ex: Examples, attention: np.ndarray | None = None
) -> dict[str, float] | None:
    """What G adds: attention and prediction changes when G is set to 0.

    Returns the mean |change| of the attention weights and the RMS change of the predictions
    (bu/acre), or None for a model without G (SEMI-SA). ``attention``, when given, is
    :func:`attention_matrices` of the same model and examples (it is then not computed again).

    Raises:
        InputError: ``model``, ``source`` or ``ex`` is not of its type, or ``attention`` not an array (or None).
    """
    _check_inputs(model, source, ex)
    if attention is not None and not isinstance(attention, np.ndarray):
        raise InputError(f"attention must be attention_matrices' array or None, got {given(attention)}")
    if not any(isinstance(getattr(m, "global_query", None), torch.nn.Parameter) for m in model.modules()):
        return None
    from geoapp.training.yield_trainer import predict_examples

    with_g = attention if attention is not None else attention_matrices(model, source, ex)
    pred_g = predict_examples(model, source, ex, torch.device("cpu"))
    with without_global_query(model):
        no_g = attention_matrices(model, source, ex)
        pred_0 = predict_examples(model, source, ex, torch.device("cpu"))
    return {
        "mean_abs_attention_change": float(np.abs(with_g - no_g).mean()),
        "rms_prediction_change_bu": float(np.sqrt(np.mean((pred_g - pred_0) ** 2))),
    }


def attention_for_year(folder: str | Path, ds: YieldDataset, year: int) -> tuple[np.ndarray, list[str], dict[str, float] | None]:
    """Attention of every labelled county of ``year`` under a checkpoint, their geoids, and what G adds.

    Returns the (layers, N, heads, T, T) attention (:func:`attention_matrices`), the N geoids in the
    same order, and :func:`global_query_effect` (None for a model without G). Computed once per
    (checkpoint, dataset, year) and kept on disk (:mod:`geoapp.analysis.result_cache`).

    Raises:
        InputError: ``folder`` is not a path, ``ds`` not a loaded dataset, ``year`` not a whole number
            (text such as ``"2018"`` included) or not in the dataset, or it has no labelled counties; the
            checkpoint is not a deep crop-yield model (a ridge baseline has no attention) of this dataset.
    """
    from geoapp.training.checkpoint import read_card
    from geoapp.training.yield_trainer import check_checkpoint_arg, check_dataset_arg, load_yield_model

    check_checkpoint_arg(folder)
    check_dataset_arg(ds)
    year = dataset_year(ds, year)
    card = read_card(folder)
    if card.get("kind") != "crop-yield":
        raise InputError(
            f"checkpoint {str(folder)!r} is a {card.get('model') or card.get('kind') or 'non-yield'!s} model, which has "
            f"no attention to explain; attention exists for the deep crop-yield models {list(MODELS)}: choose one of those"
        )

    def compute() -> dict:
        model, card = load_yield_model(folder, ds)
        norm = card["normalisation"]
        source = YieldTileSource(ds, None, bands=tuple(norm["bands"]), stats=(norm["mean"], norm["std"]), years=[year])
        ex = source.examples([year])
        geoids = [str(g) for g in ds.counties["geoid"].to_numpy()[ex.county]]
        att = attention_matrices(model, source, ex)
        effect = global_query_effect(model, source, ex, attention=att)
        return {"attention": att.astype(np.float32), "geoids": geoids, "global_query": effect}

    parts = cached("attention", folder, ds, year, compute, version=ATTENTION_VERSION)
    return parts["attention"], list(parts["geoids"]), parts["global_query"]
