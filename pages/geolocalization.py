"""Geolocalization: where on Earth is this image? Top-k places from a 100K gallery."""

import numpy as np
import streamlit as st
from streamlit_folium import st_folium

from geoapp.analysis.location import distance_km, geolocate
from geoapp.app_support.location import (
    cached_basemap_url,
    cached_encoder,
    cached_gallery,
    cached_raster_index,
    encoder_choices,
    show_broken_encoders,
    warm_gallery,
)
from geoapp.app_support.page import error_box, setup_page
from geoapp.data.imagery import extract_patch, validate_image_upload
from geoapp.training.location_trainer import split_locations
from geoapp.viz.geolocation_map import prediction_map

setup_page("Geolocalization", dataset=False)
st.title("Geolocalization")
st.caption("Our contrastive model embeds a Blue Marble patch and retrieves the most similar places among 100,000 land points.")
UPLOAD_LIMIT_MB = 5
"""Largest upload, in MB: the widget's limit, the label's and the check's (.streamlit/config.toml agrees)."""

with error_box():
    show_broken_encoders()
    models = encoder_choices(include_geoclip=False)  # geolocation needs our image encoder too
    model_name = st.selectbox("Model", list(models), format_func=models.get, key="geo_model")
    model = cached_encoder(model_name)
    warm_gallery(model_name, "land")
    source = st.radio("Image", ["Held-out patch", "Upload an image"], horizontal=True, key="geo_source")
    truth = None
    if source == "Held-out patch":
        test = split_locations(model.config)[2]
        idx = st.number_input(
            f"Held-out location (0-{len(test) - 1})", 0, len(test) - 1, value=st.session_state.get("geo_idx", 0), key="geo_idx"
        )
        truth = (float(test[idx, 0]), float(test[idx, 1]))
        image = extract_patch(
            truth[0], truth[1], size_px=model.config.patch_px, footprint_km=model.config.footprint_km, relief=model.config.relief
        )
    else:
        upload = st.file_uploader(
            f"A satellite-style image (PNG/JPEG, at most {UPLOAD_LIMIT_MB} MB)",
            type=["png", "jpg", "jpeg"],
            key="geo_upload",
            max_upload_size=UPLOAD_LIMIT_MB,
        )
        if upload is None:
            st.info("Upload an image to geolocate it.")
            st.stop()
        image = validate_image_upload(upload.getvalue(), max_bytes=UPLOAD_LIMIT_MB * 1024 * 1024)
    top_k = st.slider("Top-k", 1, 20, 5, key="geo_topk")
    preds = geolocate(image, top_k=top_k, model=model, gallery=cached_gallery("land"))

    left, right = st.columns([1, 2])
    with left:
        st.image(np.asarray(image)[..., :3], caption="input (RGB)", width=256)
        rows = [
            {"rank": i + 1, "lat": round(p[0], 2), "lon": round(p[1], 2), "score": round(p[2], 3)} for i, p in enumerate(preds)
        ]
        if truth is not None:
            for r, p in zip(rows, preds, strict=True):
                r["error_km"] = round(distance_km(truth, p[:2]))
            st.metric("Error of the top prediction", f"{distance_km(truth, preds[0][:2]):,.0f} km")
        st.dataframe(rows, hide_index=True)
    with right:
        fmap = prediction_map(preds, truth, cached_basemap_url(), cached_raster_index("land").bounds)
        st_folium(fmap, key="geo_map", height=460, use_container_width=True, returned_objects=[])
