"""geoapp entry point: `streamlit run app.py` (or `make run`). Registers the pages and runs the chosen one."""

import streamlit as st

PAGES = [
    st.Page("pages/home.py", title="Home", icon=":material/home:", default=True),
    st.Page("pages/yield_map.py", title="Yield map", icon=":material/map:", url_path="yield_map"),
]

st.navigation(PAGES).run()
