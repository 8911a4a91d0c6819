"""Crop-yield pieces the pages share: the checkpoint selector, cached predictions, map layers."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import streamlit as st

from geoapp.analysis.error_budget import budget_of_predictions, county_terms_of, simulation_config_of
from geoapp.analysis.yield_predictions import predictions_for_year
from geoapp.app_support.checkpoints import Broken, model_text, no_checkpoint_message, show_broken, yield_checkpoints_of
from geoapp.app_support.county_map import county_labels
from geoapp.app_support.loaders import cached_dataset
from geoapp.app_support.page import error_box, remember
from geoapp.data.counties import simplified_counties
from geoapp.data.dataset import YieldDataset
from geoapp.errors import GeoappError
from geoapp.paths import checkpoint_dir
from geoapp.training.checkpoint import MEMBERS_DIR, read_card
from geoapp.training.model_kinds import MODEL_KINDS, kind_of_card
from geoapp.viz.charts import error_budget_bars
from geoapp.viz.colors import ColorScale, diverging_scale, sequential_scale
from geoapp.viz.county_3d import (
    KM_PER_BU,
    PROJECTED_CRS,
    SIMPLIFY_TOLERANCE_M,
    CountyFootprints,
    county_3d_deck,
    county_footprints,
    state_paths,
)
from geoapp.viz.exports import predictions_csv, predictions_file_name, predictions_geojson, run_name

__all__ = [
    "retrain_ablation_note",
    "year_role_note",
    "MAP_VIEWS",
    "OFFSET_VIEW",
    "NOISE_FREE_VIEW",
    "with_noise_free",
    "map_views",
    "with_calibration",
    "checkpoint_select",
    "has_attention",
    "attention_model_names",
    "checkpoint_label",
    "default_checkpoint",
    "drawn_checkpoint_caption",
    "no_labels_message",
    "cached_predictions",
    "model_comparison",
    "cached_attention",
    "cached_ablation",
    "cached_retrain_ablation",
    "map_layer",
    "true_critical_months",
    "attention_choice",
    "scope_select",
    "critical_months_caption",
    "anchor_note",
    "cached_county_footprints",
    "county_3d_view",
]

MAP_VIEWS = ("True", "Predicted", "Error (predicted − true)")
OFFSET_VIEW = "County offset (calibration)"
"""The map view of a calibrated checkpoint's county offsets (:mod:`geoapp.training.calibration`)."""
NOISE_FREE_VIEW = "Error vs noise-free yield (simulated)"
"""SIMULATED data: predicted minus the simulation's noise-free yield, the error a better model could remove."""


_PREFERENCE = tuple(MODEL_KINDS)  # the attention models (SEMI-HA first), then the baselines


def _shipped(folder: Path) -> bool:
    """Whether a checkpoint folder is one the repository ships (under ``<checkpoints>/yield``, not ``user/``)."""
    return folder.is_relative_to(checkpoint_dir() / "yield")


def _default_index(found: list[tuple[Path, dict]], year: int | None) -> int:
    """Index (into [none, *found]) of the checkpoint to show first.

    One tested on ``year`` first, then a shipped one (not one trained from the Training page), then
    by model (SEMI-HA first), then in folder order.
    """
    if not found:
        return 0

    def rank(item: tuple[int, tuple[Path, dict]]) -> tuple[int, int, int, int]:
        i, (folder, card) = item
        tested_here = int(card["years"]["test"]) == year  # cards are checked (app_support.checkpoints.card_problem)
        model = _PREFERENCE.index(card["model"]) if card["model"] in _PREFERENCE else len(_PREFERENCE)
        return (0 if tested_here else 1, 0 if _shipped(folder) else 1, model, i)

    return 1 + min(enumerate(found), key=rank)[0]


def default_checkpoint(found: list[tuple[Path, dict]], year: int | None) -> Path | None:
    """The checkpoint among ``found`` (folder, card) that a fresh session shows first for ``year``, or None when none."""
    return found[_default_index(found, year) - 1][0] if found else None


NO_CHECKPOINT_LABEL = "none (true yields only)"


def checkpoint_label(folder: Path, card: dict, root: Path | None = None) -> str:
    """How the app names a crop-yield checkpoint: ``"<model> · test <year> (<run folder under the checkpoints>)"``.

    An ensemble reads ``"<model> ensemble of <n> · test <year> (...)"``.
    """
    return f"{model_text(card)} · test {card['years']['test']} ({_relative(folder.parent, root or checkpoint_dir())})"


def drawn_checkpoint_caption(ds: YieldDataset, checkpoint: Path | None) -> None:
    """A caption naming the checkpoint whose results the page draws (or that it draws true yields only)."""
    label = NO_CHECKPOINT_LABEL
    if checkpoint is not None:
        card = dict(yield_checkpoints_of(ds)[0]).get(checkpoint)
        label = checkpoint_label(checkpoint, card) if card is not None else str(checkpoint)
    st.caption(f"Checkpoint drawn: {label}")


def _remember_picked_checkpoint() -> None:
    remember("checkpoint", st.session_state.get("w_checkpoint"))


def checkpoint_select(ds: YieldDataset, year: int | None = None, pick_hint: str | None = None) -> Path | None:
    """Sidebar selector of the crop-yield checkpoints trained on ``ds``; None means "true yields only".

    Only checkpoints whose card records ``ds``'s data fingerprint are offered. Until the user picks
    one in this session (``sel_checkpoint``, set only by a pick), the choice is the default for
    ``year``: a checkpoint tested on it, a shipped one before one trained from the Training page,
    SEMI-HA first; it follows the year. When none was trained on ``ds`` an info box says how to
    train one; when the user picked none, ``pick_hint`` (if given) is shown. Checkpoints whose card
    cannot be read are listed in the sidebar with the reason; the others stay on offer.
    """
    found, broken = yield_checkpoints_of(ds)
    show_broken(broken, where=st.sidebar)
    if not found:
        st.sidebar.caption("Model checkpoint: none trained on this dataset yet.")
        st.info(no_checkpoint_message(ds))
        return None
    root = checkpoint_dir()
    options = [""] + [str(folder) for folder, _ in found]  # "": true yields only
    labels = {"": NO_CHECKPOINT_LABEL}
    for folder, card in found:
        labels[str(folder)] = checkpoint_label(folder, card, root)
    picked = st.session_state.get("sel_checkpoint")
    st.session_state["w_checkpoint"] = picked if picked in options else options[_default_index(found, year)]
    choice = st.sidebar.selectbox(
        "Model checkpoint",
        options,
        index=0,  # never shown: the value is seeded above (index 0 keeps the box from offering to clear it)
        format_func=labels.get,
        key="w_checkpoint",
        on_change=_remember_picked_checkpoint,
    )
    if not choice and pick_hint:
        st.info(pick_hint)
    return Path(choice) if choice else None


def has_attention(checkpoint: Path) -> bool:
    """Whether a crop-yield checkpoint's model kind has attention to show (the registry says which do)."""
    return kind_of_card(read_card(checkpoint), checkpoint).has_attention


def attention_model_names() -> str:
    """The attention models' names for a hint, e.g. ``SEMI-HA, S-HA or SEMI-SA``."""
    names = [name.upper() for name, kind in MODEL_KINDS.items() if kind.has_attention]
    return ", ".join(names[:-1]) + f" or {names[-1]}" if len(names) > 1 else "".join(names)


def checkpoint_stamp(checkpoint: str) -> tuple[int, ...]:
    """Size and modification time of a checkpoint's card and weights (and an ensemble's members'): part of every cache key.

    A checkpoint calibrated (or its calibration removed) with ``train calibrate`` while the app runs,
    or retrained into the same folder, is computed again. Zeros for a missing file (the computation
    then says what is wrong).
    """
    out: list[int] = []
    members = sorted((Path(checkpoint) / MEMBERS_DIR).glob("*/model.safetensors"))  # an ensemble's
    for path in [Path(checkpoint) / "card.json", Path(checkpoint) / "model.safetensors", *members]:
        try:
            stat = path.stat()
            out += [stat.st_size, stat.st_mtime_ns]
        except OSError:
            out += [0, 0]
    return tuple(out)


def cached_predictions(checkpoint: str, dataset_path: str, year: int) -> tuple[pd.DataFrame, dict]:
    """:func:`predictions_for_year`, cached per (checkpoint, its files' state (:func:`checkpoint_stamp`), dataset, year)."""
    return _cached_predictions(checkpoint, dataset_path, year, checkpoint_stamp(checkpoint))


@st.cache_data(show_spinner="Predicting every county…", max_entries=32)
def _cached_predictions(checkpoint: str, dataset_path: str, year: int, stamp: tuple[int, ...]) -> tuple[pd.DataFrame, dict]:
    """The cached computation; ``stamp`` only keys the cache."""
    return predictions_for_year(checkpoint, cached_dataset(dataset_path), year)


def no_labels_message(ds: YieldDataset, year: int) -> str | None:
    """The info to show when ``year`` has no labelled county in ``ds`` (nothing to score or summarise), else None."""
    if len(ds.year_yields(year)):
        return None
    labelled = sorted({int(y) for y in ds.labelled()["year"]})
    hint = f"choose another year ({_years_text(labelled)})" if labelled else "this dataset has no labelled year at all"
    return f"No labelled counties in {year}: {hint}."


def _comparison(ds: YieldDataset, year: int) -> tuple[pd.DataFrame, list[Broken]]:
    """Every checkpoint of ``ds`` tested on ``year``, scored; one that cannot be scored is listed as broken."""
    found, broken = yield_checkpoints_of(ds)
    rows = []
    for folder, card in found:
        if int(card["years"]["test"]) != int(year):
            continue
        try:
            table, summary = cached_predictions(str(folder), str(ds.root), int(year))
        except (GeoappError, OSError) as exc:
            broken.append(Broken(str(folder), str(exc)))
            continue
        train_config = card.get("train_config") if isinstance(card.get("train_config"), dict) else {}
        rows.append(
            {
                "checkpoint": str(folder),
                "model": model_text(card),
                "rmse": summary["rmse"],
                "r2": summary["r2"],
                "bias": float(table["error"].mean()),
                "n": summary["n"],
                "seed": train_config.get("seed"),
            }
        )
    columns = ["checkpoint", "model", "rmse", "r2", "bias", "n", "seed"]
    table = pd.DataFrame(rows, columns=columns).sort_values("rmse", kind="stable").reset_index(drop=True)
    return table, broken


def model_comparison(ds: YieldDataset, year: int) -> None:
    """A table of every checkpoint tested on ``year`` (RMSE, R^2, mean error), best first.

    Each checkpoint's predictions are cached (:func:`cached_predictions`); the list of checkpoints is
    read on every run, so a run finished on the Training page shows up at once. A checkpoint that
    cannot be scored is listed with its reason below the table; a year without labels says so.
    """
    if message := no_labels_message(ds, year):
        st.info(message)
        return
    table, broken = _comparison(ds, year)
    show_broken(broken)
    if table.empty:
        tested = sorted({int(card["years"]["test"]) for _, card in yield_checkpoints_of(ds)[0]})
        if tested:
            st.info(f"No checkpoint has {year} as its test year; pick {_years_text(tested)} for this dataset's checkpoints.")
        else:
            st.info(no_checkpoint_message(ds))
        return
    root = checkpoint_dir()
    shown = pd.DataFrame(
        {
            "model": table["model"],
            "RMSE (bu/acre)": table["rmse"].round(3),
            "R²": table["r2"].round(3),
            "mean error (bu/acre)": table["bias"].round(2),
            "seed": table["seed"].astype("Int64"),
            "counties": table["n"],
            "run": [_relative(Path(c).parent, root) for c in table["checkpoint"]],
        }
    )
    st.dataframe(shown, hide_index=True, width="stretch")
    label = " (simulated data)" if ds.simulated else ""
    spread = (
        "runs of the same model with other seeds differ by several tenths of a bu/acre on this simulation "
        "(docs/yield-benchmark.md has the figures over seeds)"
        if ds.simulated
        else "runs of the same model with other seeds differ too (by how much on this data, only runs with other seeds can tell)"
    )
    st.caption(
        f"Held-out scores on {year}{label}. Each row is one training run with one seed: {spread}, so a small gap "
        "is not a ranking."
    )


def _years_text(years: list[int]) -> str:
    return f"{', '.join(map(str, years[:-1]))} or {years[-1]}" if len(years) > 1 else str(years[0])


def _relative(folder: Path, root: Path) -> str:
    try:
        return str(folder.relative_to(root))
    except ValueError:
        return str(folder)


def with_calibration(checkpoint: str | Path, ds: YieldDataset, table: pd.DataFrame) -> tuple[pd.DataFrame, str | None]:
    """``table`` plus an ``offset`` column (bu/acre) when the checkpoint has county offsets, and a caption of its calibration.

    The caption (None without a calibration) says what the predictions include: the trend fitted on which
    years and how many county offsets of what spread.
    """
    from geoapp.training.calibration import from_card

    card = read_card(checkpoint)
    cal = from_card(card, str(Path(checkpoint) / "card.json"))
    if cal is None:
        return table, None
    years = f"{cal.fitted_years[0]}-{cal.fitted_years[-1]}"
    text = (
        f"Predictions include a residual calibration ({cal.kind}): a trend of {cal.slope:+.2f} bu/acre per year "
        f"fitted to the model's residuals on {years}"
    )
    if cal.offsets:
        text += f" and {len(cal.offsets)} county offsets (sd {cal.county_sd:.2f} bu/acre, shrunk)"
        table = table.assign(offset=cal.offsets_of(table["geoid"].astype(str).to_numpy()))
    return table, text + "; validation and test years were not used."


@st.cache_data(show_spinner="Re-running the simulation for its yield terms…", max_entries=8)
def _cached_terms(dataset_path: str, fingerprint: str, year: int) -> pd.DataFrame:
    """The simulation's per-county yield terms of one year (``fingerprint`` only keys the cache)."""
    return county_terms_of(cached_dataset(dataset_path), year)


def error_budget_panel(ds: YieldDataset, year: int, table: pd.DataFrame, model: str, calibrated: bool, role: str) -> None:
    """The error budget of the predictions in ``table`` (SIMULATED data only): RMSE against the target, missed terms.

    ``table`` is what the map shows (geoid, true, predicted, bu/acre), with the checkpoint's calibration
    when it has one (``calibrated``); ``role`` is the year's for the checkpoint (``test``, ``validation``,
    ``training``, ``unused``): only the test year's figures are held out.
    """
    terms = _cached_terms(str(ds.root), ds.fingerprint, int(year))
    budget = budget_of_predictions(table, ds, int(year), terms)
    c1, c2, c3 = st.columns(3)
    c1.metric("RMSE", f"{budget['rmse']:.2f}", help="bu/acre, against the observed yields, noise included")
    c2.metric(
        "1.3 x floor",
        f"{budget['target']:.2f}",
        help=f"the floor is the RMSE of the simulation's county-year noise, {budget['floor']:.2f} bu/acre",
    )
    c3.metric(
        "vs noise-free",
        f"{budget['rmse_vs_expected']:.2f}",
        help=(
            "RMSE against the noise-free yield (bu/acre): what a better model could remove; reaching 1.3 x the floor "
            f"allows {budget['allowed_vs_expected']:.2f}"
        ),
    )
    which = "with its calibration" if calibrated else "its own predictions"
    st.plotly_chart(error_budget_bars(budget, f"What {model} misses, {year}, {which}"), width="stretch")
    st.caption(
        f"RMSE, 1.3 x the noise floor and RMSE against the noise-free yield in bu/acre. Each bar: the share of one "
        "of the simulation's yield terms that the predictions miss (the least-squares slope of their error against "
        f"the noise-free yield on the term), over {budget['n']} labelled counties (bias {budget['bias']:+.2f} bu/acre). "
        + (
            ""
            if budget["joint_r2"] is None
            else f"The terms together explain {budget['joint_r2']:.0%} of the error's variance; the rest is not a linear "
            "function of any county term. "
        )
        + "SIMULATED data: the terms are the simulation's hidden truth (docs/crop-yield-model.md, error budget)."
        + ("" if role == "test" else f" {year} is not the checkpoint's test year: these are not held-out figures.")
    )


def has_error_budget(ds: YieldDataset) -> bool:
    """Whether the error budget can be drawn for ``ds``: a simulated dataset whose card records its simulation."""
    try:
        return simulation_config_of(ds) is not None
    except GeoappError:  # a card of another version: the panel is not offered
        return False


def with_noise_free(ds: YieldDataset, year: int, table: pd.DataFrame) -> pd.DataFrame:
    """``table`` plus ``noise_free_error`` (predicted - the noise-free yield, bu/acre) on a simulated dataset.

    The simulation's noise-free yield is the dataset's ``expected`` column (simulated data only); a real
    dataset's table comes back as it is.
    """
    if not ds.simulated or "expected" not in ds.yields.columns:
        return table
    rows = ds.yields[ds.yields["year"] == int(year)]
    expected = dict(zip(rows["geoid"].astype(str), rows["expected"].astype(float), strict=True))
    noise_free = np.array([expected.get(str(g), np.nan) for g in table["geoid"]], dtype=np.float64)
    if not np.isfinite(noise_free).any():  # no noise-free yield for this year: no such view
        return table
    return table.assign(noise_free_error=table["predicted"].to_numpy(dtype=np.float64) - noise_free)


def map_views(table: pd.DataFrame | None) -> tuple[str, ...]:
    """The map views a page offers.

    True yields only without predictions; the noise-free error on simulated data (:func:`with_noise_free`);
    the county offsets when there are some.
    """
    if table is None:
        return MAP_VIEWS[:1]
    extra = (NOISE_FREE_VIEW,) if "noise_free_error" in table.columns else ()
    return (*MAP_VIEWS, *extra, *((OFFSET_VIEW,) if "offset" in table.columns else ()))


def map_layer(ds: YieldDataset, year: int, view: str, table: pd.DataFrame | None) -> tuple[pd.Series, ColorScale]:
    """Values per geoid and the colour scale of a map view.

    True and predicted share one sequential scale (the dataset's label range); the error maps and the
    county offsets of a calibration are diverging and centred at 0.
    """
    yield_scale = sequential_scale(ds.labelled()["yield"].to_numpy(), "Yield (bu/acre)")
    if view == MAP_VIEWS[0] or table is None:
        return ds.year_yields(year), yield_scale
    series = table.set_index("geoid")
    if view == MAP_VIEWS[1]:
        return series["predicted"], ColorScale(yield_scale.name, yield_scale.vmin, yield_scale.vmax, "Predicted yield (bu/acre)")
    if view == OFFSET_VIEW and "offset" in series.columns:
        return series["offset"], diverging_scale(series["offset"].to_numpy(), "County offset (bu/acre)")
    if view == NOISE_FREE_VIEW and "noise_free_error" in series.columns:
        values = series["noise_free_error"]
        return values, diverging_scale(values.to_numpy(), "Predicted − noise-free yield (bu/acre, simulated)")
    return series["error"], diverging_scale(series["error"].to_numpy(), "Predicted − true (bu/acre)")


def cached_attention(checkpoint: str, dataset_path: str, year: int) -> tuple[np.ndarray, list[str], dict | None]:
    """Attention of every labelled county of ``year`` (layers, N, heads, T, T), their geoids, and what G adds.

    :func:`geoapp.analysis.attention.attention_for_year`: computed once per (checkpoint, dataset, year)
    and kept on disk (``python -m geoapp warm`` computes it ahead); in memory per the checkpoint's
    files too (:func:`checkpoint_stamp`).
    """
    return _cached_attention(checkpoint, dataset_path, year, checkpoint_stamp(checkpoint))


@st.cache_data(show_spinner="Computing attention for every county…", max_entries=16)
def _cached_attention(
    checkpoint: str, dataset_path: str, year: int, stamp: tuple[int, ...]
) -> tuple[np.ndarray, list[str], dict | None]:
    """The cached computation of :func:`cached_attention`; ``stamp`` only keys the cache."""
    from geoapp.analysis.attention import attention_for_year

    return attention_for_year(checkpoint, cached_dataset(dataset_path), year)


@st.cache_data(show_spinner="Evaluating the runs retrained without each group…", ttl=30, max_entries=16)
def cached_retrain_ablation(checkpoint: str, dataset_path: str) -> pd.DataFrame | None:
    """:func:`geoapp.analysis.ablation.retrain_ablation` (Figure 7), cached briefly: jobs add runs.

    Looks among the checkpoints and the dataset's experiment runs (plan ``ablation``'s retrained runs).
    """
    from geoapp.analysis.ablation import retrain_ablation
    from geoapp.experiments.store import runs_root

    ds = cached_dataset(dataset_path)
    return retrain_ablation(checkpoint, ds, roots=[runs_root(ds.name)])


def year_role_note(checkpoint: str | Path, year: int) -> str | None:
    """A note when ``year`` is not the checkpoint's test year (its scores there are not held out), else None."""
    from geoapp.analysis.yield_predictions import year_role

    role = year_role(checkpoint, year)
    if role == "test":
        return None
    used = {"training": "one of its training years", "validation": "its validation year", "unused": "not used to train it"}[role]
    return f"{year} is not this checkpoint's test year ({used}): pick its test year in the sidebar for a held-out score."


def retrain_ablation_note(table: pd.DataFrame, checkpoint: str | Path) -> str:
    """The caption under the Figure 7 bars: which runs the bars compare, and that each is one run.

    ``table`` is :func:`cached_retrain_ablation`'s; its first row is the all-inputs run compared with.
    """
    base = Path(str(table["checkpoint"].iloc[0]))
    runs = f"{len(table) - 1} run(s) retrained without a group, each against the all-inputs run `{run_name(base)}`"
    if base.resolve() != Path(checkpoint).resolve():
        return (
            f"{runs}, trained the same way as they were; the chosen checkpoint was trained otherwise (other epochs, "
            "seed or settings), so the bars do not compare with its score. One run each: a seed's noise is in every bar."
        )
    return f"{runs} (the chosen checkpoint). One run each: a seed's noise is in every bar."


def cached_ablation(checkpoint: str, dataset_path: str, year: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """:func:`geoapp.analysis.ablation.what_if_ablation`, cached per (checkpoint, its files' state, dataset, year)."""
    return _cached_ablation(checkpoint, dataset_path, year, checkpoint_stamp(checkpoint))


@st.cache_data(show_spinner="Masking each feature group for every county…", max_entries=16)
def _cached_ablation(checkpoint: str, dataset_path: str, year: int, stamp: tuple[int, ...]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The cached computation of :func:`cached_ablation`; ``stamp`` only keys the cache."""
    from geoapp.analysis.ablation import what_if_ablation

    return what_if_ablation(checkpoint, cached_dataset(dataset_path), year)


def attention_choice(per_head: np.ndarray, layer: int, head: int | str) -> tuple[np.ndarray, np.ndarray, str]:
    """The attention matrix S of one layer and head (or the mean over heads), what each month receives, and its label.

    Args:
        per_head: (layers, heads, T, T) mean attention (:class:`geoapp.analysis.attention.AttentionSummary`).
        layer: layer index (0-based).
        head: head index (0-based) or ``"mean"`` for the mean over the heads.

    Returns:
        (T, T) matrix (rows attend to columns), (T,) attention each month receives (the column means:
        the same definition as ``AttentionSummary.received``, for the chosen layer and head) and a label
        such as ``"layer 1, head 2"``.
    """
    matrix = per_head[layer].mean(axis=0) if head == "mean" else per_head[layer, int(head)]
    label = f"layer {layer + 1}, {'mean of the heads' if head == 'mean' else f'head {int(head) + 1}'}"
    return matrix, matrix.mean(axis=0), label


def _remember_scope() -> None:
    scope = st.session_state.get("att_scope")
    if scope and not str(scope).startswith("all"):
        remember("county", scope)


def scope_select(ds: YieldDataset, geoids: list[str], container=st) -> str | None:
    """A selectbox of "all (mean)" and the counties ``geoids``; returns the chosen geoid or None for all.

    It opens on the selected county (``sel_county``, e.g. clicked on the Yield map) when it is among
    ``geoids``; picking a county there selects it for the other pages too.
    """
    options = ["all (mean)", *geoids]
    labels = county_labels(ds)
    current = st.session_state.get("sel_county")
    scope = container.selectbox(
        "Counties",
        options,
        index=options.index(current) if current in options else 0,
        format_func=lambda g: g if g.startswith("all") else f"{labels.get(g, g)} ({g})",
        key="att_scope",
        on_change=_remember_scope,
    )
    if current and current not in options and scope.startswith("all"):
        st.caption(f"{ds.county_label(current)} has no label this year: showing all labelled counties.")
    return None if scope.startswith("all") else scope


def true_critical_months(ds: YieldDataset) -> dict | None:
    """The simulation's true critical-month weights (month -> weight), or None when the dataset has no truth."""
    return ((ds.truth or {}).get("critical_months") or {}).get("combined") or None


def critical_months_caption(ds: YieldDataset) -> str:
    """What the bars beside the learned attention are, or why there are none."""
    if true_critical_months(ds):
        return (
            "True critical months: the simulation's water and heat stress month weights, mixed by each stress's share "
            "of yield variance."
        )
    if ds.simulated:
        return "True critical months: not recorded for this simulated dataset (its truth.json lacks them)."
    return (
        "True critical months: unknown for real data. Only a simulation knows which months drive yield, so the bars "
        "show where the model looks, not what drives yield."
    )


_ANCHOR_SOURCES = {
    "cropland": "the county's cropland centre (from the land-cover map)",
    "interior": "an interior point of the county polygon (no cropland centre was found)",
}


def anchor_note(ds: YieldDataset, geoid: str) -> str | None:
    """Where a real dataset placed the county's anchor tile (``anchor_source`` in counties.csv), if recorded."""
    if "anchor_source" not in ds.counties.columns:
        return None
    source = ds.counties.set_index("geoid")["anchor_source"].get(str(geoid))
    if not isinstance(source, str) or not source:
        return None
    return f"Anchor tile at {_ANCHOR_SOURCES.get(source, source)}."


# ---- 3-D view of the counties -----------------------------------------------------------------
@st.cache_data(show_spinner="Simplifying the county polygons for the 3-D view…", max_entries=8)
def cached_county_footprints(dataset_path: str, fingerprint: str) -> tuple[CountyFootprints, list]:
    """The dataset's counties for the 3-D view (:func:`county_footprints`) and its states' borders in the same frame.

    Once per dataset (path and fingerprint): projecting and simplifying the polygons takes about 0.3 s.
    """
    from geoapp.data.counties import load_counties, state_outlines_geojson_path
    from geoapp.viz.maps import load_geojson

    ds = cached_dataset(dataset_path)
    states = sorted({str(s) for s in ds.counties["state"]})
    polygons = load_counties(states)
    footprints = county_footprints(polygons[polygons["geoid"].isin(set(ds.counties["geoid"].astype(str)))])
    return footprints, state_paths(load_geojson(state_outlines_geojson_path(states)), footprints.origin_m)


def county_3d_view(ds: YieldDataset, year: int, view: str, table: pd.DataFrame | None, height: int = 560) -> None:
    """A toggle (off by default) and, when on, the extruded counties of ``year``: height = yield, colour = error.

    The height shows the predicted yield in the Predicted view and the true yield otherwise; the
    colour is predicted - true on a diverging scale centred at 0 (grey where unknown, e.g. without a
    checkpoint). The deck is about 0.4 MB for the demo's 1,175 counties, hence off by default.
    """
    if not st.toggle("3-D view: height = yield, colour = error", key="yield_3d", help="Drag to orbit, scroll to zoom."):
        return
    with error_box():
        predicted = view == MAP_VIEWS[1] and table is not None
        heights, _ = map_layer(ds, year, MAP_VIEWS[1] if predicted else MAP_VIEWS[0], table)
        if table is not None:  # coloured by the error the map shows: against the noise-free yield when that view is on
            errors, scale = map_layer(ds, year, NOISE_FREE_VIEW if view == NOISE_FREE_VIEW else MAP_VIEWS[2], table)
        else:
            errors, scale = pd.Series(dtype=float), diverging_scale(np.zeros(0), "Predicted − true (bu/acre)")
        footprints, states = cached_county_footprints(str(ds.root), ds.fingerprint)
        what = "predicted" if predicted else "true"
        simulated = " · simulated data" if ds.simulated else ""
        against = "noise-free" if view == NOISE_FREE_VIEW and table is not None else "true"
        st.markdown(f"**3-D counties, {year}: height = {what} yield, colour = error (predicted − {against}){simulated}**")
        deck = county_3d_deck(
            footprints,
            heights,
            errors,
            scale,
            labels=county_labels(ds),
            states=states,
            height_label=f"{what.capitalize()} yield",
            error_label=f"Error (predicted − {against})",
        )
        st.pydeck_chart(deck, height=height, key="yield_3d_chart")
        st.html(scale.legend_html())
        grey = "grey: no error to show (pick a checkpoint)" if table is None else "grey: no prediction or a withheld true yield"
        st.caption(
            f"Height from 0, {KM_PER_BU:g} km per bu/acre; flat: no {what} yield. Colour: {grey}. Counties simplified to "
            f"{SIMPLIFY_TOLERANCE_M / 1000:g} km in {PROJECTED_CRS} (equal area); drag to orbit, scroll to zoom."
        )


@st.cache_resource(show_spinner=False, max_entries=2)
def _county_polygons(states: tuple[str, ...]):
    """The dataset's county polygons for a GeoJSON export (display-simplified, shared borders kept; EPSG:4326)."""
    return simplified_counties(list(states))


def prediction_downloads(ds: YieldDataset, year: int, checkpoint: str, table: pd.DataFrame) -> None:
    """Two download buttons: the year's county predictions as CSV, and as GeoJSON with the county polygons.

    Files are built only when clicked; their names and every row say which dataset (simulated or
    real), checkpoint and year they hold (:mod:`geoapp.viz.exports`).
    """
    name, simulated = ds.root.name, bool(ds.simulated)
    left, right = st.columns(2)
    left.download_button(
        "Predictions (CSV)",
        lambda: predictions_csv(table, ds.counties, name, simulated, checkpoint, year),
        file_name=predictions_file_name("csv", name, simulated, checkpoint, year),
        mime="text/csv",
        on_click="ignore",
        key="yield_pred_csv",
    )
    states = tuple(sorted({str(s) for s in ds.counties["state"]}))
    right.download_button(
        "Predictions (GeoJSON)",
        lambda: predictions_geojson(table, _county_polygons(states), name, simulated, checkpoint, year),
        file_name=predictions_file_name("geojson", name, simulated, checkpoint, year),
        mime="application/geo+json",
        on_click="ignore",
        key="yield_pred_geojson",
        help="County polygons (EPSG:4326, simplified for display) with true, predicted and error (bu/acre).",
    )
