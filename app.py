"""geoapp entry point: `streamlit run app.py` (or `make run`). Registers the pages and runs the chosen one."""

import streamlit as st

# No page icons: Streamlit turns a page icon into the favicon and fetches it from a font CDN.
PAGES = [
    st.Page("pages/home.py", title="Home", default=True),
    st.Page("pages/yield_map.py", title="Yield map", url_path="yield_map"),
    st.Page("pages/attention.py", title="Attention", url_path="attention"),
    st.Page("pages/feature_ablation.py", title="Feature ablation", url_path="feature_ablation"),
    st.Page("pages/location_similarity.py", title="Location similarity", url_path="location_similarity"),
    st.Page("pages/geolocalization.py", title="Geolocalization", url_path="geolocalization"),
    st.Page("pages/training.py", title="Training", url_path="training"),
]

st.navigation(PAGES).run()
