"""Yield map: county yields of a year; a click shows the county's yields over the years and its inputs."""

import streamlit as st

from geoapp.app_support.county_map import county_map
from geoapp.app_support.page import error_box, remember, setup_page, simulated_note
from geoapp.data.tiles import county_monthly_inputs
from geoapp.viz.charts import monthly_inputs, yield_history
from geoapp.viz.colors import sequential_scale

ctx = setup_page("Yield map")
if ctx is not None:
    ds, year = ctx.dataset, ctx.year
    st.title(f"County yields, {year}")
    if note := simulated_note(ds):
        st.caption(f"⚠️ {note}")
    with error_box():
        values = ds.year_yields(year)
        scale = sequential_scale(ds.labelled()["yield"].to_numpy(), "Yield (bu/acre)")
        left, right = st.columns([3, 2])
        with left:
            clicked = county_map(values, scale, key="yield_map", selected=st.session_state.get("sel_county"))
        if clicked:
            remember("county", clicked)
            st.session_state["w_county"] = clicked
        with right:
            geoids = ds.counties["geoid"].tolist()
            current = st.session_state.get("sel_county")
            geoid = st.selectbox(
                "County (or click the map)",
                geoids,
                index=geoids.index(current) if current in geoids else None,
                format_func=lambda g: f"{ds.county_label(g)} ({g})",
                key="w_county",
                placeholder="Click a county on the map",
            )
            if geoid:
                remember("county", geoid)
                value = values.get(geoid)
                st.metric(f"{ds.county_label(geoid)}, {year}", "withheld" if value is None else f"{value:.1f} bu/acre")
                history = ds.yields[ds.yields["geoid"] == geoid]
                st.plotly_chart(yield_history(history, ds.county_label(geoid), year, ds.simulated), use_container_width=True)
        if geoid:
            inputs = county_monthly_inputs(ds, geoid, year)
            st.plotly_chart(
                monthly_inputs(inputs, f"Inputs over the months, {ds.county_label(geoid)} {year} (anchor tile mean)", ds.simulated),
                use_container_width=True,
            )
