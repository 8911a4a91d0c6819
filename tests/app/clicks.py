"""A stand-in for streamlit-folium's map component under AppTest, which cannot run custom components.

It behaves as the component does in a browser: a click stores the map's value in
``st.session_state[key]`` (streamlit-folium's change callback) and reruns the page; a freshly drawn
map reports no click.
"""

from __future__ import annotations

import re

import streamlit as st

import geoapp.app_support.county_map as county_map


class CountyClicks:
    """Records the county maps drawn; ``queue`` holds geoids the user clicks, one per drawn map, in order."""

    def __init__(self, *geoids: str) -> None:
        self.queue = list(geoids)
        self.drawn: list = []

    def __call__(self, m, key=None, feature_group_to_add=None, **kwargs):
        if feature_group_to_add is not None:  # as streamlit-folium does: the group's script joins the map's
            feature_group_to_add.add_to(m)
        self.drawn.append(m)
        if self.queue:  # the user clicks a county on the map just drawn
            st.session_state[key] = {"last_active_drawing": {"properties": {"geoid": self.queue.pop(0)}}}
            st.rerun()
        return {"last_active_drawing": None}


def county_clicks(monkeypatch, *geoids: str) -> CountyClicks:
    """Replace the county map's component with a :class:`CountyClicks` that clicks ``geoids`` in turn."""
    stub = CountyClicks(*geoids)
    monkeypatch.setattr(county_map, "st_folium", stub)
    return stub


def outlined(m) -> list[str]:
    """The geoids a drawn county map outlines as selected (its restyling layer's ``selected``)."""
    html = m.get_root().render()
    return re.findall(r'"selected": "(\d{5})"', html)
