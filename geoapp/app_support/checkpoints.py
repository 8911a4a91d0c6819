"""The checkpoint lists the pages show, and which checkpoints belong to a dataset.

A crop-yield checkpoint belongs to the dataset it was trained on: its card records that dataset's
fingerprint (a hash of the cube, counties and yields), so a checkpoint is offered only for the same
data, whatever the folder is called. Lists are cached briefly: training jobs add checkpoints while
the app runs.

One bad card never hides the others: every card is checked on its own (:func:`card_problem`), and
one that cannot be read (not JSON, not an object, a missing field, an unknown model) is listed as
broken with its reason (:func:`show_broken`) while the rest stay usable. A card's check is cached
by its modification time, so a card fixed on disk is read again.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import streamlit as st

from geoapp.app_support.broken import Broken, reason_of, show_broken
from geoapp.data.dataset import YieldDataset
from geoapp.errors import GeoappError
from geoapp.paths import checkpoint_dir
from geoapp.training.checkpoint import CARD, ENSEMBLE_CARD_KIND, read_card
from geoapp.training.model_kinds import MODEL_KINDS, STANDARDISED_CARD_KINDS, YIELD_CARD_KINDS, model_text

__all__ = [
    "checkpoint_table",
    "trained_on",
    "no_checkpoint_message",
    "YIELD_KINDS",
    "LOCATION_MODEL",
    "Broken",
    "card_problem",
    "model_text",
    "scan_checkpoints",
    "yield_checkpoints_of",
    "location_checkpoints_found",
    "show_broken",
]

YIELD_KINDS = YIELD_CARD_KINDS
"""Card kinds of the crop-yield checkpoints (every model kind of :mod:`geoapp.training.model_kinds`)."""
LOCATION_MODEL = "contrastive-sh-siren"
"""The model name of the contrastive location-encoder checkpoints."""


def _is_int(value: object) -> bool:
    if isinstance(value, bool):
        return False
    try:
        return int(value) == float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError, OverflowError):
        return False


def card_problem(card: object) -> str | None:
    """Why a parsed checkpoint card cannot be used by the pages, or None when it can.

    A crop-yield card (kinds :data:`YIELD_KINDS`) needs a known model name, ``years`` (``test``,
    ``validation`` as integers, ``train`` a list of them) and ``dataset.fingerprint``; a model that reads
    standardised inputs also ``model_config`` and ``normalisation``. A location encoder's card names
    :data:`LOCATION_MODEL`. Any other card is of an unknown kind.
    """
    if not isinstance(card, dict):
        return f"the card is a JSON {type(card).__name__}, expected an object with 'model', 'kind', 'years', ..."
    kind, model = card.get("kind"), card.get("model")
    if kind not in YIELD_KINDS:
        if model == LOCATION_MODEL:
            return None
        return (
            f"unknown checkpoint kind {kind!r} (model {model!r}); expected a crop-yield card (kind one of "
            f"{list(YIELD_KINDS)}) or a location encoder (model {LOCATION_MODEL!r})"
        )
    if model not in MODEL_KINDS:
        return f"unknown model {model!r}; expected one of {list(MODEL_KINDS)}"
    if MODEL_KINDS[model].card_kind != kind and kind != ENSEMBLE_CARD_KIND:
        return f"model {model!r} is written with kind {MODEL_KINDS[model].card_kind!r}, the card says {kind!r}"
    years = card.get("years")
    if not isinstance(years, dict):
        return "missing field 'years' (train, validation, test)"
    for key in ("test", "validation"):
        if not _is_int(years.get(key)):
            return f"field 'years.{key}' is {years.get(key)!r}, expected a year (an integer)"
    train = years.get("train")
    if not isinstance(train, list) or not all(_is_int(y) for y in train):
        return f"field 'years.train' is {train!r}, expected a list of years"
    dataset = card.get("dataset")
    if not isinstance(dataset, dict) or not isinstance(dataset.get("fingerprint"), str):
        return "missing field 'dataset.fingerprint' (which data it was trained on)"
    if kind in STANDARDISED_CARD_KINDS:
        if not isinstance(card.get("model_config"), dict):
            return "missing field 'model_config' (the model's configuration)"
        norm = card.get("normalisation")
        if not isinstance(norm, dict) or not all(isinstance(norm.get(k), list) for k in ("bands", "mean", "std")):
            return "missing field 'normalisation' (bands, mean, std)"
    return None


@st.cache_data(show_spinner=False, max_entries=1024)
def _checked_card(path: str, stamp: tuple[int, int]) -> tuple[dict[str, Any] | None, str | None]:
    """(card, None) or (None, reason) for one card file; cached by (mtime, size), so a fixed card is read again."""
    try:
        card = read_card(Path(path).parent)
    except (GeoappError, OSError, ValueError) as exc:
        return None, reason_of(exc)
    problem = card_problem(card)
    return (None, problem) if problem else (card, None)


def scan_checkpoints(root: str | Path | None = None) -> tuple[list[tuple[Path, dict[str, Any]]], list[Broken]]:
    """Every checkpoint folder under ``root`` (default: the checkpoint folder) with its card, and the broken ones.

    Resume-only ``last`` folders and hidden folders are skipped, as
    :func:`geoapp.training.checkpoint.list_checkpoints` does.
    """
    root = Path(root) if root is not None else checkpoint_dir()
    good: list[tuple[Path, dict[str, Any]]] = []
    broken: list[Broken] = []
    try:
        cards = sorted(root.rglob(CARD)) if root.is_dir() else []
    except OSError as exc:
        return [], [Broken(str(root), f"the checkpoint folder cannot be listed: {exc}")]
    for card_path in cards:
        folder = card_path.parent
        if folder.name == "last" or any(part.startswith(".") for part in folder.relative_to(root).parts):
            continue
        try:
            info = os.stat(card_path)
        except OSError as exc:
            broken.append(Broken(str(card_path), str(exc)))
            continue
        card, problem = _checked_card(str(card_path), (info.st_mtime_ns, info.st_size))
        if card is None:
            broken.append(Broken(str(card_path), problem or "unreadable"))
        else:
            good.append((folder, card))
    return good, broken


def yield_checkpoints_of(ds: YieldDataset, root: str | Path | None = None) -> tuple[list[tuple[Path, dict]], list[Broken]]:
    """The crop-yield checkpoints trained on ``ds`` and the broken checkpoints (which data they belong to is unknown)."""
    good, broken = scan_checkpoints(root)
    mine = [(f, c) for f, c in good if c.get("kind") in YIELD_KINDS and c["dataset"]["fingerprint"] == ds.fingerprint]
    return mine, broken


def location_checkpoints_found(root: str | Path | None = None) -> tuple[list[tuple[Path, dict]], list[Broken]]:
    """The location-encoder checkpoints and the broken checkpoints."""
    good, broken = scan_checkpoints(root)
    return [(f, c) for f, c in good if c.get("model") == LOCATION_MODEL], broken


def trained_on(checkpoint: str | Path, ds: YieldDataset) -> bool:
    """Whether the checkpoint folder was trained on ``ds`` (same data fingerprint); False if unreadable."""
    try:
        card = read_card(checkpoint)
    except (GeoappError, OSError, ValueError):
        return False
    if card_problem(card) is not None:
        return False
    return card["dataset"]["fingerprint"] == ds.fingerprint


def no_checkpoint_message(ds: YieldDataset) -> str:
    """What to do when no crop-yield checkpoint was trained on ``ds``."""
    return (
        f"No checkpoint trained on this dataset ({ds.title}) yet: train one on the Training page or with "
        f"`python -m geoapp train yield --dataset {ds.root}`."
    )


YIELD_METRICS = {
    "val_rmse": "val RMSE (bu/acre)",
    "val_r2": "val R²",
    "test_rmse": "test RMSE (bu/acre)",
    "test_r2": "test R²",
}
"""Card metrics the Home page's crop-yield table shows, and their column names."""
LOCATION_METRICS = {
    "val_acc_25km": "val ≤ 25 km",
    "val_acc_200km": "val ≤ 200 km",
    "val_acc_750km": "val ≤ 750 km",
    "val_acc_2500km": "val ≤ 2,500 km",
    "val_median_km": "val median error (km)",
}
"""Card metrics the Home page's location-encoder table shows (share of validation images geolocated
within a distance, median error), and their column names."""


@st.cache_data(ttl=10, show_spinner=False)
def _rows(root: str, fingerprint: str | None) -> list[dict[str, object]]:
    rows = []
    for folder, card in scan_checkpoints(root)[0]:
        is_yield = card.get("kind") in YIELD_KINDS
        if fingerprint is not None and (not is_yield or card["dataset"]["fingerprint"] != fingerprint):
            continue
        if fingerprint is None and is_yield:
            continue
        metrics = card.get("metrics") if isinstance(card.get("metrics"), dict) else {}
        row = {"checkpoint": str(folder.relative_to(root)), "model": model_text(card), "epoch": card.get("epoch")}
        if is_yield:
            row["test year"] = int(card["years"]["test"])
            cal = card.get("calibration")
            row["calibration"] = cal.get("kind", "?") if isinstance(cal, dict) else "none"
        for key, column in (YIELD_METRICS if is_yield else LOCATION_METRICS).items():
            value = metrics.get(key)
            row[column] = round(value, 3) if isinstance(value, int | float) and not isinstance(value, bool) else None
        rows.append(row)
    return rows


def checkpoint_table(ds: YieldDataset | None = None) -> list[dict[str, object]]:
    """One row per checkpoint: folder (relative), model, epoch, headline metrics.

    With ``ds``: the crop-yield checkpoints trained on it (with their test year, their residual
    calibration, ``none`` or its kind, and the :data:`YIELD_METRICS`, which score the calibrated
    predictions when there is one); without: the checkpoints that belong to no dataset (location encoders,
    with the :data:`LOCATION_METRICS`). Each table has its own fixed columns, so neither shows the
    other's metrics as empty cells.
    """
    return _rows(str(checkpoint_dir()), None if ds is None else ds.fingerprint)
