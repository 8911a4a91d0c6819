"""The fixed script of ``bench app``: one journey per page, each a list of timed steps and what they wait for.

A :class:`Step` is an action (a navigation, a click, a choice) and a ``ready`` check that holds once
the page shows the step's result; :mod:`geoapp.bench.app` runs the journeys in headless chromium and
times them. Checks read what a user sees: a heading, a chart, a caption naming the checkpoint drawn,
the Leaflet map inside streamlit-folium's frame (and, on county maps, the styling it has drawn).

Playwright is imported by the driver only; a page here is typed loosely so this module imports
without it.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

__all__ = [
    "PAGE_BUDGET_S",
    "INTERACTION_BUDGET_S",
    "FOLIUM",
    "SCRIPT",
    "Step",
    "StepFailed",
    "Journey",
]

PAGE_BUDGET_S = 3.0
"""Budget of a page's first paint (cold or warm visit), seconds."""
INTERACTION_BUDGET_S = 1.0
"""Budget of an interaction once a page is open, seconds."""

FOLIUM = 'iframe[title="streamlit_folium.st_folium"]'
"""streamlit-folium's frame (the first on a page is its map)."""

Page = object  # a playwright.sync_api.Page


class StepFailed(Exception):
    """A step did not reach its expected state; the message is the reason shown in the table."""


@dataclass(frozen=True)
class Step:
    """One timed step: ``act`` (a navigation or an interaction), then wait until ``ready`` holds.

    ``ready(page, memo)`` must not wait; ``memo`` is a dict the journey's steps share (``act`` may
    store what the page showed before, so that ``ready`` can check that it changed). A navigation
    has the page budget and needs no rerun; an interaction has the interaction budget and must
    start a rerun (a click the app ignores fails the step).
    """

    name: str
    act: Callable[[Page, str, dict], None]
    ready: Callable[[Page, dict], bool]
    navigation: bool = False

    @property
    def budget_s(self) -> float:
        """The step's budget in seconds."""
        return PAGE_BUDGET_S if self.navigation else INTERACTION_BUDGET_S


@dataclass(frozen=True)
class Journey:
    """A page's steps, run in order on one fresh server in one browser session."""

    page: str
    path: str
    steps: tuple[Step, ...]


# ---- what the page shows ----------------------------------------------------------------------
def _visible(page, selector: str, text: str | None = None) -> bool:
    loc = page.locator(selector)
    if text is not None:
        loc = loc.filter(has_text=text)
    try:
        return loc.first.is_visible()
    except Exception:  # noqa: BLE001 - a detached or navigating page reads as "not yet"
        return False


def _in_map(page, selector: str) -> bool:
    """Whether ``selector`` is visible inside the page's (first) folium map."""
    try:
        return page.frame_locator(FOLIUM).first.locator(selector).first.is_visible()
    except Exception:  # noqa: BLE001
        return False


_COUNTY_STATE_JS = "() => { const c = window.geoappCounties; return c && c.loaded ? [c.label, c.selected || null] : null; }"


def _county_styling(page) -> tuple[str, str | None] | None:
    """(value label, selected geoid) the county map has drawn, or None before its counties are loaded and styled."""
    try:
        frame = page.locator(FOLIUM).first.element_handle(timeout=1_000).content_frame()
        state = frame.evaluate(_COUNTY_STATE_JS) if frame is not None else None
    except Exception:  # noqa: BLE001
        return None
    return (state[0], state[1]) if state else None


def _county_map(label: str | None = None) -> Callable[[Page], bool]:
    """The county map is drawn (its canvas) and styled, with ``label`` as its value's label when given."""

    def check(page) -> bool:
        styling = _county_styling(page)
        return _in_map(page, "canvas") and styling is not None and (label is None or styling[0] == label)

    return check


def _text(page, selector: str, containing: str) -> str:
    loc = page.locator(selector).filter(has_text=containing)
    try:
        return loc.first.inner_text(timeout=2_000) if loc.count() else ""
    except Exception:  # noqa: BLE001
        return ""


def _caption(text: str) -> Callable[[Page], bool]:
    return lambda p: _visible(p, "[data-testid=stCaptionContainer]", text)


# ---- what a step does --------------------------------------------------------------------------
def _visit(path: str) -> Callable[[Page, str, dict], None]:
    def act(page, url: str, memo: dict) -> None:  # noqa: ARG001
        page.goto(url + path, wait_until="commit")

    return act


def _choose(label: str, option: str, sidebar: bool = False) -> Callable[[Page, str, dict], None]:
    """Pick ``option`` (a regular expression on the option's text) in the selectbox labelled ``label``."""

    def act(page, url: str, memo: dict) -> None:  # noqa: ARG001
        where = "[data-testid=stSidebar] " if sidebar else ""
        page.locator(f"{where}[data-testid=stSelectbox]").filter(has_text=label).first.click(timeout=10_000)
        page.get_by_role("option", name=re.compile(option)).first.click(timeout=10_000)

    return act


def _radio(option: str) -> Callable[[Page, str, dict], None]:
    def act(page, url: str, memo: dict) -> None:  # noqa: ARG001
        page.locator("[data-testid=stRadio] label").filter(has_text=option).first.click(timeout=10_000)

    return act


def _click_map(fx: float, fy: float) -> Callable[[Page, str, dict], None]:
    """Click the folium map at a fraction of its box (as tests/browser does)."""

    def act(page, url: str, memo: dict) -> None:  # noqa: ARG001
        box = page.locator(FOLIUM).first.bounding_box(timeout=10_000)
        if box is None:
            raise StepFailed("the map is not on the page")
        page.mouse.click(box["x"] + box["width"] * fx, box["y"] + box["height"] * fy)

    return act


def _held_out(index: int) -> Callable[[Page, str, dict], None]:
    def act(page, url: str, memo: dict) -> None:  # noqa: ARG001
        box = page.locator("[data-testid=stNumberInput]").filter(has_text="Held-out location").locator("input").first
        box.fill(str(index), timeout=10_000)
        box.press("Enter")

    return act


def _remember(key: str, read: Callable[[Page], object], then: Callable[[Page, str, dict], None]):
    """Store what ``read`` shows before ``then`` acts, for a ``ready`` that waits for a change."""

    def act(page, url: str, memo: dict) -> None:
        memo[key] = read(page)
        then(page, url, memo)

    return act


def _all(*checks: Callable[[Page], bool]) -> Callable[[Page, dict], bool]:
    return lambda page, memo: all(check(page) for check in checks)  # noqa: ARG005


def _visits(page: str, path: str, ready: Callable[[Page, dict], bool], cold: str = "first visit (cold)") -> tuple[Step, ...]:
    return (
        Step(f"{page}: {cold}", _visit(path), ready, navigation=True),
        Step(f"{page}: second visit (warm)", _visit(path), ready, navigation=True),
    )


# ---- the journeys ------------------------------------------------------------------------------
_SCATTER = lambda p: _visible(p, "[data-testid=stPlotlyChart]")  # noqa: E731
_LEAFLET_OVERLAY = lambda p: _in_map(p, "img.leaflet-image-layer")  # noqa: E731
_REFERENCE = lambda p: _text(p, "[data-testid=stMarkdownContainer]", "Reference:")  # noqa: E731
_GEO_METRIC = lambda p: _text(p, "[data-testid=stMetric]", "Error of the top prediction")  # noqa: E731
_YIELD_LABELS = {"True": "Yield (bu/acre)", "Predicted": "Predicted yield (bu/acre)", "Error": "Predicted − true (bu/acre)"}
"""The county map's value label per view (geoapp.app_support.yield_views.map_layer)."""


def _yield_view(view: str) -> Step:
    return Step(f"Yield map: view {view}", _radio(view), _all(_county_map(_YIELD_LABELS[view]), _SCATTER))


def _county_clicked(page, memo: dict) -> bool:
    styling = _county_styling(page)
    return (
        styling is not None
        and styling[1] is not None
        and styling[1] != memo.get("selected")
        and _visible(page, "[data-testid=stMetric]", "bu/acre")
        and _in_map(page, "canvas")
    )


def _script() -> tuple[Journey, ...]:
    home_ready = _all(lambda p: _visible(p, "h1", "geoapp"), lambda p: _visible(p, "[data-testid=stPageLink]", "Training"))
    yield_ready = _all(_county_map(), _SCATTER, _caption("Checkpoint drawn:"))
    attention_ready = _all(_SCATTER, lambda p: _visible(p, "h1", "Attention"), _caption("Checkpoint drawn:"))
    ablation_ready = _all(_SCATTER, _county_map())
    similarity_ready = _all(_LEAFLET_OVERLAY, lambda p: bool(_REFERENCE(p)))
    geo_ready = _all(lambda p: bool(_GEO_METRIC(p)), lambda p: _in_map(p, ".leaflet-marker-icon, path, canvas"))
    return (
        Journey("Home", "/", _visits("Home", "/", home_ready)),
        Journey(
            "Yield map",
            "/yield_map",
            (
                *_visits("Yield map", "/yield_map", yield_ready),
                _yield_view("Predicted"),
                _yield_view("Error"),
                _yield_view("True"),
                Step(
                    "Yield map: county click",
                    _remember("selected", lambda p: (_county_styling(p) or (None, None))[1], _click_map(0.5, 0.5)),
                    _county_clicked,
                ),
                Step(
                    "Yield map: year 2017",
                    _choose("Year", "^2017$", sidebar=True),
                    _all(lambda p: _visible(p, "h1", "County yields, 2017"), _county_map(), _SCATTER),
                ),
                Step(
                    "Yield map: checkpoint s-ha 2017",
                    _choose("Model checkpoint", "^s-ha · test 2017", sidebar=True),
                    _all(_caption("Checkpoint drawn: s-ha · test 2017"), _county_map(), _SCATTER),
                ),
                Step(
                    "Yield map: compare every model",
                    lambda page, url, memo: page.get_by_text("Compare every model tested on").click(timeout=10_000),  # noqa: ARG005
                    _all(lambda p: _visible(p, "[data-testid=stDataFrame]"), _county_map(), _SCATTER),
                ),
            ),
        ),
        Journey(
            "Attention",
            "/attention",
            (
                *_visits("Attention", "/attention", attention_ready),
                Step(
                    "Attention: checkpoint s-ha 2018",
                    _choose("Model checkpoint", "^s-ha · test 2018", sidebar=True),
                    _all(_SCATTER, _caption("Checkpoint drawn: s-ha · test 2018")),
                ),
            ),
        ),
        Journey(
            "Feature ablation",
            "/feature_ablation",
            (
                *_visits("Feature ablation", "/feature_ablation", ablation_ready, cold="first visit (cold), first result"),
                Step(
                    "Feature ablation: map group PPT",
                    _choose("Map the per-county change for", "^PPT$"),
                    _all(_SCATTER, _county_map()),
                ),
            ),
        ),
        Journey(
            "Location similarity",
            "/location_similarity",
            (
                *_visits("Location similarity", "/location_similarity", similarity_ready),
                Step(
                    "Location similarity: encoder GeoCLIP (land gallery)",
                    _choose("Encoder", "^GeoCLIP"),
                    _all(_LEAFLET_OVERLAY, lambda p: "GeoCLIP" in _REFERENCE(p)),
                ),
                Step(
                    "Location similarity: gallery GeoCLIP GPS (GeoCLIP encoder)",
                    _choose("Gallery", "^GeoCLIP's"),
                    similarity_ready,
                ),
                Step(
                    "Location similarity: encoder ours (GeoCLIP gallery)",
                    _choose("Encoder", "^Ours"),
                    _all(_LEAFLET_OVERLAY, lambda p: "Ours" in _REFERENCE(p)),
                ),
                Step(
                    "Location similarity: map click",
                    _remember("ref", _REFERENCE, _click_map(0.30, 0.35)),
                    lambda p, memo: _LEAFLET_OVERLAY(p) and _REFERENCE(p) not in ("", memo.get("ref")),
                ),
            ),
        ),
        Journey(
            "Geolocalization",
            "/geolocalization",
            (
                *_visits("Geolocalization", "/geolocalization", geo_ready),
                Step(
                    "Geolocalization: held-out location 1",
                    _remember("metric", _GEO_METRIC, _held_out(1)),
                    lambda p, memo: geo_ready(p, memo) and _GEO_METRIC(p) != memo.get("metric"),
                ),
            ),
        ),
    )


SCRIPT = _script()
"""The fixed script: one journey per page, each on a fresh server."""
