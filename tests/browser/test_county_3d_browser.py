"""The Yield map's 3-D counties in headless chromium (software WebGL): they draw, orbit, and fetch nothing outside the app.

Screenshot ``yield_map_3d.png`` (the page with the 3-D view under the county map).
"""

from __future__ import annotations

import numpy as np
import pytest

from tests.browser.conftest import screenshot
from tests.browser.deck import DECK, drag_changes, wait_drawn
from tests.browser.test_browser import PAGES, _assert_no_errors, _open, _wait_idle

pytestmark = pytest.mark.browser


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


def _wait_drawn(page) -> tuple[np.ndarray, dict[str, float]]:
    """Until the extruded counties (a many-coloured block over a tenth of the chart) are on screen."""
    return wait_drawn(page, _drawn, lambda seen: seen["drawn"] > 0.1 and seen["colours"] > 100, "the 3-D counties", 90.0)


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
    changed = drag_changes(page, before, 20, 3)
    assert changed > 0.05, f"only {changed:.1%} of the chart's pixels changed after a drag"
    screenshot(page, "yield_map_3d")

    outside = [u for u in requests if not u.startswith(app_url) and not u.startswith(("data:", "blob:"))]
    assert not outside, f"the page fetched outside resources: {outside[:5]}"
