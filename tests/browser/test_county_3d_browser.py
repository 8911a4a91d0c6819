"""The Yield map's 3-D counties in headless chromium (software WebGL): they draw, orbit, and fetch nothing outside the app.

Screenshot ``yield_map_3d.png`` (the page with the 3-D view under the county map).
"""

from __future__ import annotations

import io
import time

import numpy as np
import pytest
from PIL import Image

from tests.browser.conftest import screenshot
from tests.browser.test_browser import PAGES, _assert_no_errors, _open, _wait_idle

pytestmark = pytest.mark.browser

DECK = "[data-testid=stDeckGlJsonChart]"


def _pixels(page) -> np.ndarray:
    """(H, W, 3) uint8 RGB of the deck.gl chart as drawn on screen."""
    png = page.locator(DECK).screenshot()
    return np.asarray(Image.open(io.BytesIO(png)).convert("RGB"))


def _drawn(rgb: np.ndarray) -> dict[str, float]:
    """What the chart shows: share of pixels off the page background, distinct colours, spread, reddish and bluish shares."""
    background = rgb[0, 0].astype(int)  # a corner: the page behind the transparent canvas
    drawn = np.any(np.abs(rgb.astype(int) - background) > 12, axis=-1)
    r, g, b = (rgb[..., i].astype(int) for i in range(3))
    return {
        "drawn": float(drawn.mean()),
        "colours": len(np.unique(rgb.reshape(-1, 3), axis=0)),
        "std": float(rgb.std()),
        "red": float(((r - b > 40) & drawn).mean()),  # over-predicted counties (RdBu_r: red above 0)
        "blue": float(((b - r > 40) & drawn).mean()),  # under-predicted counties
    }


def _wait_drawn(page, timeout_s: float = 90.0) -> tuple[np.ndarray, dict[str, float]]:
    """Poll the chart until the extruded counties (a many-coloured block over a tenth of the chart) are on screen."""
    deadline = time.time() + timeout_s
    while True:
        rgb = _pixels(page)
        seen = _drawn(rgb)
        if seen["drawn"] > 0.1 and seen["colours"] > 100:
            return rgb, seen
        if time.time() > deadline:
            raise AssertionError(f"the 3-D counties were not drawn within {timeout_s:.0f} s: {seen}")
        page.wait_for_timeout(500)


def test_county_3d_view_draws_offline_and_orbits(page, app_url):
    requests: list[str] = []
    page.on("request", lambda r: requests.append(r.url))
    _open(page, app_url + PAGES["yield_map"])
    _assert_no_errors(page)
    assert page.locator(DECK).count() == 0  # off until asked

    page.get_by_text("3-D view: height = yield, colour = error", exact=True).click()
    _wait_idle(page)
    _assert_no_errors(page)
    page.locator(f"{DECK} canvas").first.wait_for(timeout=30_000)
    page.locator(DECK).scroll_into_view_if_needed()
    before, seen = _wait_drawn(page)
    assert seen["std"] > 20, seen  # not a uniform canvas
    assert seen["red"] > 0.005 and seen["blue"] > 0.005, seen  # errors of both signs on the diverging scale
    assert page.get_by_text("simulated data", exact=False).count() >= 1
    assert page.locator('iframe[title="streamlit_folium.st_folium"]').count() == 1  # the county map stays

    # drag across the chart: the counties orbit
    box = page.locator(f"{DECK} canvas").first.bounding_box()
    cx, cy = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    page.mouse.move(cx, cy)
    page.mouse.down()
    for step in range(1, 11):
        page.mouse.move(cx + 20 * step, cy + 3 * step)
        page.wait_for_timeout(30)
    page.mouse.up()
    page.wait_for_timeout(1500)
    after = _pixels(page)
    changed = float(np.mean(np.any(before != after, axis=-1)))
    assert changed > 0.05, f"only {changed:.1%} of the chart's pixels changed after a drag"
    screenshot(page, "yield_map_3d")

    outside = [u for u in requests if not u.startswith(app_url) and not u.startswith(("data:", "blob:"))]
    assert not outside, f"the page fetched outside resources: {outside[:5]}"
