"""geoapp home: what the app does, the loaded dataset, and where to go."""

import streamlit as st

from geoapp.app_support.checkpoints import checkpoint_table
from geoapp.app_support.page import error_box, setup_page
from geoapp.data.summary import dataset_summary

ctx = setup_page("Home")
st.title("geoapp")
st.markdown(
    "Explore what a **context-aware crop-yield model** predicts for US Corn Belt counties and why, "
    "and what a **learned location encoder** knows about the Earth."
)
if ctx is not None:
    with error_box():
        ds = ctx.dataset
        if ds.simulated:
            st.warning(
                "The loaded dataset is **simulated**: a documented generating process on the real 2016 Census "
                "county polygons (see docs/simulated-data.md). Bring real data with a NASS Quick Stats export "
                "and rasters (README, 'Real data')."
            )
        s = dataset_summary(ds)
        c1, c2, c3, c4 = st.columns(4)
        c1.metric("Counties", s["counties"])
        c2.metric("Labelled per year", s["labelled_per_year_mean"])
        c3.metric("Years", f"{s['years'][0]}–{s['years'][1]}")
        c4.metric("Grid", f"{s['grid']['resolution_km']:g} km, {s['grid']['tile_px']} px tiles")
        with st.expander("Dataset details"):
            st.json(s)

st.subheader("Checkpoints")
rows = checkpoint_table()
if rows:
    st.dataframe(rows, hide_index=True)
else:
    st.info("No trained checkpoints yet.")

st.subheader("Pages")
st.page_link(
    "pages/yield_map.py",
    label="Yield map: county yields by year; click a county for its history and inputs",
    icon=":material/map:",
)
st.page_link(
    "pages/attention.py",
    label="Attention: which months the model looks at, beside the true critical months",
    icon=":material/grid_on:",
)
st.page_link(
    "pages/feature_ablation.py",
    label="Feature ablation: what the model relies on, group by group and county by county",
    icon=":material/tune:",
)
st.page_link(
    "pages/location_similarity.py",
    label="Location similarity: click a point, see which places on Earth are like it",
    icon=":material/public:",
)
st.page_link(
    "pages/geolocalization.py",
    label="Geolocalization: where was this image taken? Top-k places from 100K",
    icon=":material/travel_explore:",
)
