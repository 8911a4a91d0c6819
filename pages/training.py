"""Training: start a crop-yield or location-encoder training job, watch it live, cancel or resume it."""

import streamlit as st

from geoapp.app_support.ensemble_form import ensemble_form
from geoapp.app_support.page import error_box, setup_page
from geoapp.app_support.training import jobs_section, location_form, start_job, training_dataset, yield_form
from geoapp.training.device import describe_devices

ctx = setup_page("Training")
st.title("Training")
st.caption(
    "Jobs run in their own process: they keep going when you leave this page or close the browser. "
    "One job at a time; finished checkpoints appear in every page's model selector."
)
ds = None  # the crop-yield form's dataset, once drawn
with error_box():
    st.info(describe_devices())
    kind = st.radio(
        "What to train",
        ["yield", "location"],
        horizontal=True,
        key="train_kind",
        format_func={"yield": "Crop-yield model", "location": "Location encoder"}.get,
    )
    if kind == "yield":
        ds = training_dataset(ctx.dataset if ctx is not None else None)
        spec = yield_form(ds)
    else:
        spec = location_form()
    if spec is not None:
        start_job(spec)
if ds is not None:
    with error_box():
        ensemble_form(ds)

with error_box():
    st.fragment(jobs_section, run_every=1.0)()
