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
    similarity_downloads,
    take_map_click,
    warm_gallery,
)
from geoapp.app_support.page import error_box, setup_page
from geoapp.data.geonames import country_of
from geoapp.viz.colors import ColorScale
from geoapp.viz.globe import similarity_globe
from geoapp.viz.similarity_map import field_png, world_field_map

setup_page("Location similarity", dataset=False)
st.title("Location similarity")
st.caption(
    "Cosine similarity of location embeddings between a reference point and 100,000 places. Click the map to move the reference."
)
with error_box():
    show_broken_encoders()
    c1, c2, c3, c4 = st.columns([3, 3, 3, 2], vertical_alignment="bottom")
    encoders = encoder_choices()
    encoder_name = c1.selectbox("Encoder", list(encoders), format_func=encoders.get, key="sim_encoder")
    gallery_name = c2.selectbox("Gallery", list(GALLERIES), format_func=GALLERIES.get, key="sim_gallery")
    ref = take_map_click("sim_map") or st.session_state.setdefault("sim_ref", PRESETS["Hong Kong"])
    reference_preset_select(c3)
    show_globe = c4.toggle("3-D globe", key="sim_globe", help="A globe of the 100,000 values beside the map: drag to spin it.")

    warm_gallery(encoder_name, gallery_name)
    encoder, gallery, raster = cached_encoder(encoder_name), cached_gallery(gallery_name), cached_raster_index(gallery_name)
    coords, sims = similarity(ref[0], ref[1], encoder, gallery)
    lo, hi = float(np.percentile(sims, 1)), float(sims.max())
    scale = ColorScale("Turbo", lo, hi, "Cosine similarity to the reference")
    fmap = world_field_map(field_png(sims, raster, lo, hi), raster.bounds, reference=ref, basemap_url=cached_basemap_url())
    map_col, globe_col = st.columns(2) if show_globe else (st.container(), None)
    with map_col:
        st_folium(fmap, key="sim_map", height=480, use_container_width=True, returned_objects=["last_clicked"])
    if globe_col is not None:
        globe_col.pydeck_chart(similarity_globe(coords, sims, scale, ref), height=480)
    st.html(scale.legend_html())

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
    similarity_downloads(coords, sims, encoder_name, gallery_name, ref)
