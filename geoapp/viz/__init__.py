"""Figures and maps as objects (plotly figures, folium maps). Never imports streamlit."""
