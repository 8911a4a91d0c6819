"""The Yield map's layers in headless chromium: the true | predicted swipe, classes with their legend, an
input band under the counties with the anchor tile outlined; clicks still select counties on either side
of the divider; nothing is fetched from another host."""

from __future__ import annotations

import pytest

from tests.browser.conftest import screenshot
from tests.browser.test_browser import (
    FOLIUM_FRAME,
    PAGES,
    _assert_no_errors,
    _open,
    _selectbox_value,
    _wait_idle,
)

pytestmark = pytest.mark.browser

_STATE = """() => {
  const c = window.geoappCounties, m = window.map;
  if (!c || !m || !c.loaded || !c.styled) return null;
  const sbs = document.querySelector('.leaflet-sbs');
  const right = c.right ? c.right.getContainer() : null;
  let dashed = 0, image = null;
  m.eachLayer(l => {
    if (l.options && l.options.dashArray === '5 4') dashed += 1;
    if (l._image && l._image.src) image = {src: l._image.src.slice(0, 22), pane: l.options.pane};
  });
  return {
    split: !!c.right, swipe: !!(sbs && sbs.offsetParent !== null), rightShown: !!(right && right.style.display !== 'none'),
    leftClip: c.layer.getContainer().style.clip, rightClip: right ? right.style.clip : '',
    label: c.label, labelRight: c.labelRight, selected: c.selected, dashed: dashed, image: image,
    sides: Array.from(document.querySelectorAll('.geoapp-side-label')).map(e => e.textContent),
  };
}"""
_POINTS = """(fractions) => {
  // the labelled county whose bounds' centre lies nearest to each point (fraction of the width, 45% down)
  const m = window.map, c = window.geoappCounties, box = m.getContainer().getBoundingClientRect();
  const size = m.getSize();
  return fractions.map(fx => {
    let best = null, dist = Infinity;
    c.layer.eachLayer(l => {
      const p = l.feature.properties, q = m.latLngToContainerPoint(l.getBounds().getCenter());
      const d = Math.hypot(q.x - size.x * fx, q.y - size.y * 0.45);
      if (p.display !== 'no data' && d < dist) { dist = d; best = [box.left + q.x, box.top + q.y, p.geoid]; }
    });
    return best;
  });
}"""


def _frame(page):
    frame = page.locator(FOLIUM_FRAME).element_handle(timeout=30_000).content_frame()
    frame.wait_for_function(_STATE, timeout=30_000)
    return frame


def _choose(page, label: str, option: str) -> None:
    page.locator("[data-testid=stSelectbox]").filter(has_text=label).click()
    page.get_by_role("option", name=option).first.click()
    _wait_idle(page, quiet_ms=1000)


def _external(requests: list[str], app_url: str) -> list[str]:
    return [u for u in requests if not u.startswith((app_url, "data:", "blob:", "about:"))]


def test_swipe_classes_and_input_band_render_offline_and_clicks_still_select(page, app_url):
    requests: list[str] = []
    page.on("request", lambda r: requests.append(r.url))
    _open(page, app_url + PAGES["yield_map"])
    _assert_no_errors(page)
    assert _frame(page).evaluate(_STATE)["split"] is False  # one county layer by default

    # the swipe: true on the left, predicted on the right, both clipped at the divider
    page.get_by_text("Side by side: true | predicted").click()
    page.wait_for_function(
        "() => Array.from(document.querySelectorAll('iframe'))"
        ".some(f => f.contentDocument && f.contentDocument.querySelector('.leaflet-sbs'))",
        timeout=60_000,
    )
    _wait_idle(page)
    frame = _frame(page)
    state = frame.evaluate(_STATE)
    assert state["split"] and state["swipe"] and state["rightShown"], state
    assert state["leftClip"].startswith("rect(") and state["rightClip"].startswith("rect("), state
    assert state["label"] == "Yield (bu/acre)" and state["labelRight"] == "Predicted yield (bu/acre)", state
    assert state["sides"] == ["True", "Predicted"], state
    assert page.get_by_text("Swipe the divider").count() == 1
    screenshot(page, "yield_map_swipe")

    # a county click on each side of the divider selects it
    for point in frame.evaluate(_POINTS, [0.25, 0.75]):
        assert point is not None
        x, y, geoid = point
        box = page.locator(FOLIUM_FRAME).bounding_box()
        page.mouse.click(box["x"] + x, box["y"] + y)
        page.wait_for_function(
            "([text]) => Array.from(document.querySelectorAll('[data-testid=stSelectbox]'))"
            ".some(e => e.innerText.includes('County (or click the map)') && e.querySelector('input').value.includes(text))",
            arg=[f"({geoid})"],
            timeout=20_000,
        )
        _wait_idle(page, quiet_ms=1000)
        _assert_no_errors(page)
        assert _selectbox_value(page, "County (or click the map)").endswith(f"({geoid})")
        frame = _frame(page)
        assert frame.evaluate(_STATE)["selected"] == geoid

    # the error view fills the whole swipe map (no divider), one click away
    page.get_by_text("Error (predicted − true)").click()
    _wait_idle(page)
    frame = _frame(page)
    frame.wait_for_function("() => window.geoappCounties.label.startsWith('Predicted − true')", timeout=30_000)
    state = frame.evaluate(_STATE)
    assert not state["swipe"] and not state["rightShown"], state
    page.get_by_text("True", exact=True).first.click()
    _wait_idle(page)

    # classes: a legend with one swatch per class
    _choose(page, "Colour classes", "Quantiles")
    legend = page.locator("[data-testid=stHtml]").filter(has_text="quantiles, 5 classes")
    legend.first.wait_for(timeout=30_000)
    assert "Yield (bu/acre)" in legend.first.inner_text()

    # an input band under the counties: an image overlay in its pane, its colour bar, the anchor tile
    _choose(page, "Model input under the counties", "ppt (Monthly precipitation)")
    frame = _frame(page)
    frame.wait_for_function("() => document.querySelector('img.leaflet-image-layer')", timeout=30_000)
    frame.wait_for_function("() => window.geoappCounties.layer.options.pane === 'geoapp-counties'", timeout=30_000)
    state = frame.evaluate(_STATE)
    assert state["image"] == {"src": "data:image/png;base64,", "pane": "geoapp-inputs"}, state
    assert state["dashed"] == 1, state  # the selected county's anchor tile
    bar = page.locator("[data-testid=stHtml]").filter(has_text="Monthly precipitation (mm)")
    assert bar.count() == 1 and "simulated" in bar.inner_text()
    assert page.get_by_text("Model input under the county outlines").count() == 1
    _assert_no_errors(page)
    screenshot(page, "yield_map_input_band")

    external = _external(requests, app_url)
    assert not external, f"the page fetched from other hosts: {external[:5]}"
    assert any("/app/static/leaflet/side-by-side/leaflet-side-by-side.js" in u for u in requests)


def test_the_calibrated_location_model_shows_its_county_offsets(page, app_url):
    """The shipped semi-ha-loc 2018 (county-trend calibration): its caption, and the offsets as a diverging map."""
    _open(page, app_url + PAGES["yield_map"])
    _choose(page, "Model checkpoint", "semi-ha-loc · test 2018 (yield/semi-ha-loc-2018)")
    page.get_by_text("Predictions include a residual calibration (county-trend)").wait_for(timeout=60_000)
    page.get_by_text("County offset (calibration)").click()
    _wait_idle(page)
    frame = _frame(page)
    frame.wait_for_function("() => window.geoappCounties.label.startsWith('County offset')", timeout=30_000)
    _assert_no_errors(page)
    screenshot(page, "yield_map_calibration_offsets")
