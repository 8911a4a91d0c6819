"""geoapp entry point: `streamlit run app.py` (or `make run`). Registers the pages and runs the chosen one.

`make run` starts it through `python -m geoapp.app_support.serve`, which preloads the pages' modules and
caches as soon as the server is up; under a plain `streamlit run` the preload starts with the first visit.
"""

import streamlit as st

from geoapp.app_support.preload import start_preload

start_preload()  # once per server process; later runs return at once

# No page icons: Streamlit turns a page icon into the favicon and fetches it from a font CDN.
PAGES = [
    st.Page("pages/home.py", title="Home", default=True),
    st.Page("pages/yield_map.py", title="Yield map", url_path="yield_map"),
    st.Page("pages/attention.py", title="Attention", url_path="attention"),
    st.Page("pages/feature_ablation.py", title="Feature ablation", url_path="feature_ablation"),
    st.Page("pages/location_similarity.py", title="Location similarity", url_path="location_similarity"),
    st.Page("pages/geolocalization.py", title="Geolocalization", url_path="geolocalization"),
    st.Page("pages/encoder_probes.py", title="Encoder probes", url_path="encoder_probes"),
    st.Page("pages/training.py", title="Training", url_path="training"),
    st.Page("pages/experiments.py", title="Experiments", url_path="experiments"),
]

st.navigation(PAGES).run()
