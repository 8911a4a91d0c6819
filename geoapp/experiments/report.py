"""Paper-style tables and figures from the results store, and ``docs/experiments.md``.

- :func:`results_frame`: the results that count (per run, the latest ``ok``), one row per run.
- :func:`year_table`: RMSE or R^2 per model x test year plus the mean over the years, as mean +/- sd
  over seeds (Tables I and II). The mean over years is taken per seed, over the seeds that have every year.
- :func:`scarcity_table`: the mean over the test years per model x N_y (Figures 5 and 6).
- :func:`ablation_table`: SEMI-HA's mean RMSE with each feature group left out, and its change from
  all inputs (Figure 7).
- :func:`missing_runs`: the plan's runs without a result (missing, or failed with the error).
- :func:`location_table` / :func:`location_section`: ``semi-ha-loc`` (plan ``location``) beside SEMI-HA's
  seeds (plan ``seeds``): per seed the mean over the test years, mean +/- sd over seeds, the per-year RMSE.
- :func:`context_table` / :func:`context_choice` / :func:`context_section`: SEMI-HA's context-loss weight
  alpha (plan ``context``, N_y = 4) beside S-HA, test and validation RMSE, and alpha chosen per test year
  on the validation year.
- :func:`write_report`: all of it as markdown, the paper's own numbers beside ours labelled
  :data:`~geoapp.experiments.paper.NOT_COMPARABLE`, the two figures as SVG; written through a
  temporary file and a rename. The hand-written part of the document above :data:`MARKER` is kept.
"""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from geoapp.analysis.error_budget import BUDGET_TERMS as ERROR_BUDGET_TERMS
from geoapp.data.bands import FEATURE_GROUPS
from geoapp.experiments.paper import NOT_COMPARABLE, PAPER_LABELS, SEMI_HA_OVER_S_HA, TABLE_I_RMSE, TABLE_II_R2
from geoapp.experiments.paper import YEARS as PAPER_YEARS
from geoapp.experiments.plan import PLANS, Block, Plan
from geoapp.experiments.store import OK, latest_results
from geoapp.experiments.svg import bar_chart, heatmap, line_chart
from geoapp.fileio import atomic_write_text

__all__ = [
    "MARKER",
    "COLUMNS",
    "results_frame",
    "results_csv",
    "mean_over_years",
    "year_table",
    "scarcity_table",
    "improvement_table",
    "ablation_table",
    "location_table",
    "location_section",
    "trend_section",
    "augment_table",
    "augment_section",
    "validation_choice",
    "validation_choice_section",
    "context_alpha",
    "context_table",
    "context_choice",
    "choice_cell",
    "context_where",
    "context_section",
    "context_svg",
    "time_table",
    "time_section",
    "missing_hours",
    "missing_runs",
    "variant_label",
    "run_labels",
    "by_variant",
    "ablation_model",
    "cell_text",
    "markdown_table",
    "report_markdown",
    "scarcity_svg",
    "ablation_svg",
    "write_report",
]

MARKER = "<!-- Everything below is written by `python -m geoapp experiments report`; edit above this line. -->"
CALIBRATED = {"trend": "trend", "county-trend": "county_trend"}
"""Residual calibrations a record's metrics may hold (``metrics.calibrated``) and their column suffixes."""
BUDGET_TERMS = ERROR_BUDGET_TERMS
"""The simulated yield terms of a record's ``metrics.budget`` (``missed``), in :mod:`geoapp.analysis.error_budget`'s order."""
COLUMNS = (
    "name", "model", "test_year", "n_train_years", "seed", "exclude_group", "overrides", "rmse", "r2", "n", "seconds",
    "val_rmse", "val_r2",
    *(f"{m}_{suffix}" for suffix in CALIBRATED.values() for m in ("rmse", "r2")),
    "rmse_vs_expected", *(f"missed_{t}" for t in BUDGET_TERMS),
)  # fmt: skip
METRIC_LABELS = {"rmse": "RMSE (bu/acre)", "r2": "R^2"}


def results_frame(records: Iterable[Mapping[str, Any]], plan: Plan | None = None) -> pd.DataFrame:
    """One row per run with an ``ok`` result (its latest), restricted to ``plan``'s runs when given.

    Columns: :data:`COLUMNS` (``rmse`` in bu/acre; ``overrides`` as canonical JSON; ``seconds`` of training;
    ``val_rmse``, ``val_r2``: the scores on the run's validation year (test year - 1);
    ``rmse_trend``, ``r2_trend``, ``rmse_county_trend``, ``r2_county_trend``: the scores under each residual
    calibration; ``rmse_vs_expected`` and ``missed_<term>``: the error budget on simulated data; NaN for a
    record without them).
    """
    wanted = {r.key() for r in plan.runs()} if plan is not None else None
    rows = []
    for key, rec in latest_results(records).items():
        if rec["status"] != OK or (wanted is not None and key not in wanted):
            continue
        k = rec["key"]
        rows.append(
            {
                "name": rec["name"],
                **{f: k[f] for f in ("model", "test_year", "n_train_years", "seed", "exclude_group")},
                "overrides": json.dumps(k["overrides"], sort_keys=True),
                "rmse": float(rec["metrics"]["rmse"]),
                "r2": float(rec["metrics"]["r2"]),
                "n": rec["metrics"].get("n"),
                "seconds": rec.get("seconds"),
                **_validation_columns(rec["metrics"].get("validation")),
                **_calibrated_columns(rec["metrics"].get("calibrated")),
                **_budget_columns(rec["metrics"].get("budget")),
            }
        )
    return pd.DataFrame(rows, columns=list(COLUMNS))


def results_csv(df: pd.DataFrame, dataset: Mapping[str, Any]) -> str:
    """``df`` (:func:`results_frame`) as CSV text that says what it is.

    Every row names the dataset, its fingerprint and ``data`` = ``SIMULATED`` or ``real``, so a copy
    never passes for the other. A text cell a spreadsheet would take for a formula starts with ``'``.

    Units as :func:`results_frame`: RMSE in bu/acre (yields in the dataset's unit), ``seconds`` of training.
    """
    label = "SIMULATED" if dataset.get("simulated") else "real"
    head = pd.DataFrame(
        {"dataset": dataset.get("name"), "fingerprint": dataset.get("fingerprint"), "data": label}, index=df.index
    )
    table = pd.concat([head, df], axis=1)
    for col in table.select_dtypes(include=["object", "string"]).columns:  # a folder name is the user's: never a formula
        table[col] = table[col].map(_not_a_formula)
    return table.to_csv(index=False, float_format="%.6g")


def _not_a_formula(cell: Any) -> Any:
    """A text cell that a spreadsheet would run as a formula (``=``, ``+``, ``-``, ``@``) gets a leading ``'``."""
    return f"'{cell}" if isinstance(cell, str) and cell[:1] in ("=", "+", "-", "@") else cell


def _finite(value: Any) -> float:
    """``value`` as a float when it is a finite number (not a bool), else NaN."""
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    return float(value) if ok else math.nan


def _validation_columns(validation: Any) -> dict[str, float]:
    """``val_rmse`` and ``val_r2`` from a record's ``metrics.validation`` (NaN where absent or malformed)."""
    validation = validation if isinstance(validation, Mapping) else {}
    return {f"val_{metric}": _finite(validation.get(metric)) for metric in ("rmse", "r2")}


def _calibrated_columns(calibrated: Any) -> dict[str, float]:
    """The calibrated-score columns of a record's ``metrics.calibrated`` (NaN where absent or malformed)."""
    out = {}
    for kind, suffix in CALIBRATED.items():
        entry = calibrated.get(kind) if isinstance(calibrated, Mapping) else None
        for metric in ("rmse", "r2"):
            out[f"{metric}_{suffix}"] = _finite(entry.get(metric) if isinstance(entry, Mapping) else None)
    return out


def _budget_columns(budget: Any) -> dict[str, float]:
    """The error-budget columns of a record's ``metrics.budget`` (NaN where absent or malformed)."""
    budget = budget if isinstance(budget, Mapping) else {}
    missed = budget.get("missed") if isinstance(budget.get("missed"), Mapping) else {}
    values = {"rmse_vs_expected": budget.get("rmse_vs_expected"), **{f"missed_{t}": missed.get(t) for t in BUDGET_TERMS}}
    return {k: _finite(v) for k, v in values.items()}


def _stats(values: Sequence[float]) -> dict[str, float]:
    """mean, sd (ddof 1; NaN for one value) and n of ``values``."""
    v = np.asarray(values, dtype=float)
    if v.size == 0:
        return {"mean": math.nan, "sd": math.nan, "n": 0}
    return {"mean": float(v.mean()), "sd": float(v.std(ddof=1)) if v.size > 1 else math.nan, "n": int(v.size)}


def _select(
    df: pd.DataFrame, model: str, n_train_years: int, exclude_group: str | None, seeds: Sequence[int] | None
) -> pd.DataFrame:
    sel = df[(df["model"] == model) & (df["n_train_years"] == n_train_years)]
    sel = sel[sel["exclude_group"].isna()] if exclude_group is None else sel[sel["exclude_group"] == exclude_group]
    return sel if seeds is None else sel[sel["seed"].isin(list(seeds))]


def mean_over_years(
    df: pd.DataFrame,
    metric: str,
    model: str,
    n_train_years: int,
    years: Sequence[int],
    exclude_group: str | None = None,
    seeds: Sequence[int] | None = None,
) -> dict[str, float]:
    """The mean of ``metric`` over ``years``, per seed that has every year, then mean +/- sd over those seeds.

    Returns ``mean``, ``sd``, ``n`` (seeds with every year) and ``years_done`` (most years any seed has).
    """
    sel = _select(df, model, n_train_years, exclude_group, seeds)
    sel = sel[sel["test_year"].isin(list(years))]
    per_seed = sel.groupby("seed")[metric].agg(["mean", "count"])
    complete = per_seed[per_seed["count"] == len(years)]["mean"].tolist()
    return {**_stats(complete), "years_done": int(per_seed["count"].max()) if len(per_seed) else 0}


def year_table(
    df: pd.DataFrame, metric: str, models: Sequence[str], years: Sequence[int], n_train_years: int = 10
) -> pd.DataFrame:
    """``metric`` per model (rows) and test year plus ``Mean`` (columns), each cell a dict of mean, sd, n (seeds)."""
    table = {}
    for model in models:
        row = {}
        for y in years:
            sel = _select(df, model, n_train_years, None, None)
            row[str(y)] = _stats(sel[sel["test_year"] == y][metric].tolist())
        row["Mean"] = mean_over_years(df, metric, model, n_train_years, years)
        table[model] = row
    return pd.DataFrame.from_dict(table, orient="index")


def scarcity_table(
    df: pd.DataFrame, metric: str, models: Sequence[str], years: Sequence[int], n_values: Sequence[int] = (10, 7, 4)
) -> pd.DataFrame:
    """Mean of ``metric`` over ``years`` per model (rows) and N_y (columns ``N_y=10`` ...), cells as in :func:`year_table`."""
    return pd.DataFrame.from_dict(
        {m: {f"N_y={n}": mean_over_years(df, metric, m, n, years) for n in n_values} for m in models}, orient="index"
    )


def improvement_table(df: pd.DataFrame, years: Sequence[int], n_values: Sequence[int] = (10, 7, 4)) -> pd.DataFrame:
    """SEMI-HA's improvement over S-HA in % (RMSE: lower is better; R^2: higher) per N_y, ours and the paper's."""
    rows = []
    for n in n_values:
        ours = {}
        for metric, sign in (("rmse", -1.0), ("r2", 1.0)):
            a = mean_over_years(df, metric, "semi-ha", n, years)["mean"]
            b = mean_over_years(df, metric, "s-ha", n, years)["mean"]
            ours[metric] = sign * (a - b) / abs(b) * 100 if math.isfinite(a) and math.isfinite(b) and b != 0 else math.nan
        paper = SEMI_HA_OVER_S_HA.get(n, (math.nan, math.nan))
        rows.append({"N_y": n, "rmse_%": ours["rmse"], "r2_%": ours["r2"], "paper_rmse_%": paper[0], "paper_r2_%": paper[1]})
    return pd.DataFrame(rows)


def ablation_table(df: pd.DataFrame, years: Sequence[int], model: str = "semi-ha", n_train_years: int = 10) -> pd.DataFrame:
    """Mean RMSE over ``years`` with all inputs (``ALL``) and with each feature group left out, and the change.

    Only the seeds of the ablation runs count for ``ALL`` too, so the change compares like with like.
    Columns: group, rmse (bu/acre), sd, n (seeds), change (bu/acre, + means worse without the group).
    """
    ablated = df[(df["model"] == model) & (df["n_train_years"] == n_train_years) & df["exclude_group"].notna()]
    seeds = sorted(ablated["seed"].unique().tolist()) or None
    base = mean_over_years(df, "rmse", model, n_train_years, years, None, seeds)
    rows = [{"group": "ALL", **base, "change": 0.0 if math.isfinite(base["mean"]) else math.nan}]
    for group in FEATURE_GROUPS:
        s = mean_over_years(df, "rmse", model, n_train_years, years, group, seeds)
        rows.append({"group": group, **s, "change": s["mean"] - base["mean"]})
    return pd.DataFrame(rows).rename(columns={"mean": "rmse"})


def missing_runs(plan: Plan, records: Iterable[Mapping[str, Any]], runs_dir: str | Path | None = None) -> pd.DataFrame:
    """The plan's runs without an ``ok`` result: name, model, test_year, n_train_years, seed, exclude_group, status, training_min.

    ``status`` is ``missing``, ``failed: <error>``, or (given ``runs_dir``) ``training (pid .. on .., since ..;
    epoch .. of up to .., best validation RMSE ..)`` for a run a runner holds now
    (:func:`~geoapp.experiments.claim.training_now`, :func:`~geoapp.experiments.claim.epochs_done`);
    ``training_min`` the minutes it has trained so far (NaN for the others).
    """
    from geoapp.experiments.claim import epochs_done, training_now, training_seconds
    from geoapp.training.model_kinds import model_kind
    from geoapp.training.yield_trainer import YieldTrainConfig

    latest = latest_results(records)
    rows = []
    for run in plan.runs():
        rec = latest.get(run.key())
        if rec is not None and rec["status"] == OK:
            continue
        holder = training_now(runs_dir, run.name) if runs_dir is not None else None
        seconds = training_seconds(runs_dir, run.name) if holder is not None else None
        if holder is not None:
            one_go = not model_kind(run.model).resumable  # ridge and RF fit in one go: one "epoch"
            max_epochs = 1 if one_go else run.train_config().get("epochs", YieldTrainConfig.epochs)
            done = epochs_done(Path(runs_dir) / run.name, max_epochs)
            status = f"training ({holder}" + (f"; {done})" if done else ")")
        else:
            status = "missing" if rec is None else f"failed: {rec.get('error')}"
        minutes = math.nan if seconds is None else round(seconds / 60.0, 1)
        rows.append({"name": run.name, **run.identity(), "status": status, "training_min": minutes})
    cols = ["name", "model", "test_year", "n_train_years", "seed", "exclude_group", "status", "training_min"]
    return pd.DataFrame(rows, columns=[*cols, "overrides"])[cols]


# ---- markdown --------------------------------------------------------------------------------
def cell_text(cell: Any, digits: int = 3) -> str:
    """``5.123 ± 0.120 (3)`` for a mean +/- sd over 3 seeds, ``5.123`` for one, ``missing`` / ``k/5 years``."""
    if not isinstance(cell, Mapping):
        return "" if cell is None or (isinstance(cell, float) and math.isnan(cell)) else f"{cell:.{digits}f}"
    if not math.isfinite(cell["mean"]):
        done = cell.get("years_done", 0)
        return f"{done} of the years" if done else "missing"
    text = f"{cell['mean']:.{digits}f}"
    if cell["n"] > 1:
        text += f" ± {cell['sd']:.{digits}f} ({cell['n']})"
    return text


def markdown_table(header: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    """A GitHub markdown table (pandas' ``to_markdown`` needs the tabulate package, not a dependency here)."""
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def _label(model: str) -> str:
    """A table's row label: the paper's name and geoapp's (``SEMI-HA (`semi-ha`)``), or a variant's own label."""
    if model not in PAPER_LABELS and " (" in model:  # a variant of :func:`run_labels`: model (overrides)
        return f"`{model}`"
    return f"{PAPER_LABELS.get(model, model)} (`{model}`)"


def variant_label(model: str, overrides: Mapping[str, Any]) -> str:
    """``semi-ha (alpha=0.05)``: a model and the overrides of one of its settings (``model_overrides`` flattened)."""
    flat: dict[str, Any] = {}
    for key, value in sorted(overrides.items()):
        if isinstance(value, Mapping):
            flat.update(sorted(value.items()))
        else:
            flat[key] = value
    return f"{model} ({', '.join(f'{k}={v}' for k, v in flat.items()) or 'defaults'})"


def run_labels(plan: Plan) -> dict[str, str]:
    """Each run's row in the tables, by run name: its model, or :func:`variant_label` where the model has several settings.

    A model the plan runs with several sets of overrides gets one row per set; pooled, its runs would
    be averaged as if they were seeds.
    """
    sets: dict[str, set[str]] = {}
    for run in plan.runs():
        sets.setdefault(run.model, set()).add(json.dumps(dict(run.overrides), sort_keys=True))
    return {r.name: r.model if len(sets[r.model]) == 1 else variant_label(r.model, r.overrides) for r in plan.runs()}


def by_variant(plan: Plan, df: pd.DataFrame) -> tuple[Plan, pd.DataFrame]:
    """``plan`` and its :func:`results_frame` with each model split into one row per set of overrides, where it has several.

    A plan whose models each run with one set of overrides (every named plan but ``context`` and ``augment``) comes back
    as it is. Otherwise the returned plan and frame name such models by :func:`variant_label`, for the
    tables and figures only: the returned plan's run keys are not the store's (use ``plan`` itself for
    :func:`missing_runs` and :func:`results_frame`).
    """
    labels = run_labels(plan)
    runs = plan.runs()
    if all(labels[r.name] == r.model for r in runs):
        return plan, df
    blocks = tuple(
        Block((labels[r.name],), (r.test_year,), (r.n_train_years,), (r.seed,), (r.exclude_group,), dict(r.overrides))
        for r in runs
    )
    return Plan(plan.name, plan.description, blocks), df.assign(model=df["name"].map(labels).fillna(df["model"]))


def _year_section(df: pd.DataFrame, metric: str, models: Sequence[str], years: Sequence[int], paper: dict) -> str:
    table = year_table(df, metric, models, years)
    header = ["model", *map(str, years), "mean over years", f"{NOT_COMPARABLE}: Avg"]
    rows = [
        [_label(m), *(cell_text(table.loc[m, str(y)]) for y in years), cell_text(table.loc[m, "Mean"]), _paper_avg(paper, m)]
        for m in models
    ]
    paper_rows = [[PAPER_LABELS[m], *(f"{v:g}" for v in paper[m])] for m in paper]
    return (
        markdown_table(header, rows)
        + f"\nThe paper's table ({NOT_COMPARABLE}: MODIS, PRISM and SoilGrids at 1 km with NASS yields, not this simulation):\n\n"
        + markdown_table(["paper", *map(str, PAPER_YEARS), "Avg"], paper_rows)
    )


def _paper_avg(paper: dict, model: str) -> str:
    return f"{paper[model][-1]:g}" if model in paper else "—"


def ablation_model(plan: Plan) -> str:
    """The row the ablation is of: the model of ``plan``'s runs that leave out a group, SEMI-HA without such runs.

    In a plan :func:`by_variant` split, that is the label of the setting the ablation ran with.
    """
    return next((r.model for r in plan.runs() if r.exclude_group), "semi-ha")


def _table_models(plan: Plan) -> tuple[list[str], list[str]]:
    """The rows of the N_y = 10 tables (all inputs) and of the label-scarcity tables (another N_y), in plan order."""
    runs = plan.runs()
    models10 = [m for m in plan.models() if any(r.model == m and r.n_train_years == 10 and r.exclude_group is None for r in runs)]
    scarce = [m for m in plan.models() if any(r.model == m and r.n_train_years != 10 for r in runs)]
    return models10, scarce


def _n_values(plan: Plan) -> list[int]:
    """The N_y values the plan runs, largest first: the label-scarcity table's columns (none the plan lacks)."""
    return sorted({r.n_train_years for r in plan.runs()}, reverse=True)


def report_markdown(
    plan: Plan,
    records: Sequence[Mapping[str, Any]],
    dataset: Mapping[str, Any],
    store: str,
    figures: Mapping[str, str] | None = None,
) -> str:
    """The generated part of ``docs/experiments.md`` (everything below :data:`MARKER`).

    Args:
        plan: whose runs are reported (others in the store are not).
        records: the store's records.
        dataset: ``{"name", "fingerprint", "simulated"}``.
        store: the store's path as shown.
        figures: ``{"scarcity": path, "ablation": path}`` of the SVG figures, relative to the document.
    """
    own = results_frame(records, plan)
    shown, df = by_variant(plan, own)  # a model run with several sets of overrides: one row per set
    runs = shown.runs()
    years = sorted({r.test_year for r in runs})
    models10, scarce = _table_models(shown)
    missing = missing_runs(plan, records)
    label = "SIMULATED data" if dataset.get("simulated") else "real data"
    out = [
        f"## Results: plan `{plan.name}` on `{dataset.get('name')}` ({label})\n",
        f"{plan.description[:1].upper()}{plan.description[1:]}. "
        f"{len(runs) - len(missing)} of {len(runs)} runs have a result in `{store}` "
        f"(dataset fingerprint `{dataset.get('fingerprint')}`); {len(missing)} are missing or failed (listed at the end). "
        "Cells are the mean ± sd over seeds (number of seeds) when there is more than one seed; the mean over years is "
        "taken per seed over the seeds that have every year.\n",
    ]
    if dataset.get("simulated"):
        out.append(
            "**These results are on simulated data.** The paper's numbers are shown beside them for orientation only: "
            f"{NOT_COMPARABLE}.\n"
        )
    if models10:
        out += ["### RMSE, N_y = 10 (the paper's Table I)\n", _year_section(df, "rmse", models10, years, TABLE_I_RMSE)]
        out += ["### R^2, N_y = 10 (the paper's Table II)\n", _year_section(df, "r2", models10, years, TABLE_II_R2)]
    if scarce:
        out.append(f"### Label scarcity: mean over {years[0]}-{years[-1]} per N_y (the paper's Figures 5 and 6)\n")
        for metric in ("rmse", "r2"):
            table = scarcity_table(df, metric, scarce, years, _n_values(shown))
            out.append(f"{METRIC_LABELS[metric]}:\n")
            out.append(markdown_table(["model", *table.columns], [[_label(m), *map(cell_text, table.loc[m])] for m in scarce]))
        if {"semi-ha", "s-ha"} <= set(scarce):  # not when SEMI-HA runs with several settings (plan context)
            imp = improvement_table(df, years, _n_values(shown))
            out.append("SEMI-HA's improvement over S-HA, % (the paper gives Figures 5-6 as plots; these % are from its text):\n")
            out.append(
                markdown_table(
                    ["N_y", "RMSE %", "R^2 %", f"RMSE % ({NOT_COMPARABLE})", f"R^2 % ({NOT_COMPARABLE})"],
                    [
                        [
                            int(r["N_y"]),
                            *(cell_text(r[c], 1) or "missing" for c in ("rmse_%", "r2_%")),
                            r["paper_rmse_%"],
                            r["paper_r2_%"],
                        ]
                        for _, r in imp.iterrows()
                    ],
                )
            )
        if figures and figures.get("scarcity"):
            out.append(f"![RMSE over N_y (simulated data)]({figures['scarcity']})\n")
    if any(r.exclude_group for r in runs):
        ab = ablation_table(df, years, ablation_model(shown))
        out.append("### Feature-group ablation: SEMI-HA retrained without each group (the paper's Figure 7)\n")
        out.append(
            markdown_table(
                ["inputs", f"RMSE, mean {years[0]}-{years[-1]}", "change from ALL"],
                [
                    [
                        ("ALL" if r["group"] == "ALL" else f"without {r['group']}"),
                        cell_text({**r, "mean": r["rmse"]}),
                        cell_text(r["change"]) or "—",
                    ]
                    for _, r in ab.iterrows()
                ],
            )
        )
        out.append("The paper gives Figure 7 as a plot only (no numbers in its text).\n")
        if figures and figures.get("ablation"):
            out.append(f"![RMSE change per removed feature group (simulated data)]({figures['ablation']})\n")
    choice = validation_choice_section(df, shown, models10, years)
    if choice:
        out.append(choice)
    calibration = calibration_section(df, models10, years, dataset.get("noise_floor_by_year"))
    if calibration:
        out.append(calibration)
    budget = budget_section(df, models10, years)
    if budget:
        out.append(budget)
        if figures and figures.get("budget"):
            out.append(f"![Share of each simulated yield term the models miss (simulated data)]({figures['budget']})\n")
    trend = trend_section(records, years)
    if trend:
        out.append(trend)
    location = location_section(records, years)
    if location:
        out.append(location)
    augment = augment_section(records, years)
    if augment:
        out.append(augment)
    context = context_section(records, years, (figures or {}).get("context"))
    if context:
        out.append(context)
    timing = time_section(own, plan.models(), missing)  # time per model kind, whatever its overrides
    if timing:
        out.append(timing)
    out.append(f"### Missing runs ({len(missing)})\n")
    if missing.empty:
        out.append("None: every run of the plan has a result.\n")
    else:
        how = f"--plan {plan.name}" if plan.name in PLANS else "--plan-file <its file>"
        out.append(
            f"Run `python -m geoapp experiments run {how}` to train them (finished runs are skipped).\n\n"
            f"<details><summary>{len(missing)} runs</summary>\n"
        )
        out.append(markdown_table(["run", "status"], [[f"`{r['name']}`", r["status"]] for _, r in missing.iterrows()]))
        out.append("</details>\n")
    return "\n".join(out)


def time_table(df: pd.DataFrame, models: Sequence[str]) -> pd.DataFrame:
    """Minutes per run of each model with timed runs in ``df`` (:func:`results_frame`).

    Columns: ``model``, ``runs``, and the ``median``, ``min`` and ``max`` wall-clock minutes of training
    and scoring one run, as the store recorded them.
    """
    timed = df[pd.to_numeric(df["seconds"], errors="coerce").notna()]
    rows = []
    for model in models:
        minutes = pd.to_numeric(timed.loc[timed["model"] == model, "seconds"]) / 60.0
        if len(minutes):
            rows.append(
                {"model": model, "runs": len(minutes), "median": minutes.median(), "min": minutes.min(), "max": minutes.max()}
            )
    return pd.DataFrame(rows, columns=["model", "runs", "median", "min", "max"])


def time_section(df: pd.DataFrame, models: Sequence[str], missing: pd.DataFrame) -> str:
    """Markdown: minutes per run and model, and the missing runs' cost at those medians ('' without timed runs)."""
    table = time_table(df, models)
    if table.empty:
        return ""
    out = [
        "### Time per run\n",
        "Wall-clock minutes to train and score one run, as the results store recorded them. Runs shared the machine "
        "with other work (often another runner on the same cores), so these are what it took here, not a benchmark; "
        "a run resumed after a stop counts from its resumption.\n",
        markdown_table(
            ["model", "runs timed", "median min", "min", "max"],
            [
                [_label(r["model"]), r["runs"], f"{r['median']:.1f}", f"{r['min']:.1f}", f"{r['max']:.1f}"]
                for _, r in table.iterrows()
            ],
        ),
    ]
    if len(missing):
        hours, unknown = missing_hours(df, missing)
        out.append(
            f"The {len(missing)} missing runs would take about {hours:.1f} h of one runner at these medians"
            + (f" ({unknown} of a model without a timed run yet not counted)" if unknown else "")
            + "; `--workers N` shares them among N runners.\n"
        )
    return "\n".join(out)


def missing_hours(df: pd.DataFrame, missing: pd.DataFrame) -> tuple[float, int]:
    """Hours of one runner the ``missing`` runs (:func:`missing_runs`) would take, and how many were not counted.

    Each run costs its model's median minutes in ``df`` (:func:`time_table`), less the minutes a run in
    training has trained so far (``training_min``, when ``missing`` has it; never below zero); a run of a
    model without a timed run is not counted.
    """
    table = time_table(df, sorted(set(missing["model"])))
    median = dict(zip(table["model"], table["median"], strict=True))
    so_far = missing["training_min"] if "training_min" in missing else pd.Series(math.nan, index=missing.index)
    known = [
        max(median[m] - (0.0 if pd.isna(t) else float(t)), 0.0)
        for m, t in zip(missing["model"], so_far, strict=True)
        if m in median
    ]
    return sum(known) / 60.0, len(missing) - len(known)


def noise_floor_by_year(ds: Any) -> dict[str, float]:
    """Per year (as a string): the RMSE of the labels against the noise-free yields, bu/acre; {} for real data.

    Only a simulated dataset knows its noise-free yields (``yields.csv``'s ``expected``): no model can beat it.
    """
    yields = getattr(ds, "yields", None)
    if not getattr(ds, "simulated", False) or yields is None or "expected" not in yields.columns:
        return {}
    lab = yields[yields["yield"].notna()]
    err = (lab["yield"] - lab["expected"]) ** 2
    return {str(int(y)): float(np.sqrt(v)) for y, v in err.groupby(lab["year"]).mean().items()}


_CHOICE_COLUMNS = [
    "year", "chosen", "model", "val_rmse", "rmse", "candidates", "lacking", "hindsight_rmse", "hindsight_model",
]  # fmt: skip


def validation_choice(
    df: pd.DataFrame, plan: Plan, models: Sequence[str], years: Sequence[int], n_train_years: int = 10
) -> pd.DataFrame:
    """Per test year, the run a user would ship having looked at the validation year only (all inputs).

    Candidates: ``plan``'s runs of ``models`` at ``n_train_years`` with every input (every seed a candidate
    of its own; ``df`` is :func:`results_frame`'s, and ``plan`` the one its ``model`` column names: after
    :func:`by_variant`, the split plan). A year gets a choice only when every candidate has a result with
    a validation score: a choice among some would change as the rest arrive.

    Returns:
        One row per year: ``year``, ``candidates`` and ``lacking`` (how many have no result or no
        validation score); with a choice, ``chosen`` (run name), ``model``, ``val_rmse`` and ``rmse`` (its
        test RMSE, bu/acre), and ``hindsight_rmse`` / ``hindsight_model``, the lowest test RMSE among the
        candidates, which no honest choice can know (None / NaN without a choice).
    """
    scored = df[np.isfinite(df["val_rmse"].astype(float))].set_index("name")
    rows = []
    for y in years:
        names = [
            r.name
            for r in plan.runs()
            if r.model in models and r.n_train_years == n_train_years and r.exclude_group is None and r.test_year == y
        ]
        if not names:
            continue
        lacking = [n for n in names if n not in scored.index]
        row: dict[str, Any] = {"year": int(y), "candidates": len(names), "lacking": len(lacking)}
        if not lacking:
            at = scored.loc[names]
            chosen, best = at["val_rmse"].astype(float).idxmin(), at["rmse"].astype(float).idxmin()
            row |= {
                "chosen": chosen, "model": at.loc[chosen, "model"], "val_rmse": float(at.loc[chosen, "val_rmse"]),
                "rmse": float(at.loc[chosen, "rmse"]), "hindsight_rmse": float(at.loc[best, "rmse"]),
                "hindsight_model": at.loc[best, "model"],
            }  # fmt: skip
        rows.append(row)
    return pd.DataFrame(rows, columns=_CHOICE_COLUMNS)


def validation_choice_section(df: pd.DataFrame, plan: Plan, models: Sequence[str], years: Sequence[int]) -> str:
    """The report's section on :func:`validation_choice` (N_y = 10), or "" when no candidate has a validation score."""
    table = validation_choice(df, plan, models, years)
    if table.empty or (table["lacking"] == table["candidates"]).all():
        return ""
    complete = len(table) == len(years) and table["chosen"].notna().all()
    rows = []
    for _, r in table.iterrows():
        if pd.isna(r["chosen"]):
            lacking = f"— ({int(r['lacking'])} of {int(r['candidates'])} lack a result or a validation score)"
            rows.append([int(r["year"]), lacking, "", "", int(r["candidates"]), ""])
            continue
        hindsight = f"{r['hindsight_rmse']:.3f} ({PAPER_LABELS.get(r['hindsight_model'], r['hindsight_model'])})"
        rows.append(
            [int(r["year"]), f"`{r['chosen']}`", f"{r['val_rmse']:.3f}", f"{r['rmse']:.3f}", int(r["candidates"]), hindsight]
        )
    means = (f"{table['rmse'].mean():.3f}", f"{table['hindsight_rmse'].mean():.3f}") if complete else ("—", "—")
    rows.append(["mean", "", "", means[0], "", means[1]])
    return "\n".join(
        [
            "### The model a user would ship: chosen on the validation year, N_y = 10\n",
            "Per test year, among every run above with all inputs (each seed a candidate), the one with the lowest "
            "RMSE on its validation year (the year before the test year), and its test RMSE: what choosing a model "
            "honestly gives. The last column is the lowest test RMSE among the same candidates, known only in hindsight. "
            "The models' own predictions (no calibration). A year gets a choice once every candidate has a result "
            "with a validation score (`python -m geoapp experiments validation` scores older runs).\n",
            markdown_table(
                ["test year", "chosen on validation", "validation RMSE", "test RMSE", "candidates", "hindsight: lowest test"],
                rows,
            ),
        ]
    )


def calibration_section(
    df: pd.DataFrame, models: Sequence[str], years: Sequence[int], floor_by_year: Mapping[Any, float] | None = None
) -> str:
    """The report's section on residual calibration (N_y = 10), or "" when no run holds calibrated scores.

    Per model: the mean RMSE and R^2 over ``years`` of the model's own predictions, with the trend of
    its training-year residuals, and with that trend and shrunk county offsets
    (:mod:`geoapp.training.calibration`); then RMSE per year with county offsets and trend against
    1.3 x the year's noise floor (``floor_by_year``: year -> RMSE of the labels against the noise-free
    yields, simulated data only). Only runs with calibrated scores count, in every column.
    """
    df = df[df["rmse_county_trend"].notna()]  # like with like: every column over the same runs
    if df.empty:
        return ""
    span = f"{years[0]}-{years[-1]}"
    have = [m for m in models if not _select(df, m, 10, None, None).empty]
    cols = ("rmse", "rmse_trend", "rmse_county_trend", "r2", "r2_county_trend")
    means = {m: {c: mean_over_years(df, c, m, 10, years) for c in cols} for m in have}
    out = [
        "### With a residual calibration: the trend and county offsets the inputs do not show, N_y = 10\n",
        "A model that reads the tiles sees neither the year (yields rise with technology: a trend) nor the county (a "
        "persistent county effect). After training, `trend` fits a line to the model's residuals on its training years "
        "and adds it to its predictions; `county-trend` adds, too, each county's mean residual shrunk by a random-effects "
        "estimate (`geoapp.training.calibration`; `--calibration` when training, `train calibrate` for a checkpoint). "
        "Nothing is fitted on the validation or test year; the checkpoints of the runs are scored as they are and with "
        f"each calibration. Mean over {span} (seeds as above):\n",
        markdown_table(
            ["model", "RMSE", "RMSE + trend", "RMSE + county + trend", "R^2", "R^2 + county + trend"],
            [[_label(m), *(cell_text(means[m][c]) or "missing" for c in cols)] for m in have],
        ),
    ]
    rows = []
    for m in have:
        sel = _select(df, m, 10, None, None)
        rows.append(
            [
                _label(m),
                *(
                    cell_text(_stats(sel[sel["test_year"] == y]["rmse_county_trend"].dropna().tolist())) or "missing"
                    for y in years
                ),
            ]
        )
    if floor_by_year:
        floors = [floor_by_year.get(str(y), floor_by_year.get(y)) for y in years]
        if all(isinstance(f, (int, float)) for f in floors):
            rows.append(["1.3 x noise floor (the target)", *(f"{1.3 * f:.3f}" for f in floors)])
    out += ["RMSE (bu/acre) with county offsets and trend, per test year:\n", markdown_table(["model", *map(str, years)], rows)]
    return "\n".join(out)


def budget_section(df: pd.DataFrame, models: Sequence[str], years: Sequence[int]) -> str:
    """The report's section on what the models miss (simulated data, N_y = 10), or "" when no run holds a budget.

    Per model, the mean over ``years`` of its error budget (:mod:`geoapp.analysis.error_budget`, its own
    predictions): the RMSE against the noise-free yield and the missed share of each simulated yield term.
    """
    df = df[df["rmse_vs_expected"].notna()]
    if df.empty:
        return ""
    cols = ("rmse_vs_expected", *(f"missed_{t}" for t in BUDGET_TERMS))
    have = [m for m in models if not _select(df, m, 10, None, None).empty]
    rows = []
    for m in have:
        means = {c: mean_over_years(df, c, m, 10, years) for c in cols}
        rows.append([_label(m), *(cell_text(means[c], 3 if c == "rmse_vs_expected" else 2) or "missing" for c in cols)])
    return "\n".join(
        [
            "### What the models miss: error budget against the simulation's yield terms, N_y = 10\n",
            "On simulated data each county yield is a known sum: potential + water + heat + excess + trend + county effect "
            "+ noise (`python -m geoapp bench error-budget`, [crop-yield-model.md](crop-yield-model.md)). For each run, "
            "its own predictions' error against the noise-free yield, and the share of each term's county-to-county "
            "variation they miss (the slope of that error on the term: 0 followed, 1 ignored). The county effect is what "
            "the residual calibration above takes. Mean over "
            f"{years[0]}-{years[-1]} (seeds as above; `python -m geoapp experiments budget` adds it to older runs):\n",
            markdown_table(
                ["model", "RMSE vs noise-free", *(f"missed: {t}" for t in BUDGET_TERMS)],
                rows,
            ),
        ]
    )


def trend_table(records: Iterable[Mapping[str, Any]], years: Sequence[int]) -> pd.DataFrame:
    """Per model: RMSE and R^2 means over ``years`` without (plan ``baselines``) and with the trend (plan ``trend``).

    Columns: model, rmse_without, rmse_with, r2_without, r2_with (each a dict of mean, sd, n as
    :func:`mean_over_years` gives it), rows only for models with at least one of the two.
    """
    records = list(records)
    without = results_frame(records, PLANS["baselines"])
    with_trend = results_frame(records, PLANS["trend"])
    rows = []
    for model in PLANS["trend"].models():
        row = {"model": model}
        for label, df in (("without", without), ("with", with_trend)):
            for metric in ("rmse", "r2"):
                row[f"{metric}_{label}"] = mean_over_years(df, metric, model, 10, years)
        if row["rmse_without"]["n"] or row["rmse_with"]["n"]:
            rows.append(row)
    return pd.DataFrame(rows)


def trend_section(records: Iterable[Mapping[str, Any]], years: Sequence[int]) -> str:
    """The report's section on the trend term, or "" when the store holds no run of plan ``trend``."""
    table = trend_table(records, years)
    if table.empty or not any(r["rmse_with"]["n"] for _, r in table.iterrows()):
        return ""
    head = [
        f"### With a yield trend fitted on the training years (plan `trend`), mean {years[0]}-{years[-1]}, N_y = 10\n",
        "The paper does not detrend. A model that cannot see the year predicts the test year as if it were the middle "
        "of its training years; `trend = linear` fits one straight line through the training years' county yields, "
        "trains on what remains and adds the line back (`geoapp.training.trend`). Only models with every test year "
        "done on both sides have a mean.\n",
    ]
    rows = [
        [
            _label(r["model"]),
            cell_text(r["rmse_without"]) or "missing",
            cell_text(r["rmse_with"]) or "missing",
            cell_text(r["r2_without"]) or "missing",
            cell_text(r["r2_with"]) or "missing",
        ]
        for _, r in table.iterrows()
    ]
    return "\n".join([*head, markdown_table(["model", "RMSE without", "RMSE with trend", "R^2 without", "R^2 with trend"], rows)])


def augment_table(records: Iterable[Mapping[str, Any]], years: Sequence[int]) -> pd.DataFrame:
    """Per block of plan ``augment``: mean RMSE over ``years`` with the defaults and with the block's overrides.

    The runs with the defaults are the same runs with no overrides (plans ``baselines``, ``seeds``,
    ``location``). Columns: model, training (``dihedral, patience 10``, with ``, EMA 0.995`` for the runs
    with a moving average of the weights, or the control's ``patience 10, no augmentation``), seeds (the
    block's seeds), rmse_without, rmse_with (the models' own
    predictions), cal_without, cal_with (with county offsets and trend, the ``county-trend`` residual
    calibration), each a :func:`mean_over_years` dict, and one column per year (str) with this training's
    RMSE over the block's seeds that have it (a :func:`_stats` dict); rows only for models with at least one run of
    the block. The seeds 1 and 2 of S-HA and SEMI-HA join their seed 0 in one row; both sides are
    averaged over the seeds that have every year on both sides (all the block's seeds until one has).
    """
    records = list(records)
    plan = PLANS["augment"]
    without = results_frame(records, Plan("defaults", "", tuple(dataclasses.replace(b, overrides={}) for b in plan.blocks)))
    rows: dict[tuple[str, str], dict[str, Any]] = {}
    for block in plan.blocks:
        training = "dihedral, patience 10" if block.overrides.get("augment") == "dihedral" else "patience 10, no augmentation"
        if block.overrides.get("ema"):
            training += f", EMA {block.overrides['ema']:g}"
        with_df = results_frame(records, Plan("block", "", (block,)))
        for model in block.models:
            row = rows.setdefault((model, training), {"model": model, "training": training, "seeds": [], "_frames": []})
            row["seeds"] = sorted({*row["seeds"], *block.seeds})
            row["_frames"].append(with_df)
    out = []
    for row in rows.values():
        with_df = pd.concat(row.pop("_frames"), ignore_index=True).drop_duplicates(subset=["name"])
        sel = _select(with_df, row["model"], 10, None, row["seeds"])
        if sel.empty:
            continue

        def complete(df: pd.DataFrame, seeds: list[int], model: str = row["model"]) -> set[int]:
            sel = _select(df, model, 10, None, seeds)
            done = sel[sel["test_year"].isin(list(years))].groupby("seed").size()
            return {s for s in seeds if done.get(s, 0) == len(years)}

        both = sorted(complete(with_df, row["seeds"]) & complete(without, row["seeds"]))
        row["seeds"] = both or row["seeds"]  # like with like: both sides over the same complete seeds
        for label, df in (("without", without), ("with", with_df)):
            row[f"rmse_{label}"] = mean_over_years(df, "rmse", row["model"], 10, years, seeds=row["seeds"])
            row[f"cal_{label}"] = mean_over_years(df, "rmse_county_trend", row["model"], 10, years, seeds=row["seeds"])
        for y in years:  # this training, per test year, over the block's seeds that have it
            row[str(y)] = _stats(sel[sel["test_year"] == y]["rmse"].tolist())
        out.append(row)
    return pd.DataFrame(out)


def augment_section(records: Iterable[Mapping[str, Any]], years: Sequence[int]) -> str:
    """The report's section on dihedral augmentation, or "" when the store holds no run of plan ``augment``."""
    table = augment_table(records, years)
    if table.empty:
        return ""
    span = f"{years[0]}-{years[-1]}"
    head = [
        f"### Beyond the paper: tiles turned by the symmetries of the square (plan `augment`), mean {span}, N_y = 10\n",
        "`augment = dihedral` shows each training example's tiles under one of the eight symmetries of the square "
        "(rotations by 90 degrees and mirror images), drawn per step; validation and test tiles are not turned "
        "(`geoapp.training.augment`). The runs train with an early-stopping patience of 10 epochs (the defaults: 6); "
        "S-HA with patience 10 and no augmentation is the control; `EMA 0.995`: validated, saved and scored with a moving "
        "average of the weights over the training steps (`geoapp.training.weight_average`). Each row beside the same "
        "model and seeds trained "
        "with the defaults (mean ± sd over the seeds with every year). RMSE in bu/acre: the models' own predictions, "
        "and with county offsets and trend fitted on the training years (the `county-trend` residual calibration).\n",
    ]
    rows = [
        [
            _label(r["model"]),
            r["training"],
            ", ".join(map(str, r["seeds"])),
            cell_text(r["rmse_without"]),
            cell_text(r["rmse_with"]),
            cell_text(r["cal_without"]),
            cell_text(r["cal_with"]),
        ]
        for _, r in table.iterrows()
    ]
    header = ["model", "training", "seeds", "RMSE, defaults", "RMSE", "+ county + trend, defaults", "+ county + trend"]
    per_year = [
        [_label(r["model"]), r["training"], *(cell_text(r[str(y)]) or "missing" for y in years)] for _, r in table.iterrows()
    ]
    return "\n".join(
        [
            *head,
            markdown_table(header, rows),
            "RMSE (bu/acre) per test year with this training, mean ± sd over the seeds that have it:\n",
            markdown_table(["model", "training", *map(str, years)], per_year),
        ]
    )


LOCATION_PAIR: tuple[tuple[str, str], ...] = (("semi-ha", "seeds"), ("semi-ha-loc", "location"))
"""The models the location section compares, each with the plan its seeds come from."""


def location_table(records: Iterable[Mapping[str, Any]], years: Sequence[int], metric: str = "rmse") -> pd.DataFrame:
    """``metric`` of SEMI-HA and ``semi-ha-loc`` at N_y = 10 over the seeds of plan ``location``.

    Rows: the two models (:data:`LOCATION_PAIR`). Columns: ``seed <s>`` (that seed's mean over
    ``years``, a :func:`mean_over_years` dict; NaN mean until it has every year), ``Mean`` (mean +/- sd
    over the seeds with every year) and one column per year (mean +/- sd over the seeds that have it).
    """
    records = list(records)
    seeds = PLANS["location"].blocks[0].seeds
    rows = {}
    for model, plan in LOCATION_PAIR:
        df = results_frame(records, PLANS[plan])
        row: dict[str, Any] = {f"seed {s}": mean_over_years(df, metric, model, 10, years, seeds=[s]) for s in seeds}
        row["Mean"] = mean_over_years(df, metric, model, 10, years, seeds=seeds)
        sel = _select(df, model, 10, None, seeds)
        for y in years:
            row[str(y)] = _stats(sel[sel["test_year"] == y][metric].tolist())
        rows[model] = row
    return pd.DataFrame.from_dict(rows, orient="index")


def location_section(records: Iterable[Mapping[str, Any]], years: Sequence[int]) -> str:
    """The report's section on ``semi-ha-loc`` beside SEMI-HA, or "" when the store holds no run of plan ``location``."""
    records = list(records)
    if results_frame(records, PLANS["location"]).empty:
        return ""
    rmse, r2 = location_table(records, years, "rmse"), location_table(records, years, "r2")
    seed_cols = [c for c in rmse.columns if c.startswith("seed ")]
    span = f"{years[0]}-{years[-1]}"
    out = [
        "### Beyond the paper: SEMI-HA with the county's location embedding (plan `location`), N_y = 10\n",
        "`semi-ha-loc` adds a learned projection of a frozen location-encoder embedding of each county's anchor-tile "
        "centre to SEMI-HA's pooled representation, so it can learn a persistent county effect the inputs do not show "
        "(the simulation has one). SEMI-HA's seeds come from plan `seeds`. Per seed the mean RMSE over "
        f"{span} (a seed without every year has none), then mean ± sd over the seeds.\n",
        markdown_table(
            ["model", *[f"{c}: mean RMSE" for c in seed_cols], f"RMSE mean {span}", f"R^2 mean {span}"],
            [
                [_label(m), *(cell_text(rmse.loc[m, c]) for c in seed_cols), *(cell_text(t.loc[m, "Mean"]) for t in (rmse, r2))]
                for m in rmse.index
            ],
        ),
        "RMSE (bu/acre) per test year, mean ± sd over the seeds that have it:\n",
        markdown_table(
            ["model", *map(str, years)],
            [[_label(m), *(cell_text(rmse.loc[m, str(y)]) or "missing" for y in years)] for m in rmse.index],
        ),
    ]
    return "\n".join(out)


CONTEXT_MODELS = ("s-ha", "semi-ha")
"""Plan ``context``'s models: S-HA, the alpha = 0 end, and SEMI-HA at each alpha."""


def context_where() -> str:
    """Plan ``context``'s N_y and seed, as shown (read from the plan: one N_y and one seed)."""
    runs = PLANS["context"].runs()
    n_y = sorted({r.n_train_years for r in runs})
    seeds = sorted({r.seed for r in runs})
    return f"N_y = {', '.join(map(str, n_y))}, seed {', '.join(map(str, seeds))}"


def context_alpha(model: str, overrides: str | Mapping[str, Any]) -> float:
    """The context-loss weight alpha (Eq. 2) of a run: 0 for S-HA, the run's override or the default for SEMI-HA.

    Args:
        model: ``s-ha`` or ``semi-ha``.
        overrides: the run's overrides, as a mapping or the canonical JSON of :func:`results_frame`.
    """
    from geoapp.models.yield_losses import DEFAULT_ALPHA

    if model == "s-ha":
        return 0.0
    values = json.loads(overrides) if isinstance(overrides, str) else dict(overrides)
    model_overrides = values.get("model_overrides") if isinstance(values.get("model_overrides"), Mapping) else {}
    return float(model_overrides.get("alpha", DEFAULT_ALPHA))


def _context_label(alpha: float) -> str:
    return "S-HA (alpha = 0, no context tiles)" if alpha == 0 else f"SEMI-HA, alpha = {alpha:g}"


def context_table(records: Iterable[Mapping[str, Any]], years: Sequence[int]) -> pd.DataFrame:
    """Plan ``context``: test and validation RMSE (bu/acre) per alpha and test year (the plan's one N_y and seed).

    Rows: one per alpha in rising order (0 = S-HA), indexed by a readable label. Columns: ``alpha``;
    ``<year>`` (test RMSE) and ``val <year>`` (RMSE on that run's validation year, year - 1; NaN where the
    record has none); ``Mean`` and ``val Mean``, the means over ``years`` (NaN unless every year has one).
    """
    df = results_frame(records, PLANS["context"])
    df = df[df["model"].isin(CONTEXT_MODELS) & df["exclude_group"].isna()]
    df = df.assign(alpha=[context_alpha(m, o) for m, o in zip(df["model"], df["overrides"], strict=True)])
    rows: dict[str, dict[str, float]] = {}
    for alpha in sorted(set(df["alpha"])):
        sel = df[df["alpha"] == alpha]
        row: dict[str, float] = {"alpha": alpha}
        for y in years:
            at = sel[sel["test_year"] == y]
            row[str(y)] = float(at["rmse"].iloc[0]) if len(at) else math.nan
            row[f"val {y}"] = float(at["val_rmse"].iloc[0]) if len(at) else math.nan
        for prefix in ("", "val "):
            values = [row[f"{prefix}{y}"] for y in years]
            row[f"{prefix}Mean"] = float(np.mean(values)) if all(math.isfinite(v) for v in values) else math.nan
        rows[_context_label(alpha)] = row
    return pd.DataFrame.from_dict(rows, orient="index")


def context_choice(table: pd.DataFrame, years: Sequence[int]) -> dict[str, Any]:
    """SEMI-HA's alpha chosen per test year on the validation year, never the test year.

    A year gets a choice only when every SEMI-HA alpha of plan ``context`` (0.2 included) has a run with
    both scores for it in :func:`context_table`: then the alpha with the lowest validation RMSE (ties: the
    smallest alpha). A choice among some of the alphas would change as the rest arrive.

    Returns:
        ``alpha`` and ``rmse`` (the chosen run's test RMSE), each ``{year: value}`` for the years with a
        choice; ``mean``, the mean test RMSE over ``years`` (NaN unless every year has a choice); and
        ``lacking``, ``{year: [alpha, ...]}`` for the other years: the alphas without a run or without a
        validation score (``python -m geoapp experiments validation`` adds those of older runs).
    """
    wanted = sorted({context_alpha(r.model, r.overrides) for r in PLANS["context"].runs() if r.model == "semi-ha"})
    alphas = [float(a) for a in table["alpha"]] if len(table) else []
    alpha, rmse, lacking = {}, {}, {}
    for y in years:
        scores = {}
        for a in wanted:
            row = table.iloc[alphas.index(a)] if a in alphas else None
            test, val = (math.nan, math.nan) if row is None else (float(row[str(y)]), float(row[f"val {y}"]))
            if math.isfinite(test) and math.isfinite(val):
                scores[a] = (val, test)
        missing = [a for a in wanted if a not in scores]
        if missing or not scores:
            lacking[y] = missing
            continue
        best = min(scores, key=lambda a: (scores[a][0], a))
        alpha[y], rmse[y] = best, scores[best][1]
    mean = float(np.mean([rmse[y] for y in years])) if len(rmse) == len(years) and years else math.nan
    return {"alpha": alpha, "rmse": rmse, "mean": mean, "lacking": lacking}


def choice_cell(choice: Mapping[str, Any], year: int) -> str:
    """A year's cell of :func:`context_choice`: the chosen run's test RMSE and its alpha, or "—" without a choice."""
    if year not in choice["rmse"]:
        return "—"
    return f"{cell_text(choice['rmse'][year])} (alpha {choice['alpha'][year]:g})"


def _swept(table: pd.DataFrame) -> bool:
    """Whether :func:`context_table` holds SEMI-HA at two alphas or more (else plan ``scarcity``'s runs at most)."""
    return len(table) > 0 and int((table["alpha"] > 0).sum()) >= 2


def context_section(records: Iterable[Mapping[str, Any]], years: Sequence[int], figure: str | None = None) -> str:
    """The report's section on SEMI-HA's context-loss weight (plan ``context``), or "" without any of its own runs."""
    records = list(records)
    table = context_table(records, years) if years else pd.DataFrame()
    if not _swept(table):
        return ""
    choice = context_choice(table, years)
    span = f"{years[0]}-{years[-1]}"
    rows = [
        [label, *(cell_text(r[str(y)]) or "missing" for y in years), cell_text(r["Mean"]) or "—", cell_text(r["val Mean"]) or "—"]
        for label, r in table.iterrows()
    ]
    rows.append(
        [
            "**SEMI-HA, alpha chosen on the validation year**",
            *(choice_cell(choice, y) for y in years),
            cell_text(choice["mean"]) or "—",
            "",
        ]
    )
    out = [
        f"### Beyond the paper: SEMI-HA's context-loss weight (plan `context`), {context_where()}\n",
        "Eq. 2 weighs the unsupervised context losses by alpha (the paper: 0.2; 0.1 for test year 2016). S-HA is "
        "the alpha = 0 end (no context tiles at all). Each cell is the test-year RMSE (bu/acre) of one run; the last "
        "column is the mean RMSE on the runs' validation years (test year - 1, which also chose each run's epoch). "
        "The last row takes, per test year, the alpha whose run scored best on its validation year: the test "
        "year is never looked at to choose. Means over years only where every year has a run.\n",
        markdown_table(["setting", *map(str, years), f"test RMSE, mean {span}", f"validation RMSE, mean {span}"], rows),
    ]
    if choice["lacking"]:
        which = "; ".join(f"{y}: alpha {', '.join(f'{a:g}' for a in alphas)}" for y, alphas in choice["lacking"].items())
        out.append(
            f"No choice yet where an alpha lacks a run or a validation score ({which}): "
            "`python -m geoapp experiments run --plan context` trains the runs, `python -m geoapp experiments "
            "validation` scores older ones on their validation year.\n"
        )
    if figure:
        out.append(f"![RMSE against the context-loss weight alpha]({figure})\n")
    return "\n".join(out)


def context_svg(records: Iterable[Mapping[str, Any]], years: Sequence[int], simulated: bool) -> str | None:
    """Mean test and validation RMSE against alpha (plan ``context``); None until two SEMI-HA alphas have every year."""
    table = context_table(list(records), years)
    if not _swept(table) or int(np.isfinite(table.loc[table["alpha"] > 0, "Mean"].astype(float)).sum()) < 2:
        return None
    series = {
        "test years": [(float(r["alpha"]), float(r["Mean"])) for _, r in table.iterrows()],
        "validation years": [(float(r["alpha"]), float(r["val Mean"])) for _, r in table.iterrows()],
    }
    return line_chart(
        series,
        title=f"SEMI-HA, {context_where()}: mean RMSE {years[0]}-{years[-1]} against the context-loss weight",
        subtitle=("SIMULATED data (geoapp demo); " if simulated else "real data; ") + "alpha = 0 is S-HA",
        x_label="alpha (Eq. 2)",
        y_label="RMSE (bu/acre)",
        descending=False,
    )


def scarcity_svg(
    df: pd.DataFrame, models: Sequence[str], years: Sequence[int], simulated: bool, n_values: Sequence[int] = (10, 7, 4)
) -> str:
    """The label-scarcity figure: mean RMSE over ``years`` against N_y (``n_values``), one line per model."""
    table = scarcity_table(df, "rmse", models, years, n_values)
    series = {PAPER_LABELS.get(m, m): [(float(c.split("=")[1]), table.loc[m, c]["mean"]) for c in table.columns] for m in models}
    return line_chart(
        series,
        title=f"Mean RMSE {years[0]}-{years[-1]} by training years N_y",
        subtitle="SIMULATED data (geoapp demo): not comparable with the paper" if simulated else "real data",
        x_label="N_y (training years)",
        y_label="RMSE (bu/acre)",
    )


def ablation_svg(df: pd.DataFrame, years: Sequence[int], simulated: bool, model: str = "semi-ha") -> str:
    """The Figure 7 counterpart: change in SEMI-HA's (``model``'s row) mean RMSE per removed feature group."""
    ab = ablation_table(df, years, model)
    bars = {r["group"]: float(r["change"]) for _, r in ab.iterrows() if r["group"] != "ALL"}
    return bar_chart(
        bars,
        title=f"SEMI-HA: RMSE change without each group, mean {years[0]}-{years[-1]}",
        subtitle="SIMULATED data (geoapp demo): not comparable with the paper" if simulated else "real data",
        x_label="feature group left out",
        y_label="RMSE change (bu/acre)",
    )


def budget_svg(df: pd.DataFrame, models: Sequence[str], years: Sequence[int]) -> str | None:
    """Heatmap of the mean share of each simulated yield term each model misses (N_y = 10); None without budgets."""
    df = df[df["rmse_vs_expected"].notna()]
    cells = {
        PAPER_LABELS.get(m, m): {t: mean_over_years(df, f"missed_{t}", m, 10, years)["mean"] for t in BUDGET_TERMS}
        for m in models
    }
    cells = {m: v for m, v in cells.items() if any(math.isfinite(x) for x in v.values())}
    if not cells:
        return None
    return heatmap(
        cells,
        BUDGET_TERMS,
        title=f"Share of each yield term the models miss, N_y = 10, mean {years[0]}-{years[-1]}",
        subtitle="SIMULATED data (geoapp demo): 0 = followed, 1 = ignored, below 0 = overreacting",
    )


DEFAULT_INTRO = """# Experiments: the paper's study on geoapp's data

How to run it and what the numbers are: see the section above the generated results.
"""


def write_report(
    plan: Plan,
    records: Sequence[Mapping[str, Any]],
    dataset: Mapping[str, Any],
    out: str | Path,
    store: str = "the results store",
) -> Path:
    """Write the report to ``out`` (through a temporary file and a rename) and its SVG figures beside it.

    The part of an existing ``out`` above :data:`MARKER` (the hand-written introduction) is kept.
    The figures go to ``<out folder>/images/experiments-<plan>-{scarcity,ablation,budget,context}.svg`` when
    the plan has such runs (the budget heatmap: simulated data whose runs hold error budgets; the
    context figure: the store holds plan ``context``'s sweep); a figure the report no longer has is
    removed, so none is left that no longer matches the tables. Returns ``out``.
    """
    out = Path(out)
    intro = DEFAULT_INTRO
    if out.exists():
        text = out.read_text(encoding="utf-8")
        intro = text.split(MARKER)[0] if MARKER in text else text
    shown, df = by_variant(plan, results_frame(records, plan))
    runs = shown.runs()
    years = sorted({r.test_year for r in runs})
    simulated = bool(dataset.get("simulated"))
    models10, scarce = _table_models(shown)
    figures: dict[str, str] = {}

    def put(kind: str, svg: str | None) -> None:
        """Write ``images/experiments-<plan>-<kind>.svg``; without a figure, remove an earlier report's (stale) one."""
        name = f"images/experiments-{plan.name}-{kind}.svg"
        if svg is None:
            (out.parent / name).unlink(missing_ok=True)
            return
        figures[kind] = name
        (out.parent / "images").mkdir(parents=True, exist_ok=True)
        atomic_write_text(out.parent / name, svg)

    n_values = _n_values(shown)  # a curve needs two N_y at least
    put("scarcity", scarcity_svg(df, scarce, years, simulated, n_values) if scarce and len(n_values) > 1 else None)
    ablation = any(r.exclude_group for r in runs)
    put("ablation", ablation_svg(df, years, simulated, ablation_model(shown)) if ablation else None)
    put("budget", budget_svg(df, models10, years) if simulated and years else None)
    put("context", context_svg(records, years, simulated) if years else None)
    body = report_markdown(plan, records, dataset, store, figures)
    atomic_write_text(out, intro.rstrip() + "\n\n" + MARKER + "\n\n" + body)
    return out
