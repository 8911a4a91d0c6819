"""The 3-D similarity globe in headless chromium (software WebGL): it draws, spins, and fetches nothing outside the
app; the field's CSV downloads.

Screenshot ``similarity_globe.png`` (the page with the globe beside the flat map).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from geoapp.viz.globe import OCEAN_RGB
from tests.browser.conftest import screenshot
from tests.browser.deck import DECK, drag_changes, wait_drawn
from tests.browser.test_browser import PAGES, _assert_no_errors, _open, _wait_idle

pytestmark = pytest.mark.browser


def _drawn(rgb: np.ndarray) -> dict[str, float]:
    """What the chart shows: share of ocean-coloured pixels, distinct colours, spread of the pixel values."""
    ocean = np.all(np.abs(rgb.astype(int) - np.array(OCEAN_RGB)) <= 12, axis=-1).mean()
    colours = len(np.unique(rgb.reshape(-1, 3), axis=0))
    return {"ocean": float(ocean), "colours": colours, "std": float(rgb.std())}


def _wait_drawn(page) -> tuple[np.ndarray, dict[str, float]]:
    """Until the globe (ocean and a many-coloured field) is on screen."""
    return wait_drawn(page, _drawn, lambda seen: seen["ocean"] > 0.05 and seen["colours"] > 200, "the globe", 60.0)


def test_globe_draws_offline_and_spins(page, app_url, tmp_path):
    requests: list[str] = []
    page.on("request", lambda r: requests.append(r.url))
    _open(page, app_url + PAGES["location_similarity"])
    _assert_no_errors(page)
    assert page.locator(DECK).count() == 0  # off until asked

    page.get_by_text("3-D globe", exact=True).click()
    _wait_idle(page)
    _assert_no_errors(page)
    page.locator(f"{DECK} canvas").first.wait_for(timeout=30_000)
    before, seen = _wait_drawn(page)
    assert seen["std"] > 20, seen  # not a uniform canvas
    # the flat map stays beside the globe
    assert page.locator('iframe[title="streamlit_folium.st_folium"]').count() == 1

    # drag across the globe: it turns
    changed = drag_changes(page, before, 16, 4)
    assert changed > 0.05, f"only {changed:.1%} of the chart's pixels changed after a drag"
    screenshot(page, "similarity_globe")

    # the field's CSV download, built by the server on click
    with page.expect_download(timeout=60_000) as download:
        page.get_by_role("button", name="Similarity field (CSV: lat, lon, similarity)").click()
    assert download.value.suggested_filename == "similarity_ours_land_ref_22.32N_114.17E.csv"
    download.value.save_as(tmp_path / "field.csv")
    table = pd.read_csv(tmp_path / "field.csv")
    assert list(table.columns) == ["lat", "lon", "similarity"] and len(table) == 100_000

    outside = [u for u in requests if not u.startswith(app_url) and not u.startswith(("data:", "blob:"))]
    assert not outside, f"the page fetched outside resources: {outside[:5]}"
