"""Location similarity: click any point; see how similar every place on Earth is to it."""

import numpy as np
import streamlit as st
from streamlit_folium import st_folium

from geoapp.analysis.location import similarity
from geoapp.app_support.location import (
    GALLERIES,
    PRESETS,
    cached_basemap_url,
    cached_encoder,
    cached_gallery,
    cached_raster_index,
    encoder_choices,
    reference_preset_select,
    show_broken_encoders,
    take_map_click,
    warm_gallery,
)
from geoapp.app_support.page import error_box, setup_page
from geoapp.data.geonames import country_of
from geoapp.viz.colors import ColorScale
from geoapp.viz.similarity_map import field_png, world_field_map

setup_page("Location similarity", dataset=False)
st.title("Location similarity")
st.caption(
    "Cosine similarity of location embeddings between a reference point and 100,000 places. Click the map to move the reference."
)
with error_box():
    show_broken_encoders()
    c1, c2, c3 = st.columns(3)
    encoders = encoder_choices()
    encoder_name = c1.selectbox("Encoder", list(encoders), format_func=encoders.get, key="sim_encoder")
    gallery_name = c2.selectbox("Gallery", list(GALLERIES), format_func=GALLERIES.get, key="sim_gallery")
    ref = take_map_click("sim_map") or st.session_state.setdefault("sim_ref", PRESETS["Hong Kong"])
    reference_preset_select(c3)

    warm_gallery(encoder_name, gallery_name)
    encoder, gallery, raster = cached_encoder(encoder_name), cached_gallery(gallery_name), cached_raster_index(gallery_name)
    coords, sims = similarity(ref[0], ref[1], encoder, gallery)
    lo, hi = float(np.percentile(sims, 1)), float(sims.max())
    fmap = world_field_map(field_png(sims, raster, lo, hi), raster.bounds, reference=ref, basemap_url=cached_basemap_url())
    st_folium(fmap, key="sim_map", height=480, use_container_width=True, returned_objects=["last_clicked"])
    st.html(ColorScale("Turbo", lo, hi, "Cosine similarity to the reference").legend_html())

    st.markdown(f"**Reference:** {ref[0]:.2f}, {ref[1]:.2f} · **Encoder:** {encoders[encoder_name]}")
    top = np.argsort(-sims)[:10]
    st.dataframe(
        {
            "lat": coords[top, 0].round(2),
            "lon": coords[top, 1].round(2),
            "country": country_of(coords[top]),
            "similarity": sims[top].round(3),
        },
        hide_index=True,
    )
