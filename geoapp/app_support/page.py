"""Page furniture: config, the shared sidebar (dataset, its provenance, year) and the error box.

Every page draws its content inside :func:`error_box`: a geoapp error or a file error shows as an
error box that says what to do, anything unexpected as "internal error" with the details folded
away, and the page goes on with what follows the box.

Choices made in the sidebar are kept in ``st.session_state`` under ``sel_*`` keys, so they carry
across pages; widget keys (``w_*``) are re-seeded from them on every page. A choice that does not
belong to the chosen dataset (a county it lacks, a checkpoint trained on other data, a year it does
not cover) is dropped when the dataset changes.
"""

from __future__ import annotations

import contextlib
import traceback
from collections.abc import Iterator
from dataclasses import dataclass

import streamlit as st

from geoapp.app_support.broken import show_broken
from geoapp.app_support.checkpoints import trained_on
from geoapp.app_support.loaders import available_datasets, ensure_assets, open_datasets
from geoapp.app_support.provenance import SIMULATED_NOTE, show_provenance, simulated_note
from geoapp.data.dataset import YieldDataset
from geoapp.errors import GeoappError
from geoapp.paths import REPO_ROOT

__all__ = [
    "PageContext",
    "setup_page",
    "page_header",
    "error_box",
    "show_error",
    "error_text",
    "remember",
    "simulated_note",
    "SIMULATED_NOTE",
]


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

    The sidebar offers every dataset folder under the data directory that can be opened (the
    embedded demo first), lists those that cannot with their reason, and shows the chosen one's
    provenance (the SIMULATED badge, or its source files) and its years. With ``dataset=False``
    (pages that use no crop-yield dataset) it draws none of that and returns None. Returns None
    (after showing an error box) when no dataset can be opened.
    """
    _run_through_app_py()
    # A local favicon: material-icon and emoji favicons are fetched from a font CDN.
    st.set_page_config(page_title=f"{title} · geoapp", page_icon=str(REPO_ROOT / "assets" / "icon.png"), layout="wide")
    with error_box():  # a static folder that cannot be written leaves maps without Leaflet, not the page down
        ensure_assets()
    if not dataset:
        st.sidebar.caption("This page uses the global imagery and galleries, not the crop-yield dataset.")
        return None
    with error_box():
        opened, broken = open_datasets(available_datasets())
        if not opened:
            detail = "; ".join(f"{b.path}: {b.reason}" for b in broken)
            st.error(
                f"No dataset can be opened ({detail}). Fix or rebuild the folder (`python -m geoapp data build`), "
                "or point GEOAPP_DATA_DIR at a folder of datasets."
            )
            return None
        labels = {p: ds.title for p, ds in opened.items()}
        path = _persisted_select("Dataset", "dataset", list(labels), format_func=lambda p: labels.get(p, p))
        show_broken(broken, what="dataset", where=st.sidebar, hint="Fix or rebuild these folders; the others stay usable.")
        ds = opened[path]
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


def error_text(exc: BaseException) -> str:
    """What an error box says about ``exc``: a geoapp error's message, or a file error with what to check."""
    if isinstance(exc, GeoappError):
        return f"{type(exc).__name__}: {exc}"
    if isinstance(exc, OSError):
        where = f" ({exc.filename!s})" if exc.filename else ""
        what = exc.strerror or str(exc) or type(exc).__name__
        return (
            f"{type(exc).__name__}: {what}{where}. Check that the file or folder exists and that geoapp may read and "
            "write it (GEOAPP_DATA_DIR, GEOAPP_CHECKPOINT_DIR and GEOAPP_JOBS_DIR choose the folders)."
        )
    return f"Internal error ({type(exc).__name__}: {exc}). This is a bug in geoapp; the details below help to report it."


def show_error(exc: BaseException) -> None:
    """One error box for ``exc``: what happened and what to do; an unexpected error's traceback in an expander."""
    st.error(error_text(exc))
    if not isinstance(exc, GeoappError | OSError):
        with st.expander("Internal error: details"):
            st.code("".join(traceback.format_exception(exc)), language=None)


@contextlib.contextmanager
def error_box() -> Iterator[None]:
    """Show an error as an error box instead of a traceback; the page goes on after the box.

    A geoapp error (:class:`GeoappError`) or a file error (``OSError``) shows its message, which says
    what to do; any other exception shows as an internal error with its details in an expander.
    Streamlit's own control flow (``st.stop``, ``st.rerun``) passes through.
    """
    try:
        yield
    except Exception as exc:  # noqa: BLE001 - st.stop / st.rerun derive from BaseException and pass through
        show_error(exc)
