"""geoapp home: what the app does, the loaded dataset, its checkpoints, and where to go."""

import streamlit as st

from geoapp.app_support.broken import show_broken
from geoapp.app_support.checkpoints import checkpoint_table, no_checkpoint_message, scan_checkpoints
from geoapp.app_support.page import error_box, setup_page
from geoapp.app_support.provenance import dataset_overview

CHECKPOINT_COLUMNS = {
    "checkpoint": st.column_config.TextColumn(width="medium"),
    "epoch": st.column_config.NumberColumn(width="small"),
}

ctx = setup_page("Home")
st.title("geoapp")
st.markdown(
    "Explore what a **context-aware crop-yield model** predicts for US Corn Belt counties and why, "
    "and what a **learned location encoder** knows about the Earth."
)
if ctx is not None:
    with error_box():
        dataset_overview(ctx.dataset)

st.subheader("Checkpoints")
with error_box():
    if ctx is not None:
        rows = checkpoint_table(ctx.dataset)
        if rows:
            st.caption(f"Crop-yield checkpoints trained on {ctx.dataset.title}")
            st.dataframe(rows, hide_index=True, width="stretch", column_config=CHECKPOINT_COLUMNS)
        else:
            st.info(no_checkpoint_message(ctx.dataset))
    encoders = checkpoint_table()
    if encoders:
        st.caption("Location encoders")
        st.dataframe(encoders, hide_index=True, width="stretch", column_config=CHECKPOINT_COLUMNS)
    show_broken(scan_checkpoints()[1], hint="The other checkpoints stay usable; fix or remove these folders.")

st.subheader("Pages")
st.page_link(
    "pages/yield_map.py",
    label="Yield map: county yields by year; click a county for its history and inputs",
    icon=":material/map:",
)
st.page_link(
    "pages/attention.py",
    label="Attention: which months the model looks at, per head or averaged, for one county or all",
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
st.page_link(
    "pages/encoder_probes.py",
    label="Encoder probes: what a linear model reads off each location encoder, mapped with its errors",
    icon=":material/insights:",
)
st.page_link(
    "pages/training.py",
    label="Training: train a crop-yield model on any dataset, or a location encoder; watch it live",
    icon=":material/model_training:",
)
st.page_link(
    "pages/experiments.py",
    label="Experiments: the paper's tables and figures from the results store; queue the missing runs",
    icon=":material/science:",
)
