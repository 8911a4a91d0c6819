"""Feature ablation: how much worse the model gets when one feature group is masked (what-if)."""

import streamlit as st

from geoapp.app_support.checkpoints import yield_checkpoints_of
from geoapp.app_support.county_map import county_map
from geoapp.app_support.page import error_box, page_header, remember, setup_page
from geoapp.app_support.yield_views import (
    cached_ablation,
    cached_retrain_ablation,
    checkpoint_select,
    no_labels_message,
    retrain_ablation_note,
    year_role_note,
)
from geoapp.data.bands import FEATURE_GROUPS
from geoapp.viz.charts import ablation_bars
from geoapp.viz.colors import diverging_scale
from geoapp.viz.exports import ablation_csv, ablation_file_name

ctx = setup_page("Feature ablation")
if ctx is not None:
    ds, year = ctx.dataset, ctx.year
    page_header(
        ds,
        f"What-if feature ablation, {year}",
        "Each feature group is replaced by its training mean at inference "
        "(no retraining; deep models: each month's mean over the grid in the training years, ridge: over the training "
        "counties): VI = ndvi+evi, LST = lst_day+lst_night, PPT, SOIL = sand+silt+clay, ELE = elevation.",
    )
    with error_box():
        checkpoint = checkpoint_select(ds, year, pick_hint="Pick a model checkpoint in the sidebar.")
        if checkpoint is None:
            st.stop()
        if empty := no_labels_message(ds, year):
            st.info(empty)
            st.stop()
        if note := year_role_note(checkpoint, year):
            st.info(note)
        summary, per_county = cached_ablation(str(checkpoint), str(ds.root), year)
        simulated = " (simulated)" if ds.simulated else ""  # in every figure: one saved from its toolbar keeps it
        left, right = st.columns(2)
        with left:
            st.plotly_chart(
                ablation_bars(
                    summary, f"Change in RMSE when masked{simulated}<br>({summary['rmse'].iloc[0]:.2f} bu/acre with all inputs)"
                ),
                width="stretch",
            )
            st.dataframe(
                summary.round(3),
                hide_index=True,
                width="stretch",
                column_config={
                    "group": st.column_config.TextColumn("masked", width="medium"),
                    "rmse": st.column_config.NumberColumn("RMSE", width="small"),
                    "delta_rmse": st.column_config.NumberColumn("Δ RMSE", width="small"),
                    "r2": st.column_config.NumberColumn("R²", width="small"),
                },
            )
            retrained = cached_retrain_ablation(str(checkpoint), str(ds.root))
            if retrained is None:
                st.caption(
                    "Retrain-style ablation (the paper's Figure 7): no run of this model and years was retrained without "
                    "a feature group with this checkpoint's settings, and no all-inputs run shares its settings with such "
                    "runs (the bars compare runs trained the same way). Retrain with the checkpoint's settings (its epochs, "
                    "seed, N_y, ...) and `--exclude-group VI` (one per group, `python -m geoapp train yield` or the "
                    "Training page), or, on a dataset that holds 2003-2018, run `python -m geoapp experiments run --plan "
                    "ablation`."
                )
            else:
                st.plotly_chart(
                    ablation_bars(retrained, f"Retrained without the group (Figure 7){simulated}:<br>change in test RMSE"),
                    width="stretch",
                )
                st.caption(retrain_ablation_note(retrained, checkpoint))
            tables = {"what-if": (summary, year), "what-if-per-county": (per_county, year)}
            runs = {kind: checkpoint for kind in tables}
            if retrained is not None:  # the retrained runs are scored on the checkpoint's test year
                card = dict(yield_checkpoints_of(ds)[0]).get(checkpoint) or {}
                tables["retrained"] = (retrained, card.get("years", {}).get("test", year))
                runs["retrained"] = retrained["checkpoint"].iloc[0]  # the all-inputs run compared with, maybe not this one
            for column, (kind, (table, table_year)) in zip(st.columns(len(tables)), tables.items(), strict=True):
                column.download_button(
                    f"{kind} (CSV)",
                    ablation_csv(table, ds.name, ds.simulated, runs[kind], table_year, counties=ds.counties),
                    file_name=ablation_file_name(kind, ds.name, ds.simulated, runs[kind], table_year),
                    mime="text/csv",
                    on_click="ignore",
                    key=f"abl_csv_{kind}",
                )
        with right:
            groups = [g for g in FEATURE_GROUPS if f"{g}_abs_error_change" in per_county]  # a retrained-without group is absent
            group = st.selectbox("Map the per-county change for", groups, key="abl_group")
            values = per_county.set_index("geoid")[f"{group}_abs_error_change"]
            scale = diverging_scale(values.to_numpy(), f"Change in |error| with {group} masked (bu/acre){simulated}")
            selected = st.session_state.get("sel_county")
            states = ds.counties["state"].astype(str)
            if clicked := county_map(values, scale, key="ablation_map", selected=selected, states=states):
                remember("county", clicked)
