"""What the Yield map draws beyond one coloured view: classes, a swipe of true | predicted, a model input.

:func:`map_controls` puts the three choices in a row (colour classes, the swipe toggle, an input
band and month) and :func:`yield_county_map` draws the county map with them. The swipe shows true
yields left of the divider and predictions right of it, on one scale; the Error view stays one
click away (the view radio) and fills the whole map. An input band is drawn as an image under the
county outlines, with its colour bar, and the outlined county's anchor tile (the square of cube
pixels the model reads) is drawn over it.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import pandas as pd
import streamlit as st

from geoapp.app_support.county_map import county_map
from geoapp.app_support.loaders import cached_dataset
from geoapp.app_support.yield_views import MAP_VIEWS, NOISE_FREE_VIEW, OFFSET_VIEW, map_layer
from geoapp.data.bands import BAND_INFO, BANDS, MONTH_NAMES, MONTHS
from geoapp.data.dataset import YieldDataset
from geoapp.data.tiles import county_anchor, tile_origin
from geoapp.errors import GeoappError
from geoapp.viz.classify import CONTINUOUS, SCHEMES, classed_scale
from geoapp.viz.colors import ColorScale
from geoapp.viz.county_layer import Fills, input_overlay
from geoapp.viz.input_layer import BandImage, band_image, tile_outline
from geoapp.viz.offline_assets import side_by_side_installed

__all__ = ["MapControls", "map_controls", "yield_county_map", "cached_band_image", "NO_INPUT"]

DIVERGING_VIEWS = (MAP_VIEWS[2], OFFSET_VIEW, NOISE_FREE_VIEW)
"""Views centred at 0 (errors, county offsets): classed over their own values, and never swiped."""

NO_INPUT = "none"
"""The input-band choice that shows no input image."""
SIDES = ("True", "Predicted")
"""Titles of the swipe's left and right side."""


@dataclass(frozen=True)
class MapControls:
    """The Yield map's choices: colour classes (a key of :data:`SCHEMES`), swipe on/off, input band and month."""

    scheme: str = CONTINUOUS
    split: bool = False
    band: str | None = None
    month: int = 7


def map_controls(has_predictions: bool) -> MapControls:
    """The row of map controls; the swipe needs predictions (a checkpoint) and the plugin's files (``make assets``)."""
    c1, c2, c3, c4 = st.columns([2, 2, 2, 2])
    scheme = c1.selectbox("Colour classes", list(SCHEMES), index=0, key="yield_scheme")
    installed = side_by_side_installed()
    split = c2.toggle(
        "Side by side: true | predicted",
        key="yield_split",
        disabled=not (has_predictions and installed),
        help="Swipe between true (left) and predicted (right) yields on one scale."
        if installed
        else "The swipe control's files are missing: run `make assets`.",
    )
    band = c3.selectbox(
        "Model input under the counties",
        [NO_INPUT, *BANDS],
        index=0,
        key="yield_input_band",
        format_func=lambda b: b if b == NO_INPUT else f"{b} ({BAND_INFO[b].long_name})",
    )
    static = band in BAND_INFO and BAND_INFO[band].static
    month = c4.select_slider(
        "Input month",
        list(MONTHS),
        value=7,
        key="yield_input_month",
        format_func=MONTH_NAMES.get,
        disabled=band == NO_INPUT or static,
        help="Static bands (terrain, soil) are the same every month." if static else None,
    )
    return MapControls(scheme, bool(split and has_predictions and installed), None if band == NO_INPUT else band, int(month))


@st.cache_data(show_spinner="Reprojecting the input band…", max_entries=24)
def cached_band_image(dataset_path: str, fingerprint: str, band: str, year: int, month: int) -> BandImage:
    """:func:`geoapp.viz.input_layer.band_image` of the dataset at ``dataset_path``, cached per slice."""
    ds = cached_dataset(dataset_path)
    return band_image(ds.cube, ds.grid, band, year, month)


def _anchor_outline(ds: YieldDataset, geoid: str | None) -> list[tuple[float, float]] | None:
    """The (lat, lon) outline of ``geoid``'s anchor tile, or None without a county (or one not in ``ds``)."""
    if not geoid:
        return None
    try:
        anchor = county_anchor(ds, geoid)
    except GeoappError:
        return None
    r0, c0 = tile_origin(int(anchor["anchor_row"]), int(anchor["anchor_col"]), ds.tile_px, ds.grid.shape)
    return tile_outline(ds.grid, r0, c0, ds.tile_px)


def _scales(ds: YieldDataset, view: str, values: pd.Series, scale: ColorScale, scheme: str) -> Fills:
    """The fills of a view: the continuous ``scale``, or its classes over the dataset's labels (errors, offsets: this map's)."""
    if scheme == CONTINUOUS:
        return scale
    reference = values.to_numpy() if view in DIVERGING_VIEWS else ds.labelled()["yield"].to_numpy()
    return _cached_classes(reference, scale, scheme)


@st.cache_data(show_spinner=False, max_entries=64)
def _cached_classes(reference: np.ndarray, scale: ColorScale, scheme: str) -> Fills:
    """:func:`classed_scale`, once per reference values, scale and scheme (natural breaks take half a second)."""
    return classed_scale(reference, scale, scheme)


def yield_county_map(
    ds: YieldDataset, year: int, view: str, table: pd.DataFrame | None, controls: MapControls, key: str, selected: str | None
) -> str | None:
    """Draw the Yield map for ``view`` with ``controls``; return the geoid clicked since the last run, if any.

    Shows an error box (and the map without the input image) when the input band cannot be drawn.
    """
    values, scale = map_layer(ds, year, view, table)
    fills = _scales(ds, view, values, scale, controls.scheme)
    right = None
    if controls.split and table is not None and view not in DIVERGING_VIEWS:
        true_values, true_scale = map_layer(ds, year, MAP_VIEWS[0], table)
        pred_values, pred_scale = map_layer(ds, year, MAP_VIEWS[1], table)
        values, fills = true_values, _scales(ds, MAP_VIEWS[0], true_values, true_scale, controls.scheme)
        right = (pred_values, _scales(ds, MAP_VIEWS[1], pred_values, pred_scale, controls.scheme))
    image = None
    if controls.band is not None:
        try:
            month = MONTHS[0] if BAND_INFO[controls.band].static else controls.month  # one image per static band
            image = cached_band_image(str(ds.root), ds.fingerprint, controls.band, int(year), month)
        except GeoappError as exc:
            st.error(f"Cannot draw {controls.band} for {MONTH_NAMES[controls.month]} {year}: {exc}")

    def overlay(geoid: str | None):
        return None if image is None else input_overlay(image, _anchor_outline(ds, geoid))

    clicked = county_map(
        values, fills, key=key, selected=selected, split=controls.split, right=right, sides=SIDES, overlay=overlay,
        states=ds.counties["state"].astype(str),
    )  # fmt: skip
    if right is not None:
        st.caption("Swipe the divider: true yields on the left, predicted on the right, one colour scale.")
    if image is not None:
        label = " · simulated" if ds.simulated else ""
        st.html(replace(image.scale, label=image.scale.label + label).legend_html())
        st.caption(
            f"Model input under the county outlines: {image.title}{label} (the cube's grid, {ds.grid.crs}, reprojected "
            "to Web Mercator). The dashed square is the outlined county's anchor tile, the pixels the model reads."
        )
    return clicked
