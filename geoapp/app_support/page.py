"""Page furniture: config, the shared sidebar (dataset, its provenance, year) and the error box.

Choices made in the sidebar are kept in ``st.session_state`` under ``sel_*`` keys, so they carry
across pages; widget keys (``w_*``) are re-seeded from them on every page. A choice that does not
belong to the chosen dataset (a county it lacks, a checkpoint trained on other data, a year it does
not cover) is dropped when the dataset changes.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass

import streamlit as st

from geoapp.app_support.checkpoints import trained_on
from geoapp.app_support.loaders import available_datasets, cached_dataset, dataset_label, ensure_assets
from geoapp.app_support.provenance import SIMULATED_NOTE, show_provenance, simulated_note
from geoapp.data.dataset import YieldDataset
from geoapp.errors import GeoappError
from geoapp.paths import REPO_ROOT

__all__ = ["PageContext", "setup_page", "page_header", "error_box", "remember", "simulated_note", "SIMULATED_NOTE"]


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


def _forget_foreign_choices(ds: YieldDataset) -> None:
    """Drop the selected county and checkpoint when they do not belong to ``ds``."""
    county = st.session_state.get("sel_county")
    if county and county not in set(ds.counties["geoid"]):
        for key in ("sel_county", "w_county"):
            st.session_state.pop(key, None)
    checkpoint = st.session_state.get("sel_checkpoint")
    if checkpoint and not trained_on(checkpoint, ds):
        for key in ("sel_checkpoint", "w_checkpoint"):
            st.session_state.pop(key, None)


def setup_page(title: str, dataset: bool = True) -> PageContext | None:
    """Set page config, draw the shared sidebar and return the chosen dataset and year.

    The sidebar offers every dataset folder under the data directory (the embedded demo first),
    shows the chosen one's provenance (the SIMULATED badge, or its source files) and its years.
    With ``dataset=False`` (pages that use no crop-yield dataset) it draws none of that and returns
    None. Returns None (after showing an error box) when the chosen dataset cannot be opened.
    """
    _run_through_app_py()
    # A local favicon: material-icon and emoji favicons are fetched from a font CDN.
    st.set_page_config(page_title=f"{title} · geoapp", page_icon=str(REPO_ROOT / "assets" / "icon.png"), layout="wide")
    ensure_assets()
    if not dataset:
        st.sidebar.caption("This page uses the global imagery and galleries, not the crop-yield dataset.")
        return None
    with error_box():
        paths = available_datasets()
        labels = {p: dataset_label(p) for p in paths}
        path = _persisted_select("Dataset", "dataset", paths, format_func=lambda p: labels.get(p, p))
        ds = cached_dataset(path)
        show_provenance(ds)
        _forget_foreign_choices(ds)
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
