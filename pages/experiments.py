"""Experiments: the paper's tables and figures from the results store, the missing runs, and a queue to train them."""

import streamlit as st

from geoapp.app_support.experiments import (
    budget_section,
    comparison_view,
    context_view,
    download_results,
    figures,
    filters,
    missing_section,
    plan_misfit,
    plan_select,
    queue_section,
    read_store,
    result_tables,
    scored,
    scores_select,
    validation_choice_view,
)
from geoapp.app_support.page import error_box, page_header, setup_page
from geoapp.experiments.report import by_variant, results_frame

ctx = setup_page("Experiments")
if ctx is not None:
    ds = ctx.dataset
    page_header(
        ds,
        "Experiments",
        "The paper's study (Section IV): every model, test years 2014-2018, N_y = 10 / 7 / 4, the feature-group "
        "ablation. Results come from `python -m geoapp experiments run`; see docs/experiments.md. Each run is "
        "trained by the experiment runner (the trainer's defaults unless a plan says otherwise, the seeds shown): the "
        "checkpoints on the Yield map and Home are separate runs, trained otherwise, so their scores differ from these.",
    )
    with error_box():
        plan = plan_select()
        store, records = read_store(ds)
        own = results_frame(records, plan)
        shown, own_rows = by_variant(plan, own)  # a model run with several sets of overrides: one row per set
        models, years, n_y = filters(shown)
        scores = scores_select()
        st.caption(
            f"{len(own)} of {len(plan.runs())} runs of plan '{plan.name}' have a result in {store.path.name} ({ds.title})."
        )
        if misfit := plan_misfit(plan, ds):  # nothing of it could run here: say so first, list nothing as missing
            st.info(misfit)
        download_results(own, store, plan)
        df = scored(own_rows, scores)
        if plan.name == "context":  # one row per alpha and the alpha the validation year chooses
            context_view(records, years, ds.simulated)
        else:
            result_tables(df, models, years, n_y, ds.simulated)
            validation_choice_view(own_rows, shown, models, years, n_y, ds.simulated)  # the models' own scores
            figures(df, shown, models, years, ds.simulated)
            comparison_view(plan, records, years)  # trend: with and without; location: beside SEMI-HA
        if ds.simulated:
            budget_section(own_rows, models, years, n_y)  # the budget scores the models' own predictions, whatever the switch
        missing_section(ds, plan, records, models, years)
    with error_box():
        queue_section(ds)
