"""The Experiments page's parts: a plan's tables and figures from the results store, its missing runs, the job queue.

Everything shown comes from :mod:`geoapp.experiments` (the store, the report's tables); this module
only lays it out with Streamlit and builds the plotly figures. Results on simulated data carry the
label wherever they are shown, and the paper's numbers are labelled as not comparable.
"""

from __future__ import annotations

import math
import warnings

import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from geoapp.data.dataset import YieldDataset
from geoapp.errors import InputError
from geoapp.experiments.keeper import ensure_keeper, keeper_file
from geoapp.experiments.paper import NOT_COMPARABLE, PAPER_LABELS, TABLE_I_RMSE, TABLE_II_R2
from geoapp.experiments.paper import YEARS as PAPER_YEARS
from geoapp.experiments.plan import PLANS, Plan, RunSpec, check_plan
from geoapp.experiments.queue import advance, queue_runs, read_queue
from geoapp.experiments.report import (
    BUDGET_TERMS,
    ablation_model,
    ablation_table,
    augment_section,
    cell_text,
    choice_cell,
    context_choice,
    context_table,
    context_where,
    location_section,
    mean_over_years,
    missing_hours,
    missing_runs,
    results_csv,
    results_frame,
    run_labels,
    scarcity_table,
    trend_section,
    validation_choice,
    year_table,
)
from geoapp.experiments.store import ResultStore, StoreWarning, runs_root

__all__ = [
    "plan_select",
    "read_store",
    "filters",
    "result_tables",
    "figures",
    "context_view",
    "comparison_view",
    "validation_choice_view",
    "download_results",
    "budget_section",
    "missing_section",
    "plan_misfit",
    "queue_section",
]


def plan_select() -> Plan:
    """A selectbox of the named plans (default ``paper``)."""
    names = list(PLANS)
    name = st.selectbox(
        "Plan", names, index=names.index("paper") if "paper" in names else 0, key="exp_plan",
        format_func=lambda n: f"{n}: {PLANS[n].description}",
    )  # fmt: skip
    return PLANS[name]


def read_store(ds: YieldDataset) -> tuple[ResultStore, list[dict]]:
    """The dataset's store and its records; skipped damaged lines are shown as warnings (the page goes on)."""
    store = ResultStore.for_dataset(ds)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", StoreWarning)
        records = store.read()
    for w in caught:
        if issubclass(w.category, StoreWarning):
            st.warning(str(w.message))
    return store, records


def filters(plan: Plan) -> tuple[list[str], list[int], int]:
    """Model, test-year and N_y filters over the plan's runs: (models, years, N_y of the year tables)."""
    runs = plan.runs()
    years = sorted({r.test_year for r in runs})
    n_values = sorted({r.n_train_years for r in runs}, reverse=True)
    # Another plan, or back from another page (Streamlit forgets the values of widgets it did not draw):
    # the plan's own models, years and N_y, all chosen.
    keys = ("exp_models", "exp_years", "exp_ny")
    if st.session_state.get("exp_filters_of") != plan.name or any(k not in st.session_state for k in keys):
        st.session_state.update(exp_models=plan.models(), exp_years=years, exp_ny=n_values[0], exp_filters_of=plan.name)
    a, b, c = st.columns([3, 2, 1])
    models = a.multiselect("Models", plan.models(), key="exp_models")
    chosen_years = b.multiselect("Test years", years, key="exp_years")
    n_y = c.selectbox("N_y", n_values, key="exp_ny")
    return models, sorted(chosen_years), int(n_y)


SCORES = {
    "own": "the model's own predictions",
    "trend": "+ the trend of its training residuals",
    "county_trend": "+ county offsets and trend (residual calibration)",
}
"""The scores the tables can show: a model's own, or with each residual calibration (geoapp.training.calibration)."""


def scores_select() -> str:
    """A radio choosing which scores the tables and figures show (:data:`SCORES`)."""
    return st.radio(
        "Scores", list(SCORES), format_func=SCORES.get, horizontal=True, key="exp_scores",
        help="Residual calibration: after training, a line (and shrunk county offsets) fitted to the model's "
        "residuals on its training years is added to its predictions; runs made before it existed have no such "
        "score until `python -m geoapp experiments calibrate`.",
    )  # fmt: skip


def scored(df: pd.DataFrame, scores: str) -> pd.DataFrame:
    """``df`` (:func:`~geoapp.experiments.report.results_frame`) with ``rmse`` and ``r2`` replaced by ``scores``'s.

    Runs without those scores are dropped (they count as missing in the tables).
    """
    if scores == "own":
        return df
    out = df.assign(rmse=df[f"rmse_{scores}"], r2=df[f"r2_{scores}"])
    return out[out["rmse"].notna()]


def _text_table(table: pd.DataFrame, models: list[str]) -> pd.DataFrame:
    out = pd.DataFrame({col: [cell_text(table.loc[m, col]) for m in models] for col in table.columns})
    out.insert(0, "model", [PAPER_LABELS.get(m, m) for m in models])
    return out


def result_tables(df: pd.DataFrame, models: list[str], years: list[int], n_y: int, simulated: bool) -> None:
    """RMSE and R^2 per model x test year and the mean over the chosen years (mean ± sd (seeds)); the paper's beside."""
    if not models or not years:
        st.info("Choose at least one model and one test year.")
        return
    data = "simulated data" if simulated else "real data"
    for metric, title, paper in (("rmse", "RMSE (bu/acre)", TABLE_I_RMSE), ("r2", "R²", TABLE_II_R2)):
        st.markdown(f"**{title}, N_y = {n_y}** ({data}; mean ± sd (seeds) when several seeds)")
        st.dataframe(_text_table(year_table(df, metric, models, years, n_y), models), hide_index=True, width="stretch")
        if n_y == 10:
            with st.expander(f"The paper's table ({NOT_COMPARABLE})"):
                rows = [[PAPER_LABELS[m], *paper[m]] for m in models if m in paper]
                st.caption(f"{NOT_COMPARABLE}: MODIS, PRISM and SoilGrids at 1 km with NASS yields; not this dataset.")
                st.dataframe(pd.DataFrame(rows, columns=["model", *map(str, PAPER_YEARS), "Avg"]), hide_index=True)


def figures(df: pd.DataFrame, plan: Plan, models: list[str], years: list[int], simulated: bool) -> None:
    """The label-scarcity curve (mean RMSE over the chosen years per N_y) and the feature-group ablation bars."""
    if not years:
        return
    label = " (SIMULATED data)" if simulated else ""
    runs = plan.runs()
    n_values = sorted({r.n_train_years for r in runs}, reverse=True)
    scarce = [m for m in models if any(r.model == m and r.n_train_years != 10 for r in runs)]
    left, right = st.columns(2)
    if scarce and len(n_values) > 1:
        table = scarcity_table(df, "rmse", scarce, years, n_values)
        fig = go.Figure()
        for m in scarce:
            fig.add_scatter(
                x=[str(n) for n in n_values], y=[table.loc[m, f"N_y={n}"]["mean"] for n in n_values],
                mode="lines+markers", name=PAPER_LABELS.get(m, m),
            )  # fmt: skip
        fig.update_layout(
            title=f"Mean RMSE over {years[0]}-{years[-1]} by N_y{label}", xaxis_title="N_y (training years)",
            yaxis_title="RMSE (bu/acre)", height=360, margin={"t": 50, "b": 40},
        )  # fmt: skip
        left.plotly_chart(fig, width="stretch")
    if any(r.exclude_group for r in runs) and ablation_model(plan) in models:
        ab = ablation_table(df, years, ablation_model(plan))
        ab = ab[ab["group"].isin({r.exclude_group for r in runs if r.exclude_group})]
        fig = go.Figure(go.Bar(x=ab["group"], y=ab["change"], marker_color="#1f77b4"))
        fig.update_layout(
            title=f"SEMI-HA: RMSE change without each group{label}", xaxis_title="feature group left out",
            yaxis_title="RMSE change (bu/acre)", height=360, margin={"t": 50, "b": 40},
        )  # fmt: skip
        right.plotly_chart(fig, width="stretch")
        missing = [g for g, v in zip(ab["group"], ab["change"], strict=True) if not math.isfinite(v)]
        if missing:
            right.caption(f"No complete result yet without: {', '.join(missing)}.")


def validation_choice_view(df: pd.DataFrame, plan: Plan, models: list[str], years: list[int], n_y: int, simulated: bool) -> None:
    """Per test year, the run chosen on the validation year among the chosen models at ``n_y``, beside hindsight's best.

    ``plan`` names the rows of ``df`` (the :func:`~geoapp.experiments.report.by_variant` split plan).
    """
    table = validation_choice(df, plan, models, years, n_y)
    if table.empty or (table["lacking"] == table["candidates"]).all():
        return
    data = "simulated data" if simulated else "real data"
    st.markdown(
        f"**The model a user would ship, chosen on the validation year** (N_y = {n_y}, {data}): per test year, the run "
        "with the lowest RMSE on the year before, and its test RMSE; beside it the lowest test RMSE, known only in hindsight."
    )
    rows = []
    for _, r in table.iterrows():
        if pd.isna(r["chosen"]):
            lacking = f"— ({int(r['lacking'])} of {int(r['candidates'])} runs lack a result or a validation score)"
            rows.append([str(int(r["year"])), lacking, "", "", ""])
        else:
            hindsight = f"{cell_text(r['hindsight_rmse'])} ({PAPER_LABELS.get(r['hindsight_model'], r['hindsight_model'])})"
            rows.append([str(int(r["year"])), r["chosen"], cell_text(r["val_rmse"]), cell_text(r["rmse"]), hindsight])
    columns = ["test year", "chosen on validation", "validation RMSE", "test RMSE", "hindsight: lowest test RMSE"]
    st.dataframe(pd.DataFrame(rows, columns=columns), hide_index=True, width="stretch")


def comparison_view(plan: Plan, records: list[dict], years: list[int]) -> None:
    """Plans ``trend``, ``location`` and ``augment`` beside the runs they compare with (as the report's sections show them).

    ``trend``: each model with and without the trend (plan ``baselines``); ``location``: ``semi-ha-loc``
    beside SEMI-HA's three seeds (plan ``seeds``); ``augment``: each model with and without dihedral
    augmentation over the same seeds. Nothing for the other plans, or before any run.
    """
    sections = {"trend": trend_section, "location": location_section, "augment": augment_section}
    if not years or plan.name not in sections:
        return
    section = sections[plan.name](records, years)
    if section:
        st.markdown(section)


def context_view(records: list[dict], years: list[int], simulated: bool) -> None:
    """Plan ``context``: SEMI-HA's test and validation RMSE per context-loss weight alpha, S-HA as alpha = 0.

    The year tables of the other plans would pool the alphas as if they were seeds; this view keeps
    one row per alpha, the alpha chosen per test year on its validation year, and RMSE against alpha.
    The models' own scores (no residual calibration).
    """
    if not years:
        st.info("Choose at least one test year.")
        return
    table = context_table(records, years)
    data = "SIMULATED data" if simulated else "real data"
    st.markdown(
        f"**SEMI-HA's context-loss weight alpha (Eq. 2), {context_where()}** ({data}). S-HA is the alpha = 0 end. "
        "Test-year RMSE (bu/acre) per run; the validation year (test year - 1) chooses alpha, never the test year."
    )
    if len(table) == 0 or int((table["alpha"] > 0).sum()) < 2:
        st.info("No swept alpha has a result yet: `python -m geoapp experiments run --plan context` trains them.")
        return
    choice = context_choice(table, years)
    shown = pd.DataFrame(
        {
            "setting": list(table.index),
            **{str(y): [cell_text(v) for v in table[str(y)]] for y in years},
            "test RMSE, mean": [cell_text(v) or "—" for v in table["Mean"]],
            "validation RMSE, mean": [cell_text(v) or "—" for v in table["val Mean"]],
        }
    )
    chosen = {
        "setting": "SEMI-HA, alpha chosen on the validation year",
        **{str(y): choice_cell(choice, y) for y in years},
        "test RMSE, mean": cell_text(choice["mean"]) or "—",
        "validation RMSE, mean": "",
    }
    st.dataframe(pd.concat([shown, pd.DataFrame([chosen])], ignore_index=True), hide_index=True, width="stretch")
    if choice["lacking"]:
        which = "; ".join(f"{y}: alpha {', '.join(f'{a:g}' for a in alphas)}" for y, alphas in choice["lacking"].items())
        st.caption(
            f"No choice yet where an alpha lacks a run or a validation score ({which}): `python -m geoapp experiments "
            "run --plan context` trains the runs, `python -m geoapp experiments validation` scores older ones."
        )
    fig = go.Figure()
    for column, name in (("Mean", "test years"), ("val Mean", "validation years")):
        fig.add_scatter(x=table["alpha"].tolist(), y=table[column].tolist(), mode="lines+markers", name=name)
    fig.update_layout(
        title=f"Mean RMSE {years[0]}-{years[-1]} against alpha ({data}; alpha = 0 is S-HA)", xaxis_title="alpha (Eq. 2)",
        yaxis_title="RMSE (bu/acre)", height=360, margin={"t": 50, "b": 40},
    )  # fmt: skip
    st.plotly_chart(fig, width="stretch")


def download_results(own: pd.DataFrame, store: ResultStore, plan: Plan) -> None:
    """A button that downloads every result of ``plan`` as CSV (:func:`~geoapp.experiments.report.results_csv`).

    One row per run: the model's own and calibrated scores, the error budget where there is one; each row
    names the dataset and whether its data are simulated.
    """
    st.download_button(
        f"Results of plan '{plan.name}' (CSV, {len(own)} runs)",
        data=results_csv(own, store.dataset),
        file_name=f"{store.dataset['name']}-{plan.name}-results.csv",
        mime="text/csv",
        key="exp_download",
        disabled=own.empty,
        help="One row per run: model, test year, N_y, seed, feature group left out, overrides; RMSE (bu/acre) and R^2 "
        "of the model's own predictions and under each residual calibration; the error budget on simulated data.",
    )


def budget_section(df: pd.DataFrame, models: list[str], years: list[int], n_y: int) -> None:
    """SIMULATED data: the share of each simulated yield term the models' own predictions miss, as a heatmap.

    The mean over the chosen years (and over the seeds that have them all) of each run's error budget
    (``metrics.budget``); nothing is drawn when no run of the choice has one.
    """
    df = df[df["rmse_vs_expected"].notna()]
    rows = {m: {t: mean_over_years(df, f"missed_{t}", m, n_y, years)["mean"] for t in BUDGET_TERMS} for m in models}
    rows = {m: v for m, v in rows.items() if any(math.isfinite(x) for x in v.values())}
    if not rows or not years:
        return
    st.markdown(f"**What the models miss, N_y = {n_y}** (SIMULATED data: the simulation's own yield terms)")
    names = [PAPER_LABELS.get(m, m) for m in rows]
    z = [[rows[m][t] for t in BUDGET_TERMS] for m in rows]
    text = [["" if not math.isfinite(v) else f"{v:+.2f}" for v in row] for row in z]
    fig = go.Figure(
        go.Heatmap(
            z=z, x=list(BUDGET_TERMS), y=names, text=text, texttemplate="%{text}", zmin=-1, zmax=1,
            colorscale="RdBu_r", colorbar={"title": "share missed"},
            hovertemplate="%{y}: misses %{z:+.2f} of the %{x} term<extra></extra>",
        )
    )  # fmt: skip
    fig.update_layout(
        title=f"Share of each yield term missed, mean {years[0]}-{years[-1]} (simulated)",
        yaxis={"autorange": "reversed"}, height=80 + 32 * len(names), margin={"t": 50, "b": 40},
    )  # fmt: skip
    st.plotly_chart(fig, width="stretch")
    st.caption(
        "Each cell: the slope of a run's error against the noise-free yield on one term of the simulated yield "
        "(potential + water + heat + excess + trend + county effect + noise) over the test year's counties, the "
        "model's own predictions: 0 the predictions follow the term, 1 they ignore it (`python -m geoapp experiments "
        "budget`, docs/crop-yield-model.md)."
    )


def plan_misfit(plan: Plan, ds: YieldDataset) -> str | None:
    """Why ``plan`` cannot run on ``ds`` (a test year or N_y the data lacks, an unknown model), or None when it can."""
    try:
        check_plan(plan, ds.years)
    except InputError as exc:
        return (
            f"Plan '{plan.name}' cannot run on this dataset ({ds.years[0]}-{ds.years[-1]}): {exc}. None of its runs is "
            "listed as missing or offered to queue. A plan file chooses test years and N_y the data holds: "
            "`python -m geoapp experiments run --plan-file FILE` (docs/experiments.md)."
        )
    return None


def missing_section(ds: YieldDataset, plan: Plan, records: list[dict], models: list[str], years: list[int]) -> None:
    """The plan's runs without a result (filtered), and a button that queues them as training jobs.

    A plan the dataset cannot hold (its years or N_y) gets a note saying why instead: none of its runs
    could be trained, so none is called missing.
    """
    if plan_misfit(plan, ds):  # the page says why above
        return
    missing = missing_runs(plan, records, runs_root(ds.name))  # a run a background runner trains now says so
    rows = missing["name"].map(run_labels(plan))  # the table row each run belongs to (a model, or one of its settings)
    missing = missing[rows.isin(models) & missing["test_year"].isin(years)]
    training = int(missing["status"].str.startswith("training").sum())
    now = f"; {training} training now" if training else ""
    st.subheader(f"Missing runs ({len(missing)} of {len(plan.runs())}{now})")
    if missing.empty:
        st.success("Every run of this plan (within the filters) has a result.")
        return
    st.dataframe(missing, hide_index=True, width="stretch")
    hours, unknown = missing_hours(results_frame(records), missing)
    if len(missing) > unknown:
        st.caption(
            f"About {hours:.1f} h of one runner at the median time per model of the runs so far"
            + (f" ({unknown} runs of models not timed yet not counted)" if unknown else "")
            + "; on the CPU, `--workers N` shares them among N runner processes."
        )
    st.caption(
        "Queued runs train one after another as training jobs (on the GPU when there is one); a background process "
        "scores each finished job into the results store and starts the next until the queue is empty, whether or "
        f"not this page stays open. `python -m geoapp experiments run --plan {plan.name} --workers N` trains them "
        "in N processes instead."
    )
    waiting = missing[~missing["status"].str.startswith("training")]  # a runner trains the others now
    if waiting.empty:
        st.info("Every run without a result is being trained by a runner now.")
        return
    if st.button(f"Queue {len(waiting)} missing runs as training jobs", key="exp_queue"):
        by_name = {r.name: r for r in check_plan(plan, ds.years)}  # refuses years outside the data, unknown models
        runs: list[RunSpec] = [by_name[n] for n in waiting["name"]]
        queued, refused = queue_runs(runs, ds, plan.name)
        if queued:
            st.success(f"Queued {len(queued)} runs.")
        else:
            st.info("Those runs were already queued (or none could be).")
        if refused:
            st.warning("Not queued (a training job cannot train them):\n\n" + "\n".join(f"- {r}" for r in refused))
        step = advance(ds)
        if step["started"]:
            st.info(f"Started {step['started']}.")
        if read_queue(ds.name):
            pid = ensure_keeper(ds)
            st.caption(f"Queue kept moving by process {pid} (log: `{keeper_file(ds.name).with_name('keeper.log')}`).")


def queue_section(ds: YieldDataset) -> None:
    """Move the job queue on (collect finished jobs, start the next) and show it."""
    if not read_queue(ds.name):
        return
    step = advance(ds)
    for name in step["collected"]:
        st.toast(f"Result collected: {name}")
    entries = read_queue(ds.name)
    if entries:
        ensure_keeper(ds)  # a queue left without its keeper (a reboot, a killed process) moves on again
    st.subheader("Queue")
    running = f"running: {step['running']}" if step["running"] else "no job of the queue running"
    st.caption(f"{running}; {step['waiting']} waiting. Follow a job on the Training page.")
    if entries:
        st.dataframe(
            pd.DataFrame([{"run": e["name"], "plan": e.get("plan"), "job": e.get("job_id") or "waiting"} for e in entries]),
            hide_index=True,
            width="stretch",
        )
