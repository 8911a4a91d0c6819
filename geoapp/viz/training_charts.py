"""Plotly charts of a training run: loss terms and the validation metric per epoch."""

from __future__ import annotations

from typing import Any

import plotly.graph_objects as go
from plotly.subplots import make_subplots

__all__ = ["training_curves", "VALIDATION_METRIC"]

VALIDATION_METRIC = {
    "yield": ("val_rmse", "validation RMSE (bu/acre)"),
    "location": ("val_acc_2500km", "validation: share within 2,500 km"),
}
"""Per job kind: the metrics-record key the trainer selects its best epoch on, and its label."""


def training_curves(records: list[dict[str, Any]], kind: str, title: str = "") -> go.Figure:
    """Two panels over the epochs: training losses (each ``train_*`` term) and the validation metric.

    Args:
        records: ``metrics.jsonl`` records (``epoch``, ``train_*`` losses, ``val_*`` metrics).
        kind: ``yield`` or ``location`` (picks the validation metric, :data:`VALIDATION_METRIC`).
        title: figure title.
    """
    key, label = VALIDATION_METRIC[kind]
    fig = make_subplots(rows=1, cols=2, subplot_titles=["training loss", label])
    epochs = [r.get("epoch") for r in records]
    loss_keys = [k for k in dict.fromkeys(k for r in records for k in r) if k.startswith("train_")]
    for k in loss_keys:
        fig.add_trace(
            go.Scatter(x=epochs, y=[r.get(k) for r in records], mode="lines+markers", name=k.removeprefix("train_")), row=1, col=1
        )
    fig.add_trace(
        go.Scatter(
            x=epochs, y=[r.get(key) for r in records], mode="lines+markers", name=label, showlegend=False, line={"color": "black"}
        ),
        row=1,
        col=2,
    )
    fig.update_xaxes(title_text="epoch", dtick=1 if len(epochs) <= 20 else None)
    fig.update_layout(
        title=title or None, height=320, margin={"l": 10, "r": 10, "t": 50, "b": 10}, legend={"orientation": "h", "y": -0.3}
    )
    return fig
