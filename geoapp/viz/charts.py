"""Plotly charts of county data: yields over the years, inputs over the months."""

from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from geoapp.data.bands import BAND_INFO, MONTH_NAMES
from geoapp.data.bands import MONTHS as MONTH_ORDER

__all__ = ["yield_history", "monthly_inputs", "error_budget_bars"]


def yield_history(yields: pd.DataFrame, title: str, highlight_year: int | None = None, simulated: bool = False) -> go.Figure:
    """Line of a county's yield by year.

    Args:
        yields: rows of one county with ``year`` and ``yield`` (bu/acre; NaN where withheld).
        title: figure title (the county's name).
        highlight_year: year to mark.
        simulated: add "(simulated)" to the title.
    """
    df = yields.sort_values("year")
    fig = go.Figure(go.Scatter(x=df["year"], y=df["yield"], mode="lines+markers", name="yield", connectgaps=False))
    if highlight_year is not None:
        row = df[df["year"] == highlight_year]
        if not row.empty and pd.notna(row["yield"].iloc[0]):
            fig.add_trace(
                go.Scatter(
                    x=row["year"],
                    y=row["yield"],
                    mode="markers",
                    marker={"size": 14, "symbol": "circle-open"},
                    name=str(highlight_year),
                )
            )
    fig.update_xaxes(tickformat="d", dtick=1 if df["year"].nunique() <= 8 else None)  # whole years: no "2,016.5"
    fig.update_layout(
        title=f"{title}{' (simulated)' if simulated else ''}",
        xaxis_title="year",
        yaxis_title="yield (bu/acre)",
        height=320,
        margin={"l": 10, "r": 10, "t": 40, "b": 10},
        showlegend=False,
    )
    return fig


def monthly_inputs(inputs: pd.DataFrame, title: str, simulated: bool = False) -> go.Figure:
    """Small multiples of each band's anchor-tile mean over the months.

    Args:
        inputs: long table from :func:`geoapp.data.tiles.county_monthly_inputs`.
        title: figure title.
        simulated: add "(simulated)" to the title.
    """
    bands = list(dict.fromkeys(inputs["band"]))
    cols = 3
    rows = -(-len(bands) // cols)
    fig = make_subplots(rows=rows, cols=cols, subplot_titles=[f"{b} ({BAND_INFO[b].units})" for b in bands])
    for i, band in enumerate(bands):
        d = inputs[inputs["band"] == band]
        row, col = i // cols + 1, i % cols + 1
        fig.add_trace(
            go.Scatter(x=[MONTH_NAMES[m] for m in d["month"]], y=d["value"], mode="lines+markers", name=band), row=row, col=col
        )
        values = d["value"].to_numpy(dtype=float)
        values = values[np.isfinite(values)]
        if len(values) and np.ptp(values) <= 1e-9 * max(1.0, float(np.abs(values).max())):
            # a static band (soil, elevation): plotly would span -0.5..1 around a flat line; centre it instead
            pad = max(0.1 * abs(float(values[0])), 0.01)
            fig.update_yaxes(range=[float(values[0]) - pad, float(values[0]) + pad], row=row, col=col)
    fig.update_layout(
        title=f"{title}{' (simulated)' if simulated else ''}",
        height=180 * rows + 60,
        showlegend=False,
        margin={"l": 10, "r": 10, "t": 60, "b": 10},
    )
    return fig


def predicted_vs_true(table: pd.DataFrame, title: str, rmse: float, r2: float, simulated: bool = False) -> go.Figure:
    """Scatter of predicted against true county yields with the 1:1 line, RMSE and R^2 in the title.

    Args:
        table: rows with ``true`` and ``predicted`` (bu/acre) and ``geoid`` (hover).
        title: first title line (model and year).
        rmse: root-mean-square error (bu/acre), shown on the second title line.
        r2: coefficient of determination, shown on the second title line.
        simulated: add "(simulated)" to the first title line.
    """
    lo = float(min(table["true"].min(), table["predicted"].min()))
    hi = float(max(table["true"].max(), table["predicted"].max()))
    fig = go.Figure(
        [
            go.Scatter(
                x=table["true"],
                y=table["predicted"],
                mode="markers",
                marker={"size": 5, "opacity": 0.6},
                text=table["geoid"],
                hovertemplate="GEOID %{text}<br>true %{x:.1f}<br>predicted %{y:.1f}<extra></extra>",
                name="counties",
            ),
            go.Scatter(x=[lo, hi], y=[lo, hi], mode="lines", line={"dash": "dash", "color": "grey"}, name="1:1"),
        ]
    )
    fig.update_layout(
        # two lines, the simulated label first, so a narrow column never cuts it off
        title=f"{title}{' (simulated)' if simulated else ''}<br>RMSE {rmse:.2f} bu/acre, R² {r2:.3f}",
        xaxis_title="true yield (bu/acre)",
        yaxis_title="predicted yield (bu/acre)",
        height=440,
        margin={"l": 10, "r": 10, "t": 70, "b": 10},
        showlegend=False,
    )
    return fig


def _top_margin(title: str) -> int:
    """Top margin (px) that fits a title of one or more lines (``<br>`` breaks a line)."""
    return 30 + 22 * (title.count("<br>") + 1)


def attention_heatmap(matrix, title: str) -> go.Figure:
    """Months x months heatmap of an attention matrix (rows: the month attending; columns: attended)."""
    months = [MONTH_NAMES[m] for m in MONTH_ORDER]
    fig = go.Figure(
        go.Heatmap(
            z=matrix,
            x=months,
            y=months,
            colorscale="Viridis",
            zmin=0,
            colorbar={"title": "weight"},
            hovertemplate="%{y} attends to %{x}: %{z:.3f}<extra></extra>",
        )
    )
    fig.update_layout(
        title=title,
        xaxis_title="attended month",
        yaxis_title="attending month",
        yaxis_autorange="reversed",
        height=420,
        margin={"l": 10, "r": 10, "t": _top_margin(title), "b": 10},
    )
    return fig


def attention_received(received, truth: dict | None, title: str) -> go.Figure:
    """Bars of the attention each month receives, with the simulation's true critical-month weights beside."""
    months = [MONTH_NAMES[m] for m in MONTH_ORDER]
    bars = [go.Bar(x=months, y=list(received), name="learned attention received")]
    if truth:
        bars.append(
            go.Bar(
                x=months,
                y=[truth.get(str(m), truth.get(m, 0.0)) for m in MONTH_ORDER],
                name="true critical-month weight (simulation)",
            )
        )
    fig = go.Figure(bars)
    fig.update_layout(
        title=title,
        barmode="group",
        yaxis_title="share",
        height=360,
        margin={"l": 10, "r": 10, "t": _top_margin(title), "b": 10},
        legend={"orientation": "h", "y": -0.2},
    )
    return fig


def ablation_bars(summary: pd.DataFrame, title: str) -> go.Figure:
    """Bars of the change in RMSE (bu/acre) when each feature group is masked."""
    df = summary[summary["group"] != "none (all inputs)"]
    fig = go.Figure(
        go.Bar(x=df["group"], y=df["delta_rmse"], text=[f"{v:+.2f}" for v in df["delta_rmse"]], textposition="outside")
    )
    fig.update_layout(
        title=title,
        xaxis_title="masked feature group",
        yaxis_title="change in RMSE (bu/acre)",
        height=380,
        margin={"l": 10, "r": 10, "t": _top_margin(title), "b": 10},
    )
    return fig


def error_budget_bars(budget: dict, title: str) -> go.Figure:
    """Bars of the share of each simulated yield term's county-to-county variation that predictions miss.

    Args:
        budget: :func:`geoapp.analysis.error_budget.budget_of_predictions` (or ``error_budget``): its
            ``terms`` rows (``label``, ``missed``, ``sd``, ``missed_bu``) are drawn.
        title: the chart's title; "(simulated)" is added: only simulated data has these terms.
    """
    rows = [r for r in budget["terms"] if r["missed"] is not None]
    labels = [r.get("label", r["term"]) for r in rows]
    fig = go.Figure(
        go.Bar(
            y=labels,
            x=[r["missed"] for r in rows],
            orientation="h",
            text=[f"{r['missed']:+.2f}" for r in rows],
            textposition="outside",
            customdata=[[r["sd"], r["missed_bu"]] for r in rows],
            hovertemplate="%{y}: missed %{x:+.2f} of its sd %{customdata[0]:.2f} = %{customdata[1]:+.2f} bu/acre<extra></extra>",
        )
    )
    # two lines, the simulated label first, so a narrow column never cuts it off
    head, _, rest = title.partition(", ")
    full = f"{head} (simulated)" + (f"<br>{rest}" if rest else "")
    shares = [r["missed"] for r in rows] or [0.0]
    fig.update_traces(cliponaxis=False)
    fig.update_layout(
        title=full,
        xaxis={"range": [min(-0.3, min(shares) - 0.2), max(1.0, max(shares) + 0.2)]},  # 0..1 in view: followed..ignored
        xaxis_title="share missed (0: followed, 1: ignored)",
        yaxis={"autorange": "reversed"},
        height=340,
        margin={"l": 10, "r": 10, "t": _top_margin(full), "b": 10},
    )
    return fig
