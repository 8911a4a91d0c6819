"""Encoder probes: what a linear model reads off each location encoder's embeddings, and where it errs."""

import streamlit as st

from geoapp.app_support.location import cached_encoder, encoder_choices, show_broken_encoders
from geoapp.app_support.page import error_box, setup_page
from geoapp.app_support.probes import cached_regression_probe
from geoapp.viz.probe_map import PROBE_VIEWS, probe_map

setup_page("Encoder probes", dataset=False)
st.title("Encoder probes")
st.caption(
    "A ridge regression predicts the distance to the sea coast (km, measured from real coastlines) from each "
    "encoder's embedding of 20,000 random land points; the map shows the 5,000 held out. A smooth, informative "
    "embedding predicts the field well; a location hash does not. Country-probe figures for every encoder are in "
    "docs/location-benchmark.md."
)

with error_box():
    show_broken_encoders()
    choices = encoder_choices()
    name = st.selectbox("Encoder", list(choices), format_func=choices.get, key="probe_encoder")
    probe = cached_regression_probe(name, cached_encoder(name).fingerprint)
    c1, c2, c3 = st.columns(3)
    c1.metric("R^2 (held out)", f"{probe.r2:.2f}")
    c2.metric("RMSE", f"{probe.rmse_km:,.0f} km")
    c3.metric("RMSE of predicting the mean", f"{probe.mean_baseline_rmse_km:,.0f} km")
    view = st.radio("Map", PROBE_VIEWS, index=2, horizontal=True, key="probe_view")
    st.plotly_chart(
        probe_map(probe.points, probe.true, probe.predicted, view, "distance to the coast (km)", f"{view}: {choices[name]}"),
        width="stretch",
    )
