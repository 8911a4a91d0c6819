"""Geolocalization: where on Earth is this image? Top-k places from a 100K gallery."""

import warnings

import numpy as np
import streamlit as st
from streamlit_folium import st_folium

from geoapp.analysis.location import FootprintWarning, geolocate
from geoapp.app_support.geolocation_input import UPLOAD_PROMPT, held_out_input, map_caption, upload_input
from geoapp.app_support.location import (
    cached_basemap_url,
    cached_encoder,
    cached_gallery,
    cached_raster_index,
    encoder_choices,
    geolocation_download,
    show_broken_encoders,
    warm_gallery,
)
from geoapp.app_support.page import error_box, setup_page
from geoapp.viz.exports import geolocation_table
from geoapp.viz.geolocation_map import prediction_map

setup_page("Geolocalization", dataset=False)
st.title("Geolocalization")
st.caption(
    "Our contrastive model embeds an image and retrieves the most similar places among 100,000 land points. "
    "It was trained on NASA Blue Marble patches 100-1,600 km wide, with and without a shaded-relief band."
)

with error_box():
    show_broken_encoders()
    models = encoder_choices(include_geoclip=False)  # geolocation needs our image encoder too
    model_name = st.selectbox("Model", list(models), format_func=models.get, key="geo_model")
    model = cached_encoder(model_name)
    warm_gallery(model_name, "land")
    source = st.radio("Image", ["Held-out patch", "Upload an image"], horizontal=True, key="geo_source")
    given = held_out_input(model) if source == "Held-out patch" else upload_input(model)
    if given is None:
        st.info(UPLOAD_PROMPT)
        st.stop()
    for warning in given.warnings:
        st.warning(warning)
    if given.notes:
        st.caption(" · ".join(given.notes))
    top_k = st.slider("Top-k", 1, 20, 5, key="geo_topk")
    with warnings.catch_warnings():  # shown above already (given.warnings)
        warnings.simplefilter("ignore", FootprintWarning)
        preds = geolocate(given.image, top_k, model, cached_gallery("land"), footprint_km=given.footprint_km)

    left, right = st.columns([1, 2])
    with left:
        st.image(np.asarray(given.image)[..., :3], caption=given.title, width=256)
        table = geolocation_table(preds, given.truth)
        if given.truth is not None:
            st.metric("Error of the top prediction", f"{table['error_km'].iloc[0]:,.0f} km")
        st.dataframe(table.round({"lat": 2, "lon": 2, "score": 3, "error_km": 0}), hide_index=True)
        geolocation_download(preds, given.truth, model_name, given.label)
    with right:
        fmap = prediction_map(preds, given.truth, cached_basemap_url(), cached_raster_index("land").bounds)
        st_folium(fmap, key="geo_map", height=460, use_container_width=True, returned_objects=[])
        st.caption(map_caption(given, len(preds)))
