"""A clickable county map in a page: folium choropleth through streamlit-folium, plus its legend."""

from __future__ import annotations

import pandas as pd
import streamlit as st
from streamlit_folium import st_folium

from geoapp.app_support.loaders import cached_county_geojson
from geoapp.viz.colors import ColorScale
from geoapp.viz.maps import county_choropleth

__all__ = ["county_map"]


def county_map(values: pd.Series, scale: ColorScale, key: str, selected: str | None = None, height: int = 520) -> str | None:
    """Draw counties coloured by ``values`` (indexed by geoid); return the geoid clicked last, if any.

    A click is reported once: the same click is not returned again on later reruns.
    """
    m = county_choropleth(cached_county_geojson(), values, scale, value_label=scale.label, selected=selected, height=height)
    out = st_folium(m, key=key, height=height, use_container_width=True, returned_objects=["last_active_drawing"])
    st.html(scale.legend_html())
    feature = (out or {}).get("last_active_drawing") or {}
    geoid = (feature.get("properties") or {}).get("geoid")
    seen_key = f"_seen_click_{key}"
    if geoid and st.session_state.get(seen_key) != geoid:
        st.session_state[seen_key] = geoid
        return str(geoid)
    return None
