"""Open every page in headless chromium: no error box, the map renders offline, a county click works."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import TimeoutError as PlaywrightTimeout

from geoapp.paths import REPO_ROOT
from tests.browser.conftest import screenshot, serve_app

pytestmark = pytest.mark.browser

PAGES = {
    "home": "/",
    "yield_map": "/yield_map",
    "attention": "/attention",
    "feature_ablation": "/feature_ablation",
    "location_similarity": "/location_similarity",
    "geolocalization": "/geolocalization",
    "encoder_probes": "/encoder_probes",
    "experiments": "/experiments",
}
FOLIUM_FRAME = 'iframe[title="streamlit_folium.st_folium"]'


def _open(page, url: str) -> None:
    page.goto(url, wait_until="domcontentloaded")
    page.wait_for_selector("[data-testid=stApp]", timeout=60_000)
    _wait_idle(page)


def _wait_idle(page, timeout_ms: int = 60_000, quiet_ms: int = 1500) -> None:
    """Wait until Streamlit has finished running: no 'running' status widget for ``quiet_ms``."""
    waited, quiet = 0, 0
    while quiet < quiet_ms:
        if page.locator("[data-testid=stStatusWidget]").count():
            quiet = 0
        else:
            quiet += 250
        page.wait_for_timeout(250)
        waited += 250
        if waited > timeout_ms:
            raise TimeoutError(f"the app was still running after {timeout_ms} ms")


def _assert_no_errors(page) -> None:
    assert page.locator("[data-testid=stException]").count() == 0, page.locator("[data-testid=stException]").first.inner_text()
    errors = page.locator("[data-testid=stAlertContentError]")
    assert errors.count() == 0, errors.first.inner_text()


LOCATION_PAGES = ("location_similarity", "geolocalization", "encoder_probes")
"""Pages that use no crop-yield dataset: their sidebar has no dataset selector or SIMULATED badge."""


@pytest.mark.parametrize("name", list(PAGES))
def test_page_opens_without_error(page, app_url, name):
    _open(page, app_url + PAGES[name])
    _assert_no_errors(page)
    sidebar = page.locator("[data-testid=stSidebar]")
    if name in LOCATION_PAGES:
        assert "SIMULATED" not in sidebar.inner_text().upper()
        assert sidebar.locator("[data-testid=stSelectbox]").filter(has_text="Dataset").count() == 0
    else:
        assert "SIMULATED" in sidebar.inner_text().upper()
    screenshot(page, name)


def test_a_deep_link_on_a_fresh_server_gets_the_app_navigation(page):
    """The first visit of a new server opens a page's URL directly: the sidebar lists the app's pages."""
    with serve_app("streamlit-deeplink.log") as url:
        _open(page, url + PAGES["attention"])
        _assert_no_errors(page)
        nav = page.locator("[data-testid=stSidebarNav]").inner_text()
        assert "Yield map" in nav and "Feature ablation" in nav, nav  # the titles of app.py's st.Page list
        assert "yield map" not in nav and "app" not in nav.split(), nav  # not names made from pages/*.py
        assert page.get_by_role("heading", name="Attention").count() >= 1


def test_map_renders_offline_and_county_click_shows_details(page, app_url):
    requests = []
    page.on("request", lambda r: requests.append(r.url))
    _open(page, app_url + PAGES["yield_map"])
    frame = page.frame_locator(FOLIUM_FRAME)
    frame.locator(".leaflet-container").wait_for(timeout=30_000)
    frame.locator("canvas").first.wait_for(timeout=30_000)  # counties are drawn on a canvas renderer
    external = [u for u in requests if not u.startswith(app_url) and not u.startswith("data:") and not u.startswith("blob:")]
    assert not external, f"the page fetched outside resources: {external[:5]}"
    assert not [u for u in requests if "leafletmarker" in u], "Leaflet guessed its marker images' folder wrong"

    # Click the middle of the map: a county in the Corn Belt.
    box = page.locator(FOLIUM_FRAME).bounding_box()
    page.mouse.click(box["x"] + box["width"] * 0.5, box["y"] + box["height"] * 0.5)
    page.wait_for_selector("[data-testid=stMetric]", timeout=30_000)
    _wait_idle(page)
    _assert_no_errors(page)
    assert page.locator("[data-testid=stPlotlyChart]").count() >= 2
    metric = page.locator("[data-testid=stMetric]").first.inner_text()
    assert "bu/acre" in metric or "withheld" in metric
    screenshot(page, "yield_map_county")


def test_probe_map_draws_points_and_coasts_offline(page, app_url):
    """The Encoder probes map is a plain plotly scatter: points and coastlines drawn, nothing fetched elsewhere."""
    requests, failed = [], []
    page.on("request", lambda r: requests.append(r.url))
    page.on("response", lambda r: failed.append(f"{r.status} {r.url}") if r.status >= 400 and "/app/static/" in r.url else None)
    _open(page, app_url + PAGES["encoder_probes"])
    _assert_no_errors(page)
    chart = page.locator("[data-testid=stPlotlyChart]").first
    chart.locator(".scatterlayer .trace").nth(2).locator("path.point").nth(999).wait_for(timeout=30_000)
    traces = chart.locator(".scatterlayer .trace")
    assert traces.count() == 3  # borders, coastlines, points
    assert traces.nth(1).locator("path.js-line").count() > 100, "no coastlines drawn"  # one path per coastline
    assert "topojson" not in chart.inner_text().lower()
    box = traces.nth(2).locator("path.point").nth(500).bounding_box()
    page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    hover = chart.locator(".hovertext").first
    hover.wait_for(timeout=10_000)
    text = hover.text_content().strip()  # an SVG group: no inner_text
    assert re.fullmatch(r"[-\u2212]?\d+\.\d\d, [-\u2212]?\d+\.\d\d: [-\u2212]?[\d,]+", text), text  # "lat, lon: value"
    external = [u for u in requests if not u.startswith(app_url) and not u.startswith("data:") and not u.startswith("blob:")]
    assert not external, f"the page fetched outside resources: {external[:5]}"
    assert not failed, failed[:5]
    screenshot(page, "encoder_probes_map")


# Counties spread over the Corn Belt with compact shapes (the centre of their bounds lies inside).
CLICK_CANDIDATES = [
    "19153", "17019", "19013", "17113", "19169", "18057", "19103", "17167", "31109", "39049", "27037", "19113",
]  # fmt: skip
_COUNTY_POINTS = """(geoids) => {
  const m = window.map; if (!m) return null;
  const box = m.getContainer().getBoundingClientRect(), out = {};
  m.eachLayer(l => {
    const p = l.feature && l.feature.properties;
    if (p && p.geoid && geoids.includes(p.geoid) && p.display !== 'no data') {
      const c = m.latLngToContainerPoint(l.getBounds().getCenter());
      out[p.geoid] = [box.left + c.x, box.top + c.y, p.name + ', ' + p.state];
    }
  });
  return out;
}"""
_OUTLINED = """() => {
  const m = window.map, sel = []; if (!m) return null;
  m.eachLayer(l => { const p = l.feature && l.feature.properties;
    if (p && p.geoid && l.options && l.options.weight === 2.5) sel.push(p.geoid); });
  return sel;
}"""


def _map_frame(page):
    frame = page.locator(FOLIUM_FRAME).element_handle(timeout=30_000).content_frame()
    frame.wait_for_function("() => window.map && Object.keys(window.map._layers).length > 100", timeout=30_000)
    return frame


def _selectbox_value(page, label: str) -> str:
    """What a selectbox shows (its combobox input's value)."""
    return page.locator("[data-testid=stSelectbox]").filter(has_text=label).locator("input").input_value()


def test_five_consecutive_county_clicks_all_take_effect_and_carry_to_attention(page, app_url):
    _open(page, app_url + PAGES["yield_map"])
    frame = _map_frame(page)
    points = frame.evaluate(_COUNTY_POINTS, CLICK_CANDIDATES)
    counties = [g for g in CLICK_CANDIDATES if g in points][:5]
    assert len(counties) == 5, points
    for geoid in counties:
        # Where the county is now: the map may have moved or resized since the last click's rerun.
        x, y, label = _map_frame(page).evaluate(_COUNTY_POINTS, [geoid])[geoid]
        box = page.locator(FOLIUM_FRAME).bounding_box()
        assert 0 <= box["y"] + y <= page.viewport_size["height"], f"{label} ({geoid}) lies outside the window"
        page.mouse.click(box["x"] + x, box["y"] + y)
        try:
            page.wait_for_function(
                "([text]) => Array.from(document.querySelectorAll('[data-testid=stSelectbox]'))"
                ".some(e => e.innerText.includes('County (or click the map)') && e.querySelector('input').value.includes(text))",
                arg=[f"({geoid})"],
                timeout=60_000,
            )
        except PlaywrightTimeout:
            screenshot(page, "yield_map_click_lost")
            shown = _selectbox_value(page, "County (or click the map)")
            outlined = _map_frame(page).evaluate(_OUTLINED)
            pytest.fail(f"a click on {label} ({geoid}) did not select it in 60 s: selectbox {shown!r}, outlined {outlined}")
        _wait_idle(page, quiet_ms=1000)
        _assert_no_errors(page)
        assert _selectbox_value(page, "County (or click the map)") == f"{label} ({geoid})"
        assert _map_frame(page).evaluate(_OUTLINED) == [geoid], f"the map does not outline {label} ({geoid}) after its click"
        assert page.get_by_text(f"{label}, ").count() >= 1  # the county's details heading
    screenshot(page, "yield_map_county")
    log = (REPO_ROOT / "test-artifacts" / "streamlit.log").read_text()
    assert "created with a default value but also had its value set" not in log

    # the selection carries to the Attention page (same session: through the sidebar's navigation)
    page.locator("[data-testid=stSidebarNav]").get_by_text("Attention", exact=True).click()
    page.wait_for_selector("[data-testid=stPlotlyChart]", timeout=90_000)
    _wait_idle(page)
    _assert_no_errors(page)
    assert _selectbox_value(page, "Counties") == f"{points[counties[-1]][2]} ({counties[-1]})"


def test_yield_map_compares_the_shipped_models(page, app_url):
    _open(page, app_url + PAGES["yield_map"])
    page.get_by_text("Compare every model tested on").click()
    page.wait_for_selector("[data-testid=stDataFrame]", timeout=60_000)
    _wait_idle(page)
    _assert_no_errors(page)
    caption = page.get_by_text("Each row is one training run with one seed")
    assert caption.count() == 1 and "simulated data" in caption.inner_text()
    screenshot(page, "yield_map_compare")


def test_yield_map_error_budget_of_the_shipped_model(page, app_url):
    _open(page, app_url + PAGES["yield_map"])
    page.get_by_text("Error budget: what the model misses").click()
    page.get_by_text("1.3 x floor").first.wait_for(timeout=60_000)
    _wait_idle(page)
    _assert_no_errors(page)
    assert page.get_by_text("water stress").count() >= 1  # a bar label of the chart
    caption = page.get_by_text("labelled counties (bias")
    assert caption.count() == 1 and "SIMULATED data" in caption.inner_text()
    caption.scroll_into_view_if_needed()  # the panel sits below the map
    _wait_idle(page)
    screenshot(page, "yield_map_error_budget")


def _overlay_srcs(page) -> list[str]:
    frame = page.frame_locator(FOLIUM_FRAME)
    imgs = frame.locator("img.leaflet-image-layer")
    imgs.first.wait_for(timeout=30_000)
    return [imgs.nth(i).get_attribute("src")[:200] + str(len(imgs.nth(i).get_attribute("src"))) for i in range(imgs.count())]


def test_similarity_click_changes_the_heatmap(page, app_url):
    _open(page, app_url + PAGES["location_similarity"])
    _assert_no_errors(page)
    before = _overlay_srcs(page)
    assert len(before) == 2  # Blue Marble basemap + similarity field
    box = page.locator(FOLIUM_FRAME).bounding_box()
    page.mouse.click(box["x"] + box["width"] * 0.30, box["y"] + box["height"] * 0.35)  # somewhere in the Americas
    _wait_idle(page)
    page.wait_for_function(
        "() => Array.from(document.querySelectorAll('[data-testid=stMarkdownContainer]'))"
        ".some(e => e.innerText.includes('Reference:') && !e.innerText.includes('22.32, 114.17'))",
        timeout=30_000,
    )
    _wait_idle(page)
    _assert_no_errors(page)
    after = _overlay_srcs(page)
    assert after[1] != before[1], "the similarity overlay did not change after the click"
    screenshot(page, "location_similarity")


def test_geolocalization_shows_predictions_and_refuses_a_bad_upload(page, app_url, tmp_path):
    _open(page, app_url + PAGES["geolocalization"])
    _assert_no_errors(page)
    assert "km" in page.locator("[data-testid=stMetric]").first.inner_text()
    screenshot(page, "geolocalization")
    page.get_by_text("Upload an image").click()
    _wait_idle(page)
    bad = tmp_path / "not_an_image.png"
    bad.write_bytes(b"this is not a PNG file at all")
    page.locator("[data-testid=stFileUploaderDropzoneInput]").set_input_files(str(bad))
    _wait_idle(page)
    errors = page.locator("[data-testid=stAlertContentError]")
    errors.first.wait_for(timeout=30_000)
    assert "image" in errors.first.inner_text().lower()
    assert page.locator("[data-testid=stException]").count() == 0  # an error box, not a traceback


def test_a_map_renders_when_the_preload_imported_its_component_first(page):
    """Home first starts the preload, which imports streamlit-folium outside a script run; the map must still load."""
    import time

    from geoapp.app_support.preload import PRELOAD_DONE

    with serve_app("streamlit-preload.log") as url:
        _open(page, url + PAGES["home"])
        log = REPO_ROOT / "test-artifacts" / "streamlit-preload.log"
        deadline = time.monotonic() + 120
        while PRELOAD_DONE not in log.read_text() and time.monotonic() < deadline:
            time.sleep(0.5)
        assert PRELOAD_DONE in log.read_text(), "the preload did not finish"
        _open(page, url + PAGES["yield_map"])
        page.frame_locator(FOLIUM_FRAME).locator(".leaflet-container").wait_for(timeout=30_000)
        _assert_no_errors(page)
