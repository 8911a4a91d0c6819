"""The checkpoint list the pages show (cached briefly: training jobs add checkpoints while the app runs)."""

from __future__ import annotations

import streamlit as st

from geoapp.paths import checkpoint_dir
from geoapp.training.checkpoint import list_checkpoints

__all__ = ["checkpoint_table"]


@st.cache_data(ttl=10, show_spinner=False)
def checkpoint_table() -> list[dict[str, object]]:
    """One row per checkpoint: folder (relative), model, epoch, headline metrics."""
    root = checkpoint_dir()
    rows = []
    for folder, card in list_checkpoints(root):
        metrics = card.get("metrics") or {}
        headline = {
            k: round(v, 3) for k, v in metrics.items() if isinstance(v, float) and k.startswith(("val_", "test_", "rmse", "r2"))
        }
        rows.append(
            {"checkpoint": str(folder.relative_to(root)), "model": card.get("model"), "epoch": card.get("epoch"), **headline}
        )
    return rows
