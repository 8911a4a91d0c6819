"""Page furniture: config, the shared sidebar (dataset, year, simulated badge) and the error box.

Choices made in the sidebar are kept in ``st.session_state`` under ``sel_*`` keys, so they carry
across pages; widget keys (``w_*``) are re-seeded from them on every page.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass

import streamlit as st

from geoapp.app_support.loaders import available_datasets, cached_dataset, ensure_assets
from geoapp.data.dataset import YieldDataset
from geoapp.errors import GeoappError
from geoapp.paths import REPO_ROOT

__all__ = ["PageContext", "setup_page", "page_header", "error_box", "remember", "simulated_note"]

SIMULATED_NOTE = "Simulated data: a documented simulation on real county polygons, not observations."


@dataclass
class PageContext:
    """What the sidebar chose: the open dataset and the year."""

    dataset: YieldDataset
    year: int


def remember(key: str, value: object) -> None:
    """Store a cross-page choice (``sel_<key>``)."""
    st.session_state[f"sel_{key}"] = value


def _persisted_select(label: str, key: str, options: list, format_func=str, default_index: int = 0):
    """A sidebar selectbox whose value survives page switches."""
    current = st.session_state.get(f"sel_{key}")
    index = options.index(current) if current in options else min(default_index, len(options) - 1)
    value = st.sidebar.selectbox(label, options, index=index, format_func=format_func, key=f"w_{key}")
    remember(key, value)
    return value


def simulated_note(ds: YieldDataset) -> str | None:
    """The label shown beside anything drawn from simulated data, or None for real data."""
    return SIMULATED_NOTE if ds.simulated else None


def _run_through_app_py() -> None:
    """Rerun through app.py's navigation when Streamlit ran this page file on its own.

    On a fresh server, Streamlit treats the ``pages/`` folder as old-style auto-navigation until
    app.py has once called ``st.navigation``; a first visit that opens a page's URL directly (a
    bookmark, a shared link) would get a sidebar built from file names ("app", "yield map", ...).
    Leaving that mode and rerunning sends the same URL through app.py, whose page list has the same
    url paths. Streamlit is pinned (requirements.txt); tests/browser covers this path.
    """
    from streamlit.runtime.pages_manager import PagesManager

    if PagesManager.uses_pages_directory:
        PagesManager.uses_pages_directory = False  # what st.navigation itself sets on its first call
        st.rerun()


def setup_page(title: str) -> PageContext | None:
    """Set page config, draw the shared sidebar and return the chosen dataset and year.

    Returns None (after showing an error box) when no dataset can be opened.
    """
    _run_through_app_py()
    # A local favicon: material-icon and emoji favicons are fetched from a font CDN.
    st.set_page_config(page_title=f"{title} · geoapp", page_icon=str(REPO_ROOT / "assets" / "icon.png"), layout="wide")
    ensure_assets()
    with error_box():
        paths = available_datasets()
        labels = {p: cached_dataset(p).title for p in paths}
        path = _persisted_select("Dataset", "dataset", paths, format_func=lambda p: labels[p])
        ds = cached_dataset(path)
        if ds.simulated:
            st.sidebar.markdown(":orange-badge[SIMULATED DATA]")
            st.sidebar.caption(SIMULATED_NOTE)
        years = ds.years
        year = _persisted_select("Year", "year", years, default_index=len(years) - 1)
        return PageContext(dataset=ds, year=int(year))
    return None


def page_header(ds: YieldDataset, title: str, caption: str | None = None) -> None:
    """The page title, an optional caption, and the simulated-data label when it applies."""
    st.title(title)
    if caption:
        st.caption(caption)
    if note := simulated_note(ds):
        st.caption(f"⚠️ {note}")


@contextlib.contextmanager
def error_box() -> Iterator[None]:
    """Show a geoapp error as an error box (with what to do) instead of a traceback; the page goes on."""
    try:
        yield
    except GeoappError as exc:
        st.error(f"{type(exc).__name__}: {exc}")
