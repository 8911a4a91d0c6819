"""Cached loaders: each dataset and GeoJSON is read once per server process, not on every rerun."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import streamlit as st

from geoapp.app_support.broken import Broken, reason_of
from geoapp.data.counties import simplified_geojson_path, state_outlines_geojson_path
from geoapp.data.dataset import CARD, YieldDataset, default_dataset_path, ensure_default_dataset, list_datasets, load_dataset
from geoapp.errors import GeoappError
from geoapp.paths import data_dir, static_dir
from geoapp.viz.maps import geojson_bounds, load_geojson
from geoapp.viz.offline_assets import install_leaflet, leaflet_installed, publish_geojson

__all__ = [
    "cached_dataset",
    "dataset_label",
    "open_datasets",
    "cached_county_geojson",
    "CountySource",
    "cached_county_source",
    "cached_state_outlines",
    "available_datasets",
    "ensure_assets",
]


def cached_dataset(path: str) -> YieldDataset:
    """The dataset folder at ``path``, opened once and shared by every session.

    A folder rebuilt in place (a new ``dataset.json``) is opened again rather than served stale; a
    folder that cannot be opened is not cached, so it is tried again once fixed.
    """
    try:
        stamp = (Path(path) / CARD).stat().st_mtime_ns
    except OSError:
        stamp = None  # load_dataset says what is missing
    return _open_dataset(str(path), stamp)


@st.cache_resource(show_spinner="Opening dataset…", max_entries=16)
def _open_dataset(path: str, stamp: int | None) -> YieldDataset:
    return load_dataset(path)


def dataset_label(path: str) -> str:
    """How a selector names the dataset folder at ``path``: its title, or that it cannot be opened."""
    try:
        return cached_dataset(path).title
    except Exception:  # noqa: BLE001 - one broken folder must not take the selector down
        return f"{Path(path).name} (cannot be opened)"


def open_datasets(paths: list[str]) -> tuple[dict[str, YieldDataset], list[Broken]]:
    """Open each dataset folder on its own: (the opened ones by path, in order; the broken ones with why).

    Any error opening one folder (a garbled card, a missing file, a bad value in the card) lists
    that folder as broken; the others stay usable.
    """
    good: dict[str, YieldDataset] = {}
    broken: list[Broken] = []
    for path in paths:
        try:
            ds = cached_dataset(path)
            ds.years  # noqa: B018 - the sidebar needs them: a cube without years is broken
            ds.title  # noqa: B018
        except (GeoappError, OSError, ValueError, KeyError, TypeError, AttributeError, IndexError) as exc:
            broken.append(Broken(path, reason_of(exc)))
            continue
        good[path] = ds
    return good, broken


@st.cache_data(show_spinner=False)
def cached_county_geojson(states: tuple[str, ...] | None = None) -> dict:
    """Simplified county polygons (GeoJSON dict, EPSG:4326) of ``states`` (postal codes; default: the demo's) for choropleths."""
    return load_geojson(simplified_geojson_path(states))


@dataclass(frozen=True)
class CountySource:
    """The county polygons as a county map's browser fetches them.

    Attributes:
        url: where the app serves the GeoJSON (EPSG:4326) of :func:`cached_county_geojson`.
        geoids: the counties in it, in file order.
        bounds: [[south, west], [north, east]] degrees.
    """

    url: str
    geoids: tuple[str, ...]
    bounds: list[list[float]]


@st.cache_resource(show_spinner=False)
def cached_county_source(states: tuple[str, ...] | None = None) -> CountySource:
    """The simplified county polygons of ``states`` (default: the demo's) published in the static folder, once each."""
    path = simplified_geojson_path(states)
    geojson = cached_county_geojson(states)
    geoids = tuple(str(f["properties"]["geoid"]) for f in geojson["features"])
    return CountySource(url=publish_geojson(path, "counties"), geoids=geoids, bounds=geojson_bounds(geojson))


@st.cache_data(show_spinner=False)
def cached_state_outlines(states: tuple[str, ...] | None = None) -> dict:
    """Simplified outlines of ``states`` (default: the demo's) with label points (GeoJSON, EPSG:4326), over county maps."""
    return load_geojson(state_outlines_geojson_path(states))


def available_datasets() -> list[str]:
    """Dataset folders under the data directory (``$GEOAPP_DATA_DIR``), the embedded demo first.

    Builds the embedded one when the directory holds no dataset at all.
    """
    found = _datasets_under(str(data_dir()))
    demo = str(default_dataset_path("demo"))
    return sorted(found, key=lambda p: p != demo)  # stable: the rest keep their folder-name order


@st.cache_data(ttl=30, show_spinner=False)
def _datasets_under(root: str) -> list[str]:
    found = list_datasets(root)
    if not found:
        with st.spinner("Building the embedded simulated dataset (about 30 s, once)…"):
            found = [ensure_default_dataset(progress=False)]
    return [str(p) for p in found]


@st.cache_resource(show_spinner=False)
def ensure_assets() -> Path:
    """Leaflet in the static folder (copied from xstatic-leaflet if missing)."""
    if not leaflet_installed():
        return install_leaflet()
    return static_dir() / "leaflet"
