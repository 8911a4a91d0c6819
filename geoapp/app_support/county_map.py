"""A clickable county map in a page: a restyled county layer through streamlit-folium, plus its legend.

The map's polygons reach the browser once (:mod:`geoapp.viz.county_layer`): the base map's script
is the same on every run, so streamlit-folium keeps the map mounted, and a new view, year or
selection only sends the small layer group that restyles the counties (``feature_group_to_add``).

How a click comes back: the click is read *before* the map is drawn, from ``st.session_state[key]``
(which streamlit-folium's change callback sets to the component's value), consumed there, and the
map is restyled with the clicked county outlined in the same run. A click on the county clicked last
still counts after a restyle: each feature carries a digest of its styling, so the component's
value changes.

The same holds for what the Yield map adds on top (:mod:`geoapp.app_support.yield_layers`): a
classed colour scale, the predicted values on the right of a swipe divider, an input band's image
under the counties: all travel in the restyling group. Only switching the swipe on or off changes
the base map (a second county layer and the swipe control), and so remounts it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

import folium
import pandas as pd
import streamlit as st
from streamlit_folium import st_folium

from geoapp.app_support.loaders import cached_county_source, cached_state_outlines
from geoapp.data.counties import FIPS_STATE
from geoapp.data.dataset import YieldDataset
from geoapp.viz.county_layer import Fills, county_base_map, county_styles

__all__ = ["county_labels", "county_map", "county_select", "take_click"]


def _geoid_of(value: object) -> str | None:
    feature = (value or {}).get("last_active_drawing") if isinstance(value, dict) else None
    geoid = ((feature or {}).get("properties") or {}).get("geoid")
    return str(geoid) if geoid else None


def take_click(key: str) -> str | None:
    """The geoid of a county clicked on map ``key`` since the last run, or None; each click is reported once."""
    geoid = _geoid_of(st.session_state.get(key))
    if geoid is not None:
        st.session_state[key] = None  # consumed: the next click sets it again
    return geoid


def county_map(
    values: pd.Series,
    scale: Fills,
    key: str,
    selected: str | None = None,
    height: int = 520,
    *,
    split: bool = False,
    right: tuple[pd.Series, Fills] | None = None,
    sides: tuple[str, str] | None = None,
    overlay: Callable[[str | None], folium.FeatureGroup | None] | None = None,
    states: Iterable[str] | None = None,
) -> str | None:
    """Draw counties coloured by ``values`` (indexed by geoid); return the geoid clicked since the last run, if any.

    The map outlines the clicked county, or else ``selected``. A click is reported once. The
    legend of ``scale`` follows the map.

    Args:
        values: value per county, indexed by geoid (the whole map, or the left side of a swipe).
        scale: colours of the fills (continuous or classed), with the value's label and units.
        key: the map's widget key (its click is read from ``st.session_state[key]``).
        selected: the geoid to outline when no county was just clicked.
        height: map height in pixels.
        split: a swipe map (two county layers); ``right`` (values and scale) fills its right side and
            ``sides`` titles both; without ``right`` the left values fill the whole map.
        right: values and scale of the right side of a swipe map.
        sides: titles of the left and right side of a swipe map.
        overlay: builds the layer group to show under the counties for the outlined county (e.g. an
            input band with that county's anchor tile, :func:`geoapp.viz.county_layer.input_overlay`),
            or gives None for none.
        states: postal codes of the states to draw (the dataset's); default: those of ``values``'
            counties (their GEOIDs' state FIPS codes).
    """
    clicked = take_click(key)
    outlined = clicked or selected
    states = tuple(sorted({str(s) for s in states})) if states is not None else states_of(values.index)
    source = cached_county_source(states)
    m = county_base_map(source.url, source.bounds, states=cached_state_outlines(states), height=height, split=split)
    styles = county_styles(
        list(source.geoids),
        values,
        scale,
        selected=outlined,
        right=right if split else None,
        sides=sides,
        overlay=overlay(outlined) if overlay is not None else None,
    )
    st_folium(
        m,
        key=key,
        height=height,
        use_container_width=True,
        returned_objects=["last_active_drawing"],
        feature_group_to_add=styles,
    )
    st.html(scale.legend_html())
    return clicked


def states_of(geoids: Iterable[str]) -> tuple[str, ...]:
    """The postal codes of the states of county ``geoids`` (their first two digits, the state FIPS code), sorted."""
    return tuple(sorted({FIPS_STATE[g[:2]] for g in map(str, geoids) if g[:2] in FIPS_STATE}))


def county_labels(ds: YieldDataset) -> dict[str, str]:
    """The label ("Name, ST") per geoid of ``ds``'s counties (:meth:`YieldDataset.county_label`), worked out once per dataset.

    A selectbox of every county formats 1,175 options on each run; one lookup each would cost
    a third of a second.
    """
    return _county_labels(str(ds.root), ds.fingerprint, ds)


@st.cache_data(show_spinner=False, max_entries=16)
def _county_labels(root: str, fingerprint: str, _ds: YieldDataset) -> dict[str, str]:
    return {str(g): _ds.county_label(g) for g in _ds.counties["geoid"]}


def _remember_picked_county() -> None:
    st.session_state["sel_county"] = st.session_state.get("w_county")


def county_select(ds: YieldDataset, label: str = "County (or click the map)") -> str | None:
    """A selectbox of ``ds``'s counties that shows and sets the selected county (``sel_county``).

    The widget is seeded from ``sel_county`` on every run (a map click or another page may have
    changed it) and a pick is stored back through its change callback, so the map drawn earlier in
    the next run already outlines it.
    """
    labels = county_labels(ds)
    geoids = list(labels)
    current = st.session_state.get("sel_county")
    st.session_state["w_county"] = current if current in geoids else None
    return st.selectbox(
        label,
        geoids,
        index=None,
        format_func=lambda g: f"{labels.get(g, g)} ({g})",
        key="w_county",
        placeholder="Click a county on the map",
        on_change=_remember_picked_county,
    )
