"""The checkpoint lists the pages show, and which checkpoints belong to a dataset.

A crop-yield checkpoint belongs to the dataset it was trained on: its card records that dataset's
fingerprint (a hash of the cube, counties and yields), so a checkpoint is offered only for the same
data, whatever the folder is called. Lists are cached briefly: training jobs add checkpoints while
the app runs.
"""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from geoapp.data.dataset import YieldDataset
from geoapp.errors import GeoappError
from geoapp.paths import checkpoint_dir
from geoapp.training.checkpoint import list_checkpoints, read_card

__all__ = ["checkpoint_table", "trained_on", "no_checkpoint_message", "YIELD_KINDS"]

YIELD_KINDS = ("crop-yield", "ridge")
"""Card kinds of the crop-yield checkpoints (deep models and the ridge baseline)."""


def trained_on(checkpoint: str | Path, ds: YieldDataset) -> bool:
    """Whether the checkpoint folder was trained on ``ds`` (same data fingerprint); False if unreadable."""
    try:
        card = read_card(checkpoint)
    except GeoappError:
        return False
    return (card.get("dataset") or {}).get("fingerprint") == ds.fingerprint


def no_checkpoint_message(ds: YieldDataset) -> str:
    """What to do when no crop-yield checkpoint was trained on ``ds``."""
    return (
        f"No checkpoint trained on this dataset ({ds.title}) yet: train one on the Training page or with "
        f"`python -m geoapp train yield --dataset {ds.root}`."
    )


@st.cache_data(ttl=10, show_spinner=False)
def _rows(root: str, fingerprint: str | None) -> list[dict[str, object]]:
    rows = []
    for folder, card in list_checkpoints(root):
        is_yield = card.get("kind") in YIELD_KINDS
        if fingerprint is not None and (not is_yield or (card.get("dataset") or {}).get("fingerprint") != fingerprint):
            continue
        if fingerprint is None and is_yield:
            continue
        metrics = card.get("metrics") or {}
        headline = {
            k: round(v, 3) for k, v in metrics.items() if isinstance(v, float) and k.startswith(("val_", "test_", "rmse", "r2"))
        }
        row = {"checkpoint": str(folder.relative_to(root)), "model": card.get("model"), "epoch": card.get("epoch")}
        if is_yield:
            row["test year"] = (card.get("years") or {}).get("test")
        rows.append({**row, **headline})
    return rows


def checkpoint_table(ds: YieldDataset | None = None) -> list[dict[str, object]]:
    """One row per checkpoint: folder (relative), model, epoch, headline metrics.

    With ``ds``: the crop-yield checkpoints trained on it (with their test year); without: the
    checkpoints that belong to no dataset (location encoders).
    """
    return _rows(str(checkpoint_dir()), None if ds is None else ds.fingerprint)
