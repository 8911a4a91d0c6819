"""Preload at server start: import what the pages import and warm the shared caches, in a background thread.

On a fresh server the first visitor of a page would otherwise wait for torch, geopandas and the
page's own modules to import, and for the dataset, the county polygons and the default results to
load. :func:`start_preload` does that work once per server process in a daemon thread, so that
``/_stcore/health`` answers as early as before and a visitor finds most of it done; a page that
needs something still loading waits only for the rest (Python's import lock and Streamlit's cache
locks make the two meet). Each step is independent: one that fails is reported in one line on
stderr and the others go on; the page then shows the error as it would have without a preload.

``python -m geoapp.app_support.serve`` (``make run``) starts the preload as soon as the server is
up; app.py also calls :func:`start_preload`, so ``streamlit run app.py`` preloads from the first
visit on (for the pages not yet opened).
"""

from __future__ import annotations

import ast
import importlib
import logging
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

from geoapp.paths import REPO_ROOT

__all__ = ["PRELOAD_DONE", "page_imports", "preload_steps", "run_preload", "start_preload"]

PRELOAD_DONE = "geoapp preload: done in"
"""How the line on stderr that reports a finished preload starts (``bench app`` reads it)."""
_THREAD_NAME = "geoapp-preload"
_lock = threading.Lock()
_thread: threading.Thread | None = None


def page_imports(pages: Path | None = None) -> list[str]:
    """The modules the pages import (``import x`` / ``from x import ...`` at their top level), sorted, no duplicates."""
    found: set[str] = set()
    for path in sorted((pages or REPO_ROOT / "pages").glob("*.py")):
        try:
            tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        except (OSError, SyntaxError):
            continue  # the page itself will show what is wrong with it
        for node in tree.body:
            if isinstance(node, ast.Import):
                found.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                found.add(node.module)
    return sorted(found)


def _import_pages() -> None:
    """Import each module the pages import, registering right away any custom component one declares."""
    for name in page_imports():
        before = set(sys.modules)
        importlib.import_module(name)
        register_components([sys.modules[m] for m in set(sys.modules) - before])


def _yield_pages() -> None:
    """The demo dataset, the county map's polygons, and the default checkpoint's predictions for the latest year."""
    from geoapp.app_support.checkpoints import yield_checkpoints_of
    from geoapp.app_support.loaders import (
        available_datasets,
        cached_county_source,
        cached_dataset,
        cached_state_outlines,
        ensure_assets,
    )
    from geoapp.app_support.yield_views import cached_predictions, default_checkpoint

    ensure_assets()
    cached_county_source()
    cached_state_outlines()
    ds = cached_dataset(available_datasets()[0])
    year = int(ds.years[-1])
    checkpoint = default_checkpoint(yield_checkpoints_of(ds)[0], year)
    if checkpoint is not None and len(ds.year_yields(year)):
        cached_predictions(str(checkpoint), str(ds.root), year)


def _location_pages() -> None:
    """The shipped location encoder, both galleries with their map indexes, its land-gallery embeddings, the basemap."""
    from geoapp.analysis.location import gallery_embeddings
    from geoapp.app_support.location import (
        GALLERIES,
        cached_basemap_url,
        cached_encoder,
        cached_gallery,
        cached_raster_index,
    )

    for name in GALLERIES:
        cached_raster_index(name)
    gallery_embeddings(cached_encoder("ours"), cached_gallery("land"))
    cached_basemap_url()


def register_components(modules: list | None = None) -> list[str]:
    """Register the custom components that ``modules`` (default: every imported module) declared; returns their names.

    Streamlit registers a component (``components.declare_component``, e.g. streamlit-folium's map)
    only when the declaring module is imported inside a script run; imported by this background
    thread first, the module would stay in ``sys.modules`` unregistered and the browser would get a
    404 for the component's frame on every page. Each ``CustomComponent`` found at the top level of an
    imported module is registered with the running server (registering one twice is harmless).
    """
    from streamlit.components.v1.custom_component import CustomComponent
    from streamlit.runtime import Runtime

    if not Runtime.exists():
        return []
    registry = Runtime.instance().component_registry
    known = {c.name for c in registry.get_components()}
    added = []
    for module in list(sys.modules.values()) if modules is None else modules:
        for value in list(getattr(module, "__dict__", {}).values()):
            if isinstance(value, CustomComponent) and value.name not in known:
                registry.register_component(value)
                known.add(value.name)
                added.append(value.name)
    return added


def preload_steps() -> list[tuple[str, Callable[[], None]]]:
    """The preload's steps, in the order a first visitor most likely needs them: (name, function)."""
    return [
        ("page imports", _import_pages),
        ("components", register_components),
        ("yield pages", _yield_pages),
        ("location pages", _location_pages),
    ]


class _NoContextWarning(logging.Filter):
    """Drops Streamlit's "missing ScriptRunContext" warning for the preload thread (it runs outside any session)."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not (record.threadName == _THREAD_NAME and "ScriptRunContext" in record.getMessage())


def run_preload(wait_for: Callable[[], bool] | None = None, started: float | None = None) -> dict[str, float | str]:
    """Run every step (after ``wait_for()`` holds, polled every 50 ms); returns {step: seconds, or the error}.

    Prints one line per failed step and a last line starting with :data:`PRELOAD_DONE` on stderr,
    with the seconds since ``started`` (a ``time.perf_counter()`` value; default: the preload's start).
    """
    if wait_for is not None:
        while not wait_for():
            time.sleep(0.05)
    t0 = time.perf_counter()
    report: dict[str, float | str] = {}
    for name, step in preload_steps():
        t = time.perf_counter()
        try:
            step()
            report[name] = round(time.perf_counter() - t, 2)
        except Exception as exc:  # noqa: BLE001 - a failed step must not stop the others; the page reports it
            report[name] = f"{type(exc).__name__}: {exc}"
            print(f"geoapp preload: {name} failed: {report[name]}", file=sys.stderr, flush=True)
    total = time.perf_counter() - (started if started is not None else t0)
    steps = ", ".join(f"{k} {v:.2f} s" for k, v in report.items() if isinstance(v, float))
    print(f"{PRELOAD_DONE} {total:.2f} s ({steps})", file=sys.stderr, flush=True)
    return report


def _server_running() -> bool:
    from streamlit.runtime import Runtime, RuntimeState

    if not Runtime.exists():
        return False
    return Runtime.instance().state in (RuntimeState.NO_SESSIONS_CONNECTED, RuntimeState.ONE_OR_MORE_SESSIONS_CONNECTED)


def start_preload(wait_for_server: bool = False, started: float | None = None) -> threading.Thread | None:
    """Start the preload once per server process (a daemon thread); later calls return the same thread.

    Args:
        wait_for_server: begin only once Streamlit's server is up, so its start is not slowed. Without
            it the preload starts only inside a running server (not under ``AppTest`` or bare mode:
            then it returns None).
        started: ``time.perf_counter()`` of the process start, for the reported seconds.
    """
    global _thread
    with _lock:
        if _thread is None:
            if not wait_for_server and not _server_running():
                return None
            logging.getLogger("streamlit.runtime.scriptrunner_utils.script_run_context").addFilter(_NoContextWarning())
            _thread = threading.Thread(
                target=run_preload,
                kwargs={"wait_for": _server_running if wait_for_server else None, "started": started},
                name=_THREAD_NAME,
                daemon=True,
            )
            _thread.start()
        return _thread
