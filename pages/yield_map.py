"""Yield map: true, predicted or error by county for a year; a click shows the county's history and inputs."""

import streamlit as st

from geoapp.app_support.county_map import county_select
from geoapp.app_support.page import error_box, page_header, remember, setup_page
from geoapp.app_support.yield_layers import map_controls, yield_county_map
from geoapp.app_support.yield_views import (
    anchor_note,
    cached_predictions,
    checkpoint_select,
    county_3d_view,
    drawn_checkpoint_caption,
    error_budget_panel,
    has_error_budget,
    map_views,
    model_comparison,
    no_labels_message,
    prediction_downloads,
    with_calibration,
    with_noise_free,
    year_role_note,
)
from geoapp.data.tiles import county_monthly_inputs
from geoapp.viz.charts import monthly_inputs, predicted_vs_true, yield_history

ctx = setup_page("Yield map")
if ctx is not None:
    ds, year = ctx.dataset, ctx.year
    page_header(ds, f"County yields, {year}")
    with error_box():
        checkpoint = checkpoint_select(ds, year)
        table = summary = calibrated = None
        if empty := no_labels_message(ds, year):
            st.info(empty)
        elif checkpoint is not None:
            with error_box():  # a checkpoint that cannot predict leaves the map of true yields
                table, summary = cached_predictions(str(checkpoint), str(ds.root), year)
        if summary is not None and (note := year_role_note(checkpoint, year)):
            st.info(note)
        drawn_checkpoint_caption(ds, checkpoint if summary is not None else None)
        if table is not None:
            table, calibrated = with_calibration(checkpoint, ds, table)
            table = with_noise_free(ds, year, table)
            if calibrated:
                st.caption(calibrated)
        view = st.radio("Map", map_views(table), horizontal=True, key="yield_view")
        controls = map_controls(has_predictions=table is not None)
        left, right = st.columns([3, 2])
        with left:
            selected = st.session_state.get("sel_county")
            clicked = yield_county_map(ds, year, view, table, controls, key="yield_map", selected=selected)
        if clicked:
            remember("county", clicked)
        with right:
            if table is not None:
                st.plotly_chart(
                    predicted_vs_true(table, f"{summary['model']} {year}", summary["rmse"], summary["r2"], ds.simulated),
                    width="stretch",
                )
                prediction_downloads(ds, year, str(checkpoint), table)
            if st.toggle(f"Compare every model tested on {year}", key="yield_compare"):
                with error_box():
                    model_comparison(ds, year)
            if (
                table is not None
                and has_error_budget(ds)
                and st.toggle("Error budget: what the model misses", key="yield_budget")
            ):
                with error_box():
                    error_budget_panel(ds, year, table, summary["model"], calibrated is not None, summary["role"])
            geoid = county_select(ds)
            if geoid:
                value = ds.year_yields(year).get(geoid)
                pred = None if table is None else table.set_index("geoid")["predicted"].get(geoid)
                st.markdown(f"**{ds.county_label(geoid)}, {year}**")
                c1, c2 = st.columns(2)
                c1.metric("True (bu/acre)", "withheld" if value is None else f"{value:.1f}")
                if pred is not None:
                    c2.metric(
                        "Predicted (bu/acre)",
                        f"{pred:.1f}",
                        delta=None if value is None else f"{pred - value:+.1f}",
                        delta_color="off",
                    )
                history = ds.yields[ds.yields["geoid"] == geoid]
                st.plotly_chart(yield_history(history, ds.county_label(geoid), year, ds.simulated), width="stretch")
        county_3d_view(ds, year, view, table)
        if geoid:
            inputs = county_monthly_inputs(ds, geoid, year)
            st.plotly_chart(
                monthly_inputs(
                    inputs, f"Inputs over the months, {ds.county_label(geoid)} {year} (anchor tile mean)", ds.simulated
                ),
                width="stretch",
            )
            if note := anchor_note(ds, geoid):
                st.caption(note)
