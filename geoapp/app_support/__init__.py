"""Helpers shared by the Streamlit pages (the only geoapp package that imports streamlit)."""
